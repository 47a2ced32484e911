"""The sandbox ASGI app: every fake vendor under its own prefix, plus `/_sandbox` controls."""

from __future__ import annotations

from fastapi import FastAPI

from sandbox import ditat, elevenlabs, pcmiler, samsara, slack, vapi, weather


def create_sandbox_app() -> FastAPI:
    app = FastAPI(title="Fleet Hub vendor sandbox")
    for vendor in (samsara, ditat, pcmiler, weather, slack, vapi, elevenlabs):
        app.include_router(vendor.router)
    return app


app = create_sandbox_app()
