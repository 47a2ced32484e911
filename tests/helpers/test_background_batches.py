"""Handed-off work: at most one batch per linger, `put` never waits, settled on demand."""

from __future__ import annotations

import threading
import time

from helpers.background_batches import Batcher


def test_an_idle_batcher_starts_at_once_and_a_busy_one_gathers_a_burst() -> None:
    batches: list[list[int]] = []
    release = threading.Event()

    def batch(items):
        batches.append(list(items))
        release.wait(5)

    batcher = Batcher("test", batch, linger=0.2)
    started = time.monotonic()
    batcher.put(0)
    while not batches:
        time.sleep(0.001)
    assert time.monotonic() - started < 0.15  # not held back by the linger
    for item in range(1, 8):  # arrive while the first batch runs
        batcher.put(item)
    release.set()
    assert batcher.settle(timeout=5)
    assert batches == [[0], [1, 2, 3, 4, 5, 6, 7]]


def test_put_does_not_wait_for_the_batch() -> None:
    release = threading.Event()
    batcher = Batcher("test", lambda items: release.wait(5), linger=0)
    started = time.monotonic()
    batcher.put(1)
    batcher.put(2)
    assert time.monotonic() - started < 0.1
    assert not batcher.settle(timeout=0.05)  # still running
    release.set()
    assert batcher.settle(timeout=5)


def test_a_failed_batch_is_logged_and_the_next_one_runs(caplog) -> None:
    done: list[int] = []

    def batch(items):
        if 0 in items:
            raise RuntimeError("boom")
        done.extend(items)

    batcher = Batcher("flaky", batch, linger=0)
    batcher.put(0)
    assert batcher.settle(timeout=5)
    batcher.put(1)
    assert batcher.settle(timeout=5)
    assert done == [1]
    assert "flaky: a batch of 1 failed" in caplog.text
