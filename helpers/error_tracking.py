"""Sentry/GlitchTip setup that reports only real errors and never ships secrets."""

from __future__ import annotations

from typing import Any

import sentry_sdk
from pydantic import ValidationError

from config import Settings
from helpers.cloud_logger import redact
from helpers.errors import AppError

_SENSITIVE_HEADERS = {"authorization", "cookie", "x-api-key", "x-vapi-secret", "xi-api-key"}
_LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3, "fatal": 4}


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    """Drop expected outcomes and anything below `error`; scrub credentials from the rest."""
    if _LEVELS.get(event.get("level", "error"), 3) < _LEVELS["error"]:
        return None
    exc = (hint.get("exc_info") or (None, None, None))[1]
    if exc is not None and _is_expected(exc):
        return None
    request = event.get("request") or {}
    headers = request.get("headers") or {}
    for name in list(headers):
        if name.lower() in _SENSITIVE_HEADERS or "signature" in name.lower():
            headers[name] = "[Filtered]"
    if isinstance(request.get("query_string"), str):
        request["query_string"] = redact(request["query_string"])
    request.pop("data", None)
    request.pop("cookies", None)
    for value in (event.get("exception") or {}).get("values", []):
        if isinstance(value.get("value"), str):
            value["value"] = redact(value["value"])
    return event


def _is_expected(exc: BaseException) -> bool:
    from starlette.exceptions import HTTPException

    if isinstance(exc, HTTPException | ValidationError):
        return True
    if type(exc).__name__ == "RequestValidationError":
        return True
    return isinstance(exc, AppError) and exc.status_code < 500


def init_error_tracking(settings: Settings, transport: Any = None) -> bool:
    """Start Sentry/GlitchTip when `SENTRY_DSN` is set; `transport` lets tests capture events."""
    dsn = settings.SENTRY_DSN.get_secret_value()
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=settings.ENVIRONMENT,
        traces_sample_rate=settings.SENTRY_TRACES_SAMPLE_RATE or None,
        # PII (IPs, cookies, auth headers, bodies) stays off: the SDK default.
        # Locals would carry drivers' phone numbers and tokens into the event.
        include_local_variables=False,
        # GlitchTip has no release-health sessions.
        auto_session_tracking=False,
        before_send=before_send,  # type: ignore[arg-type]
        transport=transport,
    )
    return True
