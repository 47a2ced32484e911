"""The sandbox ASGI app: every fake vendor under its own prefix, plus `/_sandbox` controls.

Fault injection and request recording wrap the whole app (see `sandbox/faults.py`). The sandbox
mail server speaks SMTP on its own port (`sandbox/mail.py`, started beside this app); its
messages are read under `/_sandbox/mail`.
"""

from __future__ import annotations

from fastapi import FastAPI

from sandbox import (
    bigquery,
    control,
    ditat,
    elevenlabs,
    mail,
    nws,
    pcmiler,
    samsara,
    slack,
    vapi,
    weather,
)
from sandbox.faults import FaultMiddleware
from sandbox.state import SandboxState


def create_sandbox_app(*, seed: int | None = None, trucks: int | None = None) -> FastAPI:
    app = FastAPI(title="Fleet Hub vendor sandbox")
    state = SandboxState(seed=seed, trucks=trucks)
    app.state.sandbox = state
    for vendor in (samsara, ditat, pcmiler, weather, nws, slack, vapi, elevenlabs, mail, bigquery):
        # A module may serve more than one prefix (weather.py: weatherapi.com and NWS).
        for router in [vendor.router, *getattr(vendor, "extra_routers", ())]:
            app.include_router(router)
        if init := getattr(vendor, "init_state", None):
            init(state)
        for exc_class, handler in getattr(vendor, "exception_handlers", {}).items():
            app.add_exception_handler(exc_class, handler)
    app.include_router(control.router)
    app.add_middleware(FaultMiddleware, faults=state.faults, recorder=state.recorder)
    return app


app = create_sandbox_app()
