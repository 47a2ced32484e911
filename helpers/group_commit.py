"""Group commit: concurrent awaits of one blocking batch function share a single call of it.

A webhook request must not answer before its event is durable, but one transaction (and one
WAL flush, and one worker-thread hand-off) per delivery caps intake far below what vendors send
in a burst. `GroupCommit.submit` queues an item and waits; one drain task at a time hands
everything queued so far to the batch function in a worker thread, then resolves every waiter
with its own result. Nothing waits for a timer: an idle server runs each item alone at once,
and a busy one batches exactly what arrived while the previous batch was running.

There is one instance per event loop (`for_current_loop`), since futures belong to their loop.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

import anyio.to_thread

Item = TypeVar("Item")
Result = TypeVar("Result")

BatchFunction = Callable[[Sequence[Item]], Sequence[Result]]


class GroupCommit(Generic[Item, Result]):
    """Run `batch(items) -> results` (same length, same order) for items submitted together.

    A result that is an exception is raised to that item's waiter alone; an exception raised by
    `batch` reaches every waiter of the batch.
    """

    def __init__(self, batch: BatchFunction, *, max_batch: int = 500) -> None:
        self.batch = batch
        self.max_batch = max_batch
        self._queued: list[tuple[Item, asyncio.Future[Result]]] = []
        self._draining = False

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queued.append((item, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queued:
                taken = self._queued[: self.max_batch]
                del self._queued[: self.max_batch]
                try:
                    results = await anyio.to_thread.run_sync(
                        self.batch, [item for item, _ in taken]
                    )
                except BaseException as exc:  # every waiter sees the failure as its own
                    for _, future in taken:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), result in zip(taken, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):  # this item alone failed
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._draining = False


_instances: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, GroupCommit]] = (
    weakref.WeakKeyDictionary()
)


def for_current_loop(key: Hashable, batch: BatchFunction, **options: int) -> GroupCommit:
    """The running loop's `GroupCommit` for `key`, created on first use."""
    per_loop = _instances.setdefault(asyncio.get_running_loop(), {})
    if key not in per_loop:
        per_loop[key] = GroupCommit(batch, **options)
    return per_loop[key]
