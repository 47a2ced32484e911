"""The error boundary: an unexpected exception becomes the one-shape 500, never a server crash.

Starlette's `ServerErrorMiddleware` re-raises after responding, and uvicorn then closes the
keep-alive connection, so the client's next request would be reset. After the response started
(background tasks) a database outage is an expected condition: a warning line, not an error.
"""

from __future__ import annotations

import logging
from typing import Any

import sentry_sdk
from starlette.requests import Request

from db.retry import is_transient_db_error
from services.http.errors import unhandled_error_handler

log = logging.getLogger(__name__)

Scope = dict[str, Any]


def _database_outage(exc: BaseException) -> bool:
    """A transient database error, also when Starlette re-raised it wrapped in a RuntimeError
    ("Caught handled exception, but response already started")."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if is_transient_db_error(seen):
            return True
        seen = seen.__cause__
    return False


class ErrorBoundaryMiddleware:
    """Render an unexpected exception as the one-shape 500 and never let it reach the server."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started and _database_outage(exc):
                # Background work after the answer (applying a new call's early events) met a
                # database outage: expected, and what it left is picked up by the next pass
                # (webhook processing, reconciliation), so a warning, not a Sentry event.
                log.warning(
                    "database unavailable after the response on %s: %s; left for the next pass",
                    scope["path"],
                    type(exc).__name__,
                )
                return
            if started:  # too late for a 500: the server ends the half-sent response
                log.error("error after the response started on %s", scope["path"], exc_info=exc)
                sentry_sdk.capture_exception(exc)
                return
            response = await unhandled_error_handler(Request(scope), exc)
            await response(scope, receive, send)
