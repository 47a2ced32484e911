"""Graceful shutdown on SIGTERM: stop admitting, let in-flight requests finish, hand work back.

Cloud Run sends SIGTERM and kills the instance 10 s later. Uvicorn stops accepting connections
and waits up to `SHUTDOWN_GRACE_SECONDS` for in-flight requests (their background tasks
included). On the signal we also set the process-wide flag (`helpers.shutdown`): requests that
still arrive on an open connection get a 503 with `Connection: close`, background ingest runs
stop at their next page, and outbox drains stop between deliveries. When the server is done
waiting, the lifespan hands back whatever is left: runs still going are recorded as interrupted
and their locks released, unsent outbox claims become due again, so another instance takes over
at once instead of after a lease or a stale-run timeout.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Any

from helpers.shutdown import request_shutdown, shutting_down

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_signal_hook() -> None:
    """Chain our flag in front of the server's own SIGTERM/SIGINT handlers (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in _SIGNALS:
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            if not shutting_down():
                log.info("signal %s: shutting down; in-flight work finishes", signum)
            request_shutdown()
            if callable(previous):
                previous(signum, frame)

        signal.signal(sig, handler)


def hand_back_work() -> None:
    """After the server stopped waiting: release what this process still holds."""
    if not shutting_down():
        return  # a test client's lifespan, not a real shutdown
    from logic.ingest.runner import interrupt_active_runs
    from logic.outbox import release_claims

    runs = interrupt_active_runs("the instance shut down before the run finished")
    released = release_claims()
    if runs or released:
        log.warning("shutdown: %d ingest runs interrupted, %d deliveries released", runs, released)


class DrainingMiddleware:
    """Once shutdown was requested, answer new requests 503 (retry elsewhere) and close."""

    def __init__(self, app: Any, exempt_paths: tuple[str, ...] = ("/health",)) -> None:
        self.app = app
        self.exempt_paths = exempt_paths

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not shutting_down() or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {"error": "shutting_down", "detail": "this instance is shutting down; retry"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"retry-after", b"1"),
                    (b"connection", b"close"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
