"""Group commit: concurrent submits share one batch call; results and failures reach the right
waiters."""

from __future__ import annotations

import asyncio
import threading

import pytest

from helpers.group_commit import GroupCommit, for_current_loop


def _run(coro):
    return asyncio.run(coro)


def test_submits_waiting_together_share_one_call_and_get_their_own_results():
    calls: list[list[int]] = []
    gate = threading.Event()

    def batch(items):
        calls.append(list(items))
        gate.wait(5)  # the first batch is slow: the next submits pile up meanwhile
        return [item * 10 for item in items]

    async def scenario():
        group = GroupCommit(batch)
        first = asyncio.ensure_future(group.submit(1))
        await asyncio.sleep(0.05)  # the first batch (just item 1) is now running
        rest = [asyncio.ensure_future(group.submit(n)) for n in (2, 3, 4)]
        await asyncio.sleep(0.05)
        gate.set()
        return await first, await asyncio.gather(*rest)

    first, rest = _run(scenario())
    assert first == 10 and rest == [20, 30, 40]
    assert calls == [[1], [2, 3, 4]]


def test_max_batch_splits_a_queue():
    sizes: list[int] = []

    def batch(items):
        sizes.append(len(items))
        return list(items)

    async def scenario():
        group = GroupCommit(batch, max_batch=2)
        return await asyncio.gather(*(group.submit(n) for n in range(5)))

    assert _run(scenario()) == [0, 1, 2, 3, 4]
    assert sizes == [2, 2, 1]


def test_an_exception_result_fails_only_its_waiter_and_a_raised_one_fails_all():
    def per_item(items):
        return [ValueError(f"bad {i}") if i == 2 else i for i in items]

    def whole(items):
        raise RuntimeError("database down")

    async def scenario():
        per_item_group, whole_group = GroupCommit(per_item), GroupCommit(whole)
        mixed = await asyncio.gather(
            *(per_item_group.submit(n) for n in (1, 2, 3)), return_exceptions=True
        )
        failed = await asyncio.gather(
            *(whole_group.submit(n) for n in (1, 2)), return_exceptions=True
        )
        after = await per_item_group.submit(4)  # a failure does not wedge the group
        return mixed, failed, after

    mixed, failed, after = _run(scenario())
    assert mixed[0] == 1 and mixed[2] == 3 and str(mixed[1]) == "bad 2"
    assert all(isinstance(f, RuntimeError) for f in failed)
    assert after == 4


def test_one_instance_per_loop_and_key():
    async def pick():
        a = for_current_loop("k", list)
        return a, for_current_loop("k", list), for_current_loop("other", list)

    first, same, other = _run(pick())
    assert first is same and other is not first
    again, _, _ = _run(pick())  # a new loop: futures cannot cross loops
    assert again is not first


@pytest.mark.parametrize("size", [1, 7])
def test_results_keep_submission_order(size):
    async def scenario():
        group = GroupCommit(lambda items: [f"r{i}" for i in items])
        return await asyncio.gather(*(group.submit(n) for n in range(size)))

    assert _run(scenario()) == [f"r{n}" for n in range(size)]
