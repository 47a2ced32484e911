"""Interpreter settings for a serving process, applied once an app has started, when the
`PROCESS_TUNING` setting is on (the default; the test suite turns it off).

Garbage collection: measured on the webhook intake with perf, 15% of a worker's CPU went to
`gc_collect_main` and its traversal, because every full collection walks the whole startup heap
(routes, models, the OpenAPI schema, SQLAlchemy's compiled caches) although none of it ever
becomes garbage, and its pauses land in the tail latency. We freeze what exists after startup
(the collector then ignores it) and collect the youngest generation less often: requests
allocate many short-lived objects, almost all freed by reference counting.

Thread switching: the event loop shares the GIL with the worker threads that run database work
(a batch of webhook events is a few milliseconds of ORM code). Python lets a thread keep the GIL
for 5 ms before another that asks for it gets a turn, so every request on the loop could wait
that long behind a batch; at 1 ms the loop gets back to its sockets sooner. Measured on the
webhook intake offered 1,000 deliveries/s: p99 85 ms at 5 ms, 41 ms at 1 ms (bench/calls_bench.py).
"""

from __future__ import annotations

import gc
import sys

# Young-generation threshold: allocations (net of frees) between collections; Python's default
# is 700. The older generations keep their defaults.
YOUNG_THRESHOLD = 20_000
SWITCH_INTERVAL_SECONDS = 0.001

_done = False


def tune_serving_process() -> None:
    """Freeze the startup heap, collect young objects less often, switch threads sooner.

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
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
