"""The ingest service: on-demand Samsara and Ditat pulls into the database (port 8001)."""

from __future__ import annotations

import sys

from fastapi import FastAPI

from config import ConfigError
from logic.bootstrap import bootstrap_database
from services.http.app_factory import build_app


def create_app() -> FastAPI:
    from services import routers_ingest

    return build_app(
        title="Fleet Intelligence Hub — ingest",
        routers=routers_ingest.ROUTERS,
        on_startup=bootstrap_database,
    )


try:
    app = create_app()
except ConfigError as exc:
    sys.exit(f"fleet-hub-ingest: {exc}")
