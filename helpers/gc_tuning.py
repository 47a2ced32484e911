"""Keep Python's cyclic garbage collector off the request path once an app has started.

Measured on the webhook intake with perf: 15% of a worker's CPU went to `gc_collect_main` and its
traversal, because every full collection walks the whole startup heap (routes, models, the
OpenAPI schema, SQLAlchemy's compiled caches) although none of it ever becomes garbage, and its
pauses land in the tail latency. After startup we freeze what exists (the collector then ignores
it) and collect the youngest generation less often: requests allocate many short-lived objects,
almost all freed by reference counting, so a collection every 700 allocations mostly finds nothing.
"""

from __future__ import annotations

import gc

# Young-generation threshold: allocations (net of frees) between collections; Python's default
# is 700. The older generations keep their defaults.
YOUNG_THRESHOLD = 20_000


_done = False


def freeze_startup_heap() -> None:
    """Collect once, move everything alive into the permanent generation, raise the threshold.

    Only the first time in a process: a test run starts many apps, and freezing again would
    make whatever the earlier tests left alive permanent.
    """
    global _done
    if _done:
        return
    _done = True
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
