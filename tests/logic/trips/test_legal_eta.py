"""Legal ETA: the physical plan through the HOS projection, stored next to the physical ETA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from logic.trips.eta import compute_etas
from logic.trips.legal_eta import compute_legal_etas
from models.hos import DutyStatus
from models.trip import Trip, TripStatus
from tests.factories import (
    make_driver,
    make_hos_clock,
    make_hos_log,
    make_location,
    make_trip,
    make_vehicle,
)

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
MEMPHIS = (35.1495, -90.049)
# 100 road miles north of Memphis at the default 1.2 road factor: 2 h at 50 mph.
NORTH = (MEMPHIS[0] + 100 / 1.2 / 69.09, MEMPHIS[1])


def setup_trip(session, *, clock: dict | None = None, appointment_end=None):
    driver = make_driver(session)
    truck = make_vehicle(session)
    trip = make_trip(
        session,
        driver=driver,
        vehicle=truck,
        status=TripStatus.IN_TRANSIT,
        stops=[{"latitude": NORTH[0], "longitude": NORTH[1], "appointment_end": appointment_end}],
    )
    make_location(
        session, vehicle=truck, recorded_at=NOW, latitude=MEMPHIS[0], longitude=MEMPHIS[1]
    )
    if clock is not None:
        make_hos_clock(session, driver=driver, as_of=NOW, **clock)
    return trip, driver


def test_thirty_minutes_of_window_and_a_two_hour_leg_needs_a_reset(session):
    trip, _ = setup_trip(
        session,
        clock={"drive_remaining_minutes": 300, "shift_remaining_minutes": 30},
    )
    physical = compute_etas(session, now=NOW)
    leg = physical.etas[trip.id].legs[0]
    assert leg == pytest.approx(120, abs=1)

    legal = compute_legal_etas(session, physical, now=NOW).eta(trip.id)

    assert legal.eta_next_stop == NOW + timedelta(minutes=30 + 600 + leg - 30)
    assert (legal.binding_clock, legal.binds_at) == ("shift", NOW + timedelta(minutes=30))
    session.expire_all()
    stored = session.get(Trip, trip.id)
    assert stored.eta_next_stop_legal == legal.eta_next_stop
    assert stored.eta_final_legal == legal.eta_final
    assert stored.hos_binding_clock == "shift"
    assert stored.hos_binds_at == NOW + timedelta(minutes=30)
    assert stored.eta_next_stop == NOW + timedelta(minutes=leg)


def test_enough_hours_means_legal_equals_physical(session):
    trip, _ = setup_trip(session, clock={"shift_remaining_minutes": 600})
    physical = compute_etas(session, now=NOW)
    legal = compute_legal_etas(session, physical, now=NOW).eta(trip.id)
    assert legal.eta_next_stop == physical.etas[trip.id].eta_next_stop
    assert legal.binding_clock is None and legal.binds_at is None


def test_no_clock_no_legal_eta(session):
    trip, _ = setup_trip(session)
    report = compute_legal_etas(session, compute_etas(session, now=NOW), now=NOW)
    assert report.eta(trip.id) is None and report.without_clock == 1
    session.expire_all()
    assert session.get(Trip, trip.id).eta_next_stop_legal is None


def test_unchanged_legal_eta_is_not_rewritten(session):
    setup_trip(session, clock={"shift_remaining_minutes": 30})
    assert compute_legal_etas(session, compute_etas(session, now=NOW), now=NOW).written == 1
    later = NOW + timedelta(minutes=2)
    assert compute_legal_etas(session, compute_etas(session, now=later), now=later).written == 0


def test_a_rest_under_way_counts_toward_the_reset(session):
    trip, driver = setup_trip(
        session,
        clock={
            "duty_status": DutyStatus.SLEEPER_BERTH,
            "drive_remaining_minutes": 0,
            "shift_remaining_minutes": 0,
            "time_until_break_minutes": 0,
        },
    )
    make_hos_log(
        session, driver=driver, duty_status="sleeper_berth", start_at=NOW - timedelta(hours=7)
    )
    physical = compute_etas(session, now=NOW)
    leg = physical.etas[trip.id].legs[0]
    legal = compute_legal_etas(session, physical, now=NOW).eta(trip.id)
    assert legal.eta_next_stop == NOW + timedelta(minutes=180 + leg)
    assert legal.binding_clock == "drive"


def test_clock_read_while_driving_runs_on_until_now(session):
    trip, driver = setup_trip(session)
    make_hos_clock(
        session,
        driver=driver,
        as_of=NOW - timedelta(minutes=20),
        drive_remaining_minutes=300,
        shift_remaining_minutes=50,
    )
    physical = compute_etas(session, now=NOW)
    legal = compute_legal_etas(session, physical, now=NOW).eta(trip.id)
    # SQLite reads times back through julianday(): equal to within microseconds.
    assert abs(legal.binds_at - (NOW + timedelta(minutes=30))) < timedelta(seconds=1)
