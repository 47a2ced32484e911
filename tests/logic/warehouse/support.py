"""Warehouse test helpers: settings pointed at the sandbox BigQuery, a fleet of every exported
table, and reading back what the sandbox holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from helpers.time_utils import utc_now
from models.alert import Alert
from models.report import DriverReport
from sandbox.credentials import BIGQUERY_DATASET
from tests.factories import (
    make_driver,
    make_hos_log,
    make_location,
    make_safety_event,
    make_trip,
    make_vehicle,
    make_violation,
)
from tests.factories_reports import make_call, make_insight
from tests.fixtures_sandbox import settings_env


@pytest.fixture(name="bq")
def bq_fixture(sandbox_clean) -> Iterator:
    """The sandbox (reset) with the settings pointing BigQuery at it and no settle time."""
    env = {**sandbox_clean.settings_env(), "WAREHOUSE_SETTLE_SECONDS": "0"}
    with settings_env(env):
        yield sandbox_clean


def warehouse_rows(sandbox, table: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{sandbox.url}/_sandbox/bigquery/tables/{BIGQUERY_DATASET}/{table}")
    response.raise_for_status()
    return response.json()["rows"]


def make_alert(session: Session, *, fingerprint: str, first_seen_at=None, **extra: Any) -> Alert:
    at = first_seen_at or utc_now() - timedelta(hours=1)
    alert = Alert(
        type=extra.pop("type", "speeding"),
        fingerprint=fingerprint,
        title=extra.pop("title", "Speeding"),
        details=extra.pop("details", {"speed_mph": 81.5}),
        first_seen_at=at,
        last_seen_at=extra.pop("last_seen_at", at),
        created_at=at,
        updated_at=utc_now(),
        **extra,
    )
    session.add(alert)
    session.flush()
    return alert


def make_fleet(session: Session) -> dict[str, Any]:
    """Two trucks and drivers with a row in every exported table."""
    now = utc_now()
    drivers = [make_driver(session) for _ in range(2)]
    trucks = [make_vehicle(session) for _ in range(2)]
    trips = [
        make_trip(session, driver=drivers[i], vehicle=trucks[i], stops=2, customer=c)
        for i, c in enumerate(["Acme Foods", "Globex"])
    ]
    for i, truck in enumerate(trucks):
        for minute in range(5):
            make_location(
                session,
                vehicle=truck,
                recorded_at=now - timedelta(hours=2, minutes=minute),
                speed_mph=50.0 + 8 * minute + i,
                latitude=35.1 + 0.01 * minute,
                longitude=-90.0 - 0.01 * i,
            )
    for driver in drivers:
        make_hos_log(session, driver=driver, start_at=now - timedelta(hours=5))
        make_violation(session, driver=driver)
        make_safety_event(session, driver=driver, vehicle=trucks[0], behavior_labels=["speeding"])
    alerts = [make_alert(session, fingerprint=f"speeding:vehicle:{t.id}") for t in trucks]
    call = make_call(session, driver_id=drivers[0].id, created_at=now, trip_id=trips[0].id)
    make_insight(session, call=call, issues=["traffic"], reported_delay_minutes=45)
    for driver in drivers:
        session.add(
            DriverReport(
                driver_id=driver.id, report_date=(now - timedelta(days=1)).date(),
                timezone="America/Chicago", window_start=now - timedelta(days=1, hours=6),
                window_end=now - timedelta(hours=6), generated_at=now,
                safety_events_by_type={"speeding": 1},
            )
        )  # fmt: skip
    # A finished GPS visit with detention, and one still open.
    from logic.trips.stop_visits import close_visit, new_visit

    for trip, departed in ((trips[0], now - timedelta(hours=1)), (trips[1], None)):
        visit = new_visit(trip.stops[1], trip.customer, "gps", now - timedelta(hours=5))
        if departed is not None:
            close_visit(visit, departed)
        session.add(visit)
    session.commit()
    return {"drivers": drivers, "trucks": trucks, "trips": trips, "alerts": alerts}
