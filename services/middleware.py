"""ASGI middleware: request ids for logs and errors, and admission control.

Admission control is what makes the thread-pool/connection-pool deadlock impossible (FastAPI
issue #3205): sync endpoints hold a pooled connection until their yield-dependency exits, which
happens only after response serialization, which itself needs a worker thread. If every worker
thread is held by a request waiting for a connection, and every connection by a request waiting
for a thread, nothing moves. We therefore admit at most `limit` requests at a time, with `limit`
no larger than the connection pool and strictly smaller than the worker-thread limit (set in
`configure_thread_limiter`). An admitted request then always finds a connection, and a thread
is always free to serialize. Requests beyond the limit wait in the event loop, holding neither a
thread nor a connection, and get a fast 503 if they wait longer than `queue_timeout`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from typing import Any

import anyio.to_thread

from helpers.cloud_logger import request_id_var, trace_var

log = logging.getLogger(__name__)

Scope = dict[str, Any]

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def configure_thread_limiter(admitted: int) -> int:
    """Keep AnyIO's worker-thread limit above the number of admitted requests."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(int(limiter.total_tokens), admitted + 10)
    return int(limiter.total_tokens)


class RequestContextMiddleware:
    """Give every request an id (from `X-Request-ID` or new) and echo it in the response."""

    def __init__(self, app: Any, project_id: str = "") -> None:
        self.app = app
        self.project_id = project_id

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        trace_header = headers.get(b"x-cloud-trace-context", b"").decode("latin-1")
        trace_token = trace_var.set(
            f"projects/{self.project_id}/traces/{trace_header.split('/')[0]}"
            if trace_header and self.project_id
            else None
        )

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            trace_var.reset(trace_token)


class AdmissionControlMiddleware:
    """Admit at most `limit` concurrent requests; the rest queue without holding resources."""

    def __init__(
        self,
        app: Any,
        limit: int,
        queue_timeout: float = 10.0,
        exempt_paths: tuple[str, ...] = ("/health",),
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
        try:
            await asyncio.wait_for(self._semaphore.acquire(), timeout=self.queue_timeout)
        except TimeoutError:
            await _send_overloaded(send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._semaphore.release()


async def _send_overloaded(send: Any) -> None:
    body = json.dumps(
        {"error": "server_busy", "detail": "too many requests in flight; retry shortly"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", b"1"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
