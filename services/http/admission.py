"""Admission control: what makes the thread-pool/connection-pool deadlock impossible.

FastAPI issue #3205: sync endpoints hold a pooled connection until their yield-dependency exits,
which happens only after response serialization, which itself needs a worker thread. If every
worker thread is held by a request waiting for a connection, and every connection by a request
waiting for a thread, nothing moves. We therefore admit at most `limit` requests at a time, with
`limit` no larger than the connection pool and strictly smaller than the worker-thread limit (set
in `configure_thread_limiter`). An admitted request then always finds a connection, and a thread
is always free to serialize. Requests beyond the limit wait in the event loop, holding neither a
thread nor a connection, and get a fast 503 if they wait longer than `queue_timeout`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio.to_thread

from config import Settings
from services.http.errors import send_error

Scope = dict[str, Any]

# Liveness answers even when every admission slot is taken.
ADMISSION_EXEMPT_PATHS = ("/health",)


def admitted_requests(settings: Settings) -> int:
    """Requests in flight per process: never more than the connection pool can serve at once."""
    pool_capacity = settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW
    if settings.MAX_CONCURRENT_REQUESTS > 0:
        return min(settings.MAX_CONCURRENT_REQUESTS, pool_capacity)
    return pool_capacity


def configure_thread_limiter(admitted: int) -> int:
    """Keep AnyIO's worker-thread limit above the number of admitted requests."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(int(limiter.total_tokens), admitted + 10)
    return int(limiter.total_tokens)


class AdmissionControlMiddleware:
    """Admit at most `limit` concurrent requests; the rest queue without holding resources."""

    def __init__(
        self,
        app: Any,
        limit: int,
        queue_timeout: float = 10.0,
        exempt_paths: tuple[str, ...] = ADMISSION_EXEMPT_PATHS,
    ) -> None:
        self.app = app
        self.limit = limit
        self.queue_timeout = queue_timeout
        self.exempt_paths = exempt_paths
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:  # created lazily, inside the server's event loop
            self._semaphore = asyncio.Semaphore(self.limit)
        if self._semaphore.locked():
            try:
                await asyncio.wait_for(self._semaphore.acquire(), timeout=self.queue_timeout)
            except TimeoutError:
                await _send_overloaded(send)
                return
        else:  # a free slot: take it without wait_for's task and timer (most requests)
            await self._semaphore.acquire()
        try:
            await self.app(scope, receive, send)
        finally:
            self._semaphore.release()


async def _send_overloaded(send: Any) -> None:
    await send_error(
        send,
        503,
        "server_busy",
        "too many requests in flight; retry shortly",
        headers=[(b"retry-after", b"1")],
    )
