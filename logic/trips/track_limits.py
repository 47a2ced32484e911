"""Per-process rate limits of the public tracking page: hits per key in fixed one-minute windows.

Kept in memory so a customer's poll writes nothing to the database (two counter upserts a poll
capped the JSON twin near 250 req/s). The price: each worker counts on its own, so the limit a
client meets is `TRACK_RATE_LIMIT_PER_MINUTE` per worker (times the workers behind the balancer).
"""

from __future__ import annotations

import threading
from datetime import datetime

from cachetools import TTLCache

from helpers.errors import TooManyRequests

WINDOW_SECONDS = 60
# Counters for this many (key, window) pairs; a flood of new addresses evicts the oldest first.
MAX_COUNTERS = 100_000

_lock = threading.Lock()
_counts: TTLCache[tuple[str, int], int] = TTLCache(maxsize=MAX_COUNTERS, ttl=2 * WINDOW_SECONDS)


def hit(keys: list[str], *, limit: int, now: datetime) -> None:
    """Count one hit on each key in the current window; over `limit` on any → 429 (counted)."""
    if limit <= 0:
        return
    epoch = int(now.timestamp())
    window = epoch // WINDOW_SECONDS
    with _lock:
        counts = []
        for key in keys:
            count = _counts.get((key, window), 0) + 1
            _counts[(key, window)] = count
            counts.append(count)
    if max(counts) > limit:
        retry_after = WINDOW_SECONDS - epoch % WINDOW_SECONDS
        raise TooManyRequests("too many requests; retry later", retry_after=retry_after)


def clear() -> None:
    with _lock:
        _counts.clear()
