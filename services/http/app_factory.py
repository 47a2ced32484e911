"""Build either app: settings check, logging, error handling, the middleware stack, lifespan."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import OperationalError

from config import ConfigError, Settings, get_settings
from helpers import background_batches
from helpers.cloud_logger import setup_logging
from helpers.error_tracking import init_error_tracking
from helpers.runtime_tuning import tune_serving_process
from services import health
from services.http import draining, metrics, route_index
from services.http.admission import admitted_requests, configure_thread_limiter
from services.http.errors import install_error_handlers
from services.http.stack import middleware_stack
from services.openapi import install_openapi, operation_id

log = logging.getLogger(__name__)

# Part of the shutdown grace: a batch of webhook processing takes milliseconds.
SETTLE_SECONDS = 2.0


def build_app(
    *,
    title: str,
    routers: Sequence[APIRouter],
    on_startup: Callable[[], None] | None = None,
    settings: Settings | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    setup_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    init_error_tracking(settings)
    admitted = admitted_requests(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        threads = configure_thread_limiter(admitted)
        log.info("%s starting: %d requests admitted, %d worker threads", title, admitted, threads)
        draining.install_signal_hook()
        if on_startup is not None:
            try:
                await run_in_threadpool(on_startup)
            except (OperationalError, ConfigError) as exc:
                abort_startup(f"{title} cannot start: {startup_failure_reason(exc)}")
        if settings.PROCESS_TUNING:  # the one place a process's interpreter is tuned
            tune_serving_process()
        yield
        # Webhook events handed off for processing: apply what is queued before the process
        # goes (what is not, the scheduled ticks find unprocessed in the inbox).
        await run_in_threadpool(background_batches.settle, SETTLE_SECONDS)
        await run_in_threadpool(draining.hand_back_work)

    # The API description is for developers; production does not publish it. Elsewhere /docs
    # serves Swagger UI from the installed package, so it works offline.
    if settings.is_production:
        app = FastAPI(
            title=title,
            lifespan=lifespan,
            docs_url=None,
            openapi_url=None,
            redoc_url=None,
            generate_unique_id_function=operation_id,
        )
    else:
        app = FastAPIOffline(
            title=title,
            lifespan=lifespan,
            docs_url="/docs",
            redoc_url=None,
            static_url="/docs/static",
            generate_unique_id_function=operation_id,
        )
    install_error_handlers(app)
    # add_middleware wraps what is already there: adding the innermost first builds the declared
    # order, which app.user_middleware then lists outermost first.
    stack = middleware_stack(settings, title=title, admitted=admitted, router=app.router)
    for layer in reversed(stack):
        app.add_middleware(layer.cls, *layer.args, **layer.kwargs)
    app.include_router(metrics.router)
    app.include_router(health.router)
    for router in routers:
        app.include_router(route_index.indexed(router))
    install_openapi(app)
    return app


def startup_failure_reason(exc: Exception) -> str:
    """The first meaningful line of a configuration or connection failure."""
    lines = [line.strip() for line in str(getattr(exc, "orig", None) or exc).splitlines()]
    return next((line for line in lines if line), type(exc).__name__)


def abort_startup(message: str) -> None:
    """Stop the process with one line and a non-zero exit.

    Raising from the lifespan would make uvicorn print the whole traceback; a bad database URL
    or an unreachable server deserves one readable sentence.
    """
    log.critical(message)
    logging.shutdown()
    os._exit(1)
