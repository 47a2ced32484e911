"""Exception handlers: the `AppError` family, database outages and unexpected failures."""

from __future__ import annotations

import logging

import sentry_sdk
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from helpers.errors import AppError

log = logging.getLogger(__name__)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    body: dict[str, object] = {"error": exc.code, "detail": exc.detail, **exc.extra}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    is_data_error = isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError)
    if is_data_error and not exc.connection_invalidated:
        return await unhandled_error_handler(request, exc)
    log.warning("database unavailable: %s", type(exc).__name__)
    return JSONResponse(
        {
            "error": "database_unavailable",
            "detail": "the database is unavailable; retry shortly",
            "request_id": _request_id(request),
        },
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    sentry_sdk.capture_exception(exc)
    return JSONResponse(
        {
            "error": "internal_error",
            "detail": "an unexpected error occurred",
            "request_id": _request_id(request),
        },
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(OperationalError, database_error_handler)
    app.add_exception_handler(PoolTimeoutError, database_error_handler)
    app.add_exception_handler(DBAPIError, database_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
