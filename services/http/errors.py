"""One error shape for every error a client can see, and the handlers that render it.

Every error body is an `ErrorResponse`: `{"error": code, "detail": "<sentence>", ...}`, with a
per-field `errors` list for validation. `AppError`s, request validation, routing (404, 405),
database outages and unexpected failures all come out of `error_response`; the middleware's 413,
422 and 503 use the same function, and services/openapi.py publishes the one schema.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sentry_sdk
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from helpers.errors import AppError

log = logging.getLogger(__name__)

# A validation error never echoes more of the caller's input than this (JSON characters).
MAX_ECHOED_INPUT_CHARS = 200

# The code of each status the framework itself can answer with (routing, validation).
STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


class FieldError(BaseModel):
    """One invalid field: where it is, what is wrong, and (shortened) what was sent."""

    loc: list[str | int]
    msg: str
    type: str
    input: Any = None


class ErrorResponse(BaseModel):
    """Every error: a stable snake_case `error` code and a readable `detail` sentence.

    Validation errors add `errors` (one entry per invalid field); some errors add context such
    as `request_id` or the id of the conflicting resource.
    """

    model_config = ConfigDict(extra="allow")

    error: str
    detail: str
    request_id: str | None = None
    errors: list[FieldError] | None = None


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "detail": detail, **extra}


def error_response(
    status_code: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(error_body(code, detail, **extra), status_code=status_code, headers=headers)


def shorten_input(value: Any) -> Any:
    """The caller's input as JSON when short, else the start of its JSON text."""
    if isinstance(value, bytes):  # a body sent with a media type the route does not parse
        value = value.decode("utf-8", errors="replace")
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except ValueError:  # a circular structure cannot come from JSON; describe it instead
        return type(value).__name__
    if len(text) <= MAX_ECHOED_INPUT_CHARS:
        return json.loads(text)
    return text[:MAX_ECHOED_INPUT_CHARS] + "…"


def field_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic's error list, without its `ctx`/`url` and with every input shortened."""
    return [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
            "input": shorten_input(error.get("input")),
        }
        for error in errors
    ]


def validation_detail(errors: list[dict[str, Any]]) -> str:
    """One sentence naming the first invalid field (and how many more there are)."""
    if not errors:
        return "the request is invalid"
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def refusal_errors(exc: AppError) -> list[dict[str, Any]]:
    """A 422 raised by the application, as the one-entry `errors` list of a validation error."""
    loc = getattr(exc, "loc", ())
    return [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in loc],
            "msg": exc.detail,
            "type": exc.code,
            "input": shorten_input(getattr(exc, "input", None)),
        }
    ]


async def app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if exc.status_code == 422:
        # Every 422 has one shape, whichever layer refused: the field-level reason is the
        # entry's `type`, so a client needs one parser for all of them.
        errors = refusal_errors(exc)
        return error_response(
            422,
            STATUS_CODES[422],
            validation_detail(errors),
            headers=exc.headers or None,
            errors=errors,
            **exc.extra,
        )
    return error_response(
        exc.status_code, exc.code, exc.detail, headers=exc.headers or None, **exc.extra
    )


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc.errors())
    return error_response(422, STATUS_CODES[422], validation_detail(errors), errors=errors)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Routing's 404 and 405 (and any framework `HTTPException`), in the one shape."""
    assert isinstance(exc, StarletteHTTPException)
    code = STATUS_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404 and exc.detail == "Not Found":
        detail = f"no route matches {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    else:
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, detail, headers=exc.headers)


# SQLSTATE 22003: PostgreSQL cannot hold a number the caller sent (an id of 2**40 for an
# integer column); sqlite3 refuses to bind one past 64 bits with an OverflowError instead.
_NUMERIC_OUT_OF_RANGE = "22003"


def _number_out_of_range(exc: Exception) -> bool:
    if isinstance(exc, OverflowError):
        return "SQLite INTEGER" in str(exc)
    return getattr(getattr(exc, "orig", None), "pgcode", None) == _NUMERIC_OUT_OF_RANGE


def _number_out_of_range_response() -> JSONResponse:
    msg = "a number in the request is outside the range the database can store"
    # Which field held it is lost by the time the database refuses; the request as a whole.
    errors = [{"loc": ["request"], "msg": msg, "type": "number_out_of_range", "input": None}]
    return error_response(422, STATUS_CODES[422], f"request: {msg}", errors=errors)


async def overflow_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if _number_out_of_range(exc):
        return _number_out_of_range_response()
    return await unhandled_error_handler(request, exc)


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    is_data_error = isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError)
    if is_data_error and _number_out_of_range(exc):
        return _number_out_of_range_response()
    if is_data_error and not exc.connection_invalidated:
        return await unhandled_error_handler(request, exc)
    log.warning("database unavailable: %s", type(exc).__name__)
    return error_response(
        503,
        "database_unavailable",
        "the database is unavailable; retry shortly",
        headers={"Retry-After": "5"},
        request_id=_request_id(request),
    )


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    sentry_sdk.capture_exception(exc)
    return error_response(
        500, "internal_error", "an unexpected error occurred", request_id=_request_id(request)
    )


def install_error_handlers(app: FastAPI) -> None:
    """Known failures; unknown ones are rendered by `ErrorBoundaryMiddleware` (never re-raised)."""
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(OperationalError, database_error_handler)
    app.add_exception_handler(PoolTimeoutError, database_error_handler)
    app.add_exception_handler(DBAPIError, database_error_handler)
    app.add_exception_handler(OverflowError, overflow_error_handler)


async def send_error(
    send: Any,
    status: int,
    code: str,
    detail: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    **extra: Any,
) -> None:
    """Send an `ErrorResponse` straight from middleware (no endpoint, no exception handler)."""
    body = json.dumps(error_body(code, detail, **extra)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
