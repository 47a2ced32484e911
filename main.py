"""The main API: every dashboard, admin, alert, call and report router (port 8000)."""

from __future__ import annotations

import sys

from fastapi import FastAPI

from config import ConfigError
from logic.bootstrap import bootstrap_database
from services.http.app_factory import build_app


def create_app() -> FastAPI:
    from services import routers_main

    return build_app(
        title="Fleet Intelligence Hub",
        routers=routers_main.ROUTERS,
        on_startup=bootstrap_database,
    )


try:
    app = create_app()
except ConfigError as exc:
    sys.exit(f"fleet-hub: {exc}")
