"""The local scheduler's cadence over real HTTP, and location retention."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from helpers.time_utils import utc_now
from logic.ingest.retention import prune_locations
from logic.ingest.scheduler import ScheduledCall, Scheduler, default_schedule
from models.ingest import IngestRun
from models.location import VehicleLocation
from models.vehicle import Vehicle
from tests.ingest_support import API_KEY, fleet_fixture  # noqa: F401


def test_documented_cadence() -> None:
    every = {c.name: c.every_seconds for c in default_schedule()}
    assert every["samsara/locations"] == 60
    assert every["samsara/hos-clocks"] == every["ditat/trips"] == 300
    assert every["samsara/vehicles"] == every["ditat/drivers"] == every["ditat/trucks"] == 3600
    assert every["alerts/evaluate"] == 120
    assert every["reports/tick"] == 300
    names = [c.name for c in default_schedule()]
    assert names.index("samsara/vehicles") < names.index("samsara/locations")


def test_scheduler_fires_due_calls_with_the_api_key(session: Session, fleet) -> None:
    from ingest_app import app as ingest_app
    from main import app as main_app

    now = [0.0]
    schedule = [
        ScheduledCall("ditat/trailers", "ingest", "/ingest/ditat/trailers?background=true", 60),
        ScheduledCall("alerts/evaluate", "main", "/alerts/evaluate", 120),
    ]
    scheduler = Scheduler(
        ingest=TestClient(ingest_app, raise_server_exceptions=False),
        main=TestClient(main_app, raise_server_exceptions=False),
        api_key=API_KEY["X-API-Key"],
        schedule=schedule,
        clock=lambda: now[0],
    )
    first = {o.name: o for o in scheduler.tick()}
    assert first["ditat/trailers"].status == 202 and first["ditat/trailers"].detail.startswith(
        "run"
    )
    runs = session.exec(select(IngestRun).where(IngestRun.entity == "trailers")).all()
    assert [r.trigger for r in runs] == ["api-key"] and runs[0].status == "succeeded"
    if first["alerts/evaluate"].status == 404:  # alert evaluation not built yet: switched off
        assert schedule[1].enabled is False

    now[0] = 30.0
    assert scheduler.tick() == []
    now[0] = 61.0
    assert [o.name for o in scheduler.tick()] == ["ditat/trailers"]
    assert 0 < scheduler.seconds_until_next() <= 60


def test_scheduler_reports_a_refused_key(session: Session) -> None:
    from ingest_app import app as ingest_app

    scheduler = Scheduler(
        ingest=TestClient(ingest_app, raise_server_exceptions=False),
        main=TestClient(ingest_app, raise_server_exceptions=False),
        api_key="wrong-key",
        schedule=[ScheduledCall("samsara/vehicles", "ingest", "/ingest/samsara/vehicles", 60)],
    )
    (outcome,) = scheduler.tick()
    assert outcome.status == 401 and "API key" in outcome.detail


def test_prune_deletes_only_points_older_than_retention(session: Session) -> None:
    now = utc_now()
    truck = Vehicle(unit_number="P1")
    session.add(truck)
    session.flush()
    for days in (1, 5, 31, 400):
        session.add(
            VehicleLocation(
                vehicle_id=truck.id,
                recorded_at=now - timedelta(days=days),
                latitude=35.0,
                longitude=-90.0,
            )
        )
    session.commit()
    batches: list[int] = []
    assert prune_locations(30, batch_size=1, now=now, on_batch=batches.append) == 2
    assert batches == [1, 2]
    session.expire_all()
    kept = sorted(loc.recorded_at for loc in session.exec(select(VehicleLocation)).all())
    assert kept == [now - timedelta(days=5), now - timedelta(days=1)]


def test_prune_refuses_while_a_location_ingest_runs(session: Session) -> None:
    import pytest

    from logic.ingest.runner import IngestAlreadyRunning, start_run

    handle = start_run("samsara", "locations")
    try:
        with pytest.raises(IngestAlreadyRunning, match="already running"):
            prune_locations(30)
    finally:
        handle.finish()
    assert prune_locations(30) == 0
