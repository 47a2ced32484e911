"""ETA and late risk: great-circle fallback, PC*MILER over the sandbox (cached), HOS rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from config import Settings
from logic.trips import eta
from logic.trips.eta import compute_etas, drive_with_rest, great_circle_miles
from models.trip import Trip, TripStatus, TripStop
from tests.factories import make_driver, make_hos_clock, make_location, make_trip, make_vehicle
from utils.pcmiler_client import build_pcmiler_client

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
MEMPHIS = (35.1495, -90.049)
DALLAS = (32.7767, -96.797)


@pytest.fixture(autouse=True)
def _fresh_cache():
    eta.clear_mileage_cache()
    yield
    eta.clear_mileage_cache()


def setup_trip(session, *, appointment_end=None, drive_remaining=None, stops=None):
    driver = make_driver(session)
    truck = make_vehicle(session)
    trip = make_trip(
        session,
        driver=driver,
        vehicle=truck,
        status=TripStatus.IN_TRANSIT,
        stops=stops
        or [{"latitude": DALLAS[0], "longitude": DALLAS[1], "appointment_end": appointment_end}],
    )
    make_location(
        session,
        vehicle=truck,
        recorded_at=NOW - timedelta(minutes=2),
        latitude=MEMPHIS[0],
        longitude=MEMPHIS[1],
    )
    if drive_remaining is not None:
        make_hos_clock(session, driver=driver, drive_remaining_minutes=drive_remaining)
    return trip


def test_great_circle_eta_is_stored_on_the_trip_and_its_next_stop(session):
    trip = setup_trip(session, appointment_end=NOW + timedelta(hours=6))
    report = compute_etas(session, now=NOW)

    miles = great_circle_miles(*MEMPHIS, *DALLAS) * 1.2
    expected = NOW + timedelta(minutes=miles / 50 * 60)
    result = report.etas[trip.id]
    assert result.miles_source == "great_circle"
    assert result.eta_next_stop == expected
    session.expire_all()
    stored = session.get(Trip, trip.id)
    assert abs(stored.eta_next_stop - expected) < timedelta(seconds=1)
    assert stored.eta_updated_at == NOW
    assert stored.late_risk_minutes == int(
        (expected - (NOW + timedelta(hours=6))).total_seconds() // 60
    )
    assert stored.late_risk_minutes > 0  # ~8.7 h of driving for a 6 h window
    [stop] = session.scalars(select(TripStop).where(TripStop.trip_id == trip.id)).all()
    assert abs(stop.eta - expected) < timedelta(seconds=1)


def test_hos_rest_is_inserted_when_drive_time_runs_out_before_arrival(session):
    trip = setup_trip(session, appointment_end=NOW + timedelta(hours=12), drive_remaining=60)
    result = compute_etas(session, now=NOW).etas[trip.id]

    drive = great_circle_miles(*MEMPHIS, *DALLAS) * 1.2 / 50 * 60
    assert result.rests == 1
    assert result.eta_next_stop == NOW + timedelta(minutes=drive + 600)
    assert result.late_risk_minutes > 0  # on time without the rest, late with it


def test_enough_drive_time_means_no_rest():
    assert drive_with_rest(300, 300) == (300, 0)
    assert drive_with_rest(301, 300) == (901, 1)
    assert drive_with_rest(1000, 0) == (1000 + 2 * 600, 2)  # 1000 min > one 11 h day
    assert drive_with_rest(500, None) == (500, 0)


def test_unchanged_eta_is_not_rewritten(session):
    setup_trip(session, appointment_end=NOW + timedelta(hours=6))
    assert compute_etas(session, now=NOW).written == 1
    assert compute_etas(session, now=NOW + timedelta(minutes=4)).written == 0
    assert compute_etas(session, now=NOW + timedelta(minutes=5)).written == 1


def test_pcmiler_miles_are_used_and_cached(session, sandbox_clean):
    client = build_pcmiler_client(Settings(**sandbox_clean.settings_env()), retry_wait=0.01)
    trip = setup_trip(session, appointment_end=NOW + timedelta(hours=6))

    first = compute_etas(session, now=NOW, pcmiler=client).etas[trip.id]
    second = compute_etas(session, now=NOW, pcmiler=client)

    assert first.miles_source == "pcmiler"
    requests = [r for r in sandbox_clean.requests("pcmiler") if "routeReports" in r["path"]]
    assert len(requests) == 1  # the second pass hit the cache
    assert requests[0]["query"]["stops"].startswith(f"{MEMPHIS[1]:.6f},{MEMPHIS[0]:.6f};")
    assert second.pcmiler_calls == 0
    assert second.etas[trip.id].miles == first.miles


def test_pcmiler_outage_falls_back_to_great_circle(session, sandbox_clean):
    sandbox_clean.fault("pcmiler", "5xx", count=10)
    client = build_pcmiler_client(Settings(**sandbox_clean.settings_env()), retry_wait=0.01)
    trip = setup_trip(session, appointment_end=NOW + timedelta(hours=6))

    result = compute_etas(session, now=NOW, pcmiler=client).etas[trip.id]
    assert result.miles_source == "great_circle"
    assert result.miles == pytest.approx(great_circle_miles(*MEMPHIS, *DALLAS) * 1.2)


def test_final_eta_chains_the_remaining_stops(session):
    trip = setup_trip(
        session,
        stops=[
            {"latitude": 35.0, "longitude": -91.0},
            {"latitude": DALLAS[0], "longitude": DALLAS[1]},
        ],
    )
    result = compute_etas(session, now=NOW).etas[trip.id]
    assert result.eta_final > result.eta_next_stop
    assert result.late_risk_minutes is None  # no appointment: no risk figure
