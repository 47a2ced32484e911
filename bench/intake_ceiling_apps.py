"""Stripped-down apps for `messaging_bench.py --ceiling`: how far the Twilio intake could go on
this machine if the main app's layers cost nothing.

- `noop`: a bare Starlette route that reads the body and answers, with no database: the server
  and the load generator alone.
- `route_only`: FastAPI with only the Twilio webhook router (and health): no middleware, no
  other routes; signature, inbox insert and event processing as in production. With
  `BENCH_SKIP_PROCESSING` set, stored events are not applied: signature and inbox insert alone.

Benchmark-only; never served by the product.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from helpers.runtime_tuning import tune_serving_process
from logic.bootstrap import bootstrap_database
from services import health, messaging_webhooks
from services.http.errors import install_error_handlers

ACK = b'{"stored":true}'


def noop() -> Starlette:
    async def ready(_request: Request) -> Response:
        return Response(b'{"status":"ready"}', media_type="application/json")

    async def webhook(request: Request) -> Response:
        await request.body()
        return Response(ACK, media_type="application/json")

    return Starlette(
        routes=[
            Route("/health/ready", ready),
            Route("/webhooks/twilio", webhook, methods=["POST"]),
        ]
    )


def route_only() -> FastAPI:
    if os.environ.get("BENCH_SKIP_PROCESSING"):
        # What the intake costs when stored events are never applied (a bench-only switch).
        messaging_webhooks._process = lambda *_: None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(bootstrap_database)
        tune_serving_process()
        yield

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(messaging_webhooks.router)
    return app
