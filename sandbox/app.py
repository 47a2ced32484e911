"""The sandbox ASGI app: every fake vendor under its own prefix, plus `/_sandbox` controls.

Fault injection and request recording wrap the whole app (see `sandbox/faults.py`). The sandbox
mail server speaks SMTP on its own port (`sandbox/mail.py`, started beside this app); its
messages are read under `/_sandbox/mail`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

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
    samsara_messages,
    slack,
    twilio,
    vapi,
    weather,
)
from sandbox import persistence as persistence_module
from sandbox.faults import FaultMiddleware
from sandbox.simulator import fleet_size_from_env, seed_from_env
from sandbox.state import SandboxState


def create_sandbox_app(
    *, seed: int | None = None, trucks: int | None = None, state_dir: Path | None = None
) -> FastAPI:
    """The sandbox; with `state_dir`, its world survives restarts (`sandbox/persistence.py`)."""
    persistence: persistence_module.Persistence | None = None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if persistence is not None:
            persistence.start()
        try:
            yield
        finally:
            if persistence is not None:
                persistence.stop()

    app = FastAPI(title="Fleet Hub vendor sandbox", lifespan=lifespan)
    start = None
    if state_dir is not None:
        seed = seed_from_env() if seed is None else seed
        trucks = fleet_size_from_env() if trucks is None else trucks
        start = persistence_module.anchor(state_dir, seed, trucks)
    state = SandboxState(seed=seed, trucks=trucks, start=start)
    app.state.sandbox = state
    vendors = (samsara, samsara_messages, ditat, pcmiler, weather, nws, slack, vapi, elevenlabs)
    for vendor in (*vendors, twilio, mail, bigquery):
        # A module may serve more than one prefix (weather.py: weatherapi.com and NWS).
        for router in [vendor.router, *getattr(vendor, "extra_routers", ())]:
            app.include_router(router)
        if init := getattr(vendor, "init_state", None):
            init(state)
        for exc_class, handler in getattr(vendor, "exception_handlers", {}).items():
            app.add_exception_handler(exc_class, handler)
    app.include_router(control.router)
    app.add_middleware(FaultMiddleware, faults=state.faults, recorder=state.recorder)
    if state_dir is not None:
        # After init_state: the stores exist; loading replaces their (empty) contents.
        persistence = persistence_module.Persistence(state_dir, state)
        persistence.load()
        app.state.persistence = persistence
    return app


app = create_sandbox_app()
