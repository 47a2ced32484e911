"""Ingest test support: a small frozen sandbox fleet, env pointing at it, and row counters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from models.driver import Driver
from models.hos import HosClock, HosLog, HosViolation
from models.location import VehicleLocation
from models.safety_event import SafetyEvent
from models.trip import Trip, TripStop
from models.vehicle import Trailer, Vehicle
from tests.fixtures_sandbox import settings_env

API_KEY = {"X-API-Key": "test-service-api-key"}
TRUCKS = 4
HISTORY_HOURS = 6  # three location-feed pages for four trucks (128 samples per page)
MODELS = {
    "vehicle": Vehicle,
    "driver": Driver,
    "trailer": Trailer,
    "vehicle_location": VehicleLocation,
    "hos_clock": HosClock,
    "hos_log": HosLog,
    "hos_violation": HosViolation,
    "safety_event": SafetyEvent,
    "trip": Trip,
    "trip_stop": TripStop,
}


def counts(session: Session) -> dict[str, int]:
    session.expire_all()
    return {
        name: session.scalar(select(func.count()).select_from(model))
        for name, model in MODELS.items()
    }


@pytest.fixture(name="fleet")
def fleet_fixture(sandbox_clean) -> Iterator:
    """Four trucks, six hours of history, the sandbox clock frozen on a whole minute, and the
    settings pointing every vendor at the sandbox (restored afterwards)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    sandbox_clean.rebuild_fleet(trucks=TRUCKS, history_hours=HISTORY_HOURS, seed=7)
    sandbox_clean.freeze_clock(now)
    # Small location batches, so one short history still spans several committed pages.
    env = {**sandbox_clean.settings_env(), "INGEST_LOCATION_BATCH_ROWS": "100"}
    with settings_env(env):
        yield sandbox_clean
