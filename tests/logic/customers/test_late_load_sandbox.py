"""A load made late in the sandbox (`POST /_sandbox/fleet/delay`) reaches its customer as one
ETA notice in the sandbox mailbox: ingest, the evaluation pass and the notice pass, twice — the
"Done means" of the customer notices, end to end over the sandbox's HTTP APIs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from config import get_settings
from logic.alerts.engine import run_evaluation
from logic.customers import jobs
from logic.customers.demo import add_demo_contacts
from logic.ingest.jobs import run_all
from logic.trips.eta import great_circle_miles
from models.customer_notice import CustomerNotice
from models.driver import Driver
from models.location import VehicleLocation
from models.trip import Trip, TripStop
from models.vehicle import Vehicle
from tests.fixtures_sandbox import settings_env

HELD = timedelta(hours=4)


@pytest.fixture(name="fleet")
def ten_trucks(sandbox_clean) -> Iterator:
    """Ten trucks (enough for loads under way and on time), `HELD` of GPS history, the sandbox
    clock frozen on a whole minute and every vendor setting pointing at the sandbox."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    sandbox_clean.rebuild_fleet(trucks=10, history_hours=HELD / timedelta(hours=1), seed=42)
    sandbox_clean.freeze_clock(now)
    env = sandbox_clean.settings_env()
    with settings_env(env):
        yield sandbox_clean


def _ingest_and_evaluate(fleet) -> datetime:
    for source in ("samsara", "ditat"):
        run_all(source, trigger="cli", triggered_by="late-load-tests")
    now = datetime.fromisoformat(httpx.get(f"{fleet.url}/_sandbox/clock").json()["now"])
    run_evaluation(now=now)
    return now


def _next_stop(session, trip: Trip) -> TripStop | None:
    stops = session.scalars(
        select(TripStop).where(TripStop.trip_id == trip.id).order_by(TripStop.sequence)
    ).all()
    return next((s for s in stops if s.arrived_at is None and s.visit_arrived_at is None), None)


def _told_eta(trip: Trip, stop: TripStop):
    """What the notice pass compares with the window: the legal ETA, else the driving one."""
    return trip.eta_next_stop_legal or trip.eta_next_stop or stop.eta


def _miles_driven(session, vehicle_id: int, since: datetime) -> float:
    """Straight-line miles between the truck's first point since `since` and its newest."""
    points = session.execute(
        select(VehicleLocation.latitude, VehicleLocation.longitude)
        .where(VehicleLocation.vehicle_id == vehicle_id, VehicleLocation.recorded_at >= since)
        .order_by(VehicleLocation.recorded_at)
    ).all()
    return great_circle_miles(*points[0], *points[-1]) if points else 0.0


def _load_a_delay_makes_late(session, now: datetime) -> Trip:
    """An on-time load (driving and legal ETA both inside the window) that left its pickup
    more than `HELD` ago, whose truck covered enough ground in the last `HELD` that losing it
    puts the hub's ETA at least half an hour past the window — by the hub's own speed."""
    settings = get_settings()
    best: tuple[float, Trip] | None = None
    for trip in session.scalars(
        select(Trip).where(Trip.status == "in_transit", Trip.customer_id.is_not(None))
    ):
        stop = _next_stop(session, trip)
        if stop is None or stop.sequence == 1:  # at its last stop, or not yet left the first
            continue
        pickup = session.scalars(
            select(TripStop).where(TripStop.trip_id == trip.id, TripStop.sequence == 1)
        ).one()
        etas = [e for e in (trip.eta_next_stop_legal, trip.eta_next_stop, stop.eta) if e]
        end = stop.appointment_end or stop.appointment_start
        if pickup.departed_at is None or pickup.departed_at > now - HELD or not etas or not end:
            continue
        slack = (end - max(etas)) / timedelta(minutes=1)
        miles = _miles_driven(session, trip.vehicle_id, now - HELD) * settings.ETA_ROAD_FACTOR
        lost = miles / settings.ETA_AVERAGE_SPEED_MPH * 60
        if slack >= 0 and lost - slack >= 30 and (best is None or lost - slack > best[0]):
            best = (lost - slack, trip)
    assert best is not None, "no load under way on time in the sandbox fleet"
    return best[1]


def _eta_mails(fleet, load_number: str) -> list[dict]:
    prefix = f"Load {load_number}: new estimated arrival"
    # A subject longer than a header line arrives folded (a leading space once unfolded).
    return [m for m in fleet.mail() if (m["subject"] or "").strip().startswith(prefix)]


def test_a_load_made_late_in_the_sandbox_mails_its_customer_once(session, fleet):
    _ingest_and_evaluate(fleet)
    assert add_demo_contacts(session) > 0
    session.commit()
    mailer = jobs.mailer_or_none(get_settings())
    session.expire_all()
    before = fleet.state.clock()
    trip = _load_a_delay_makes_late(session, before)
    load = trip.load_number
    jobs.run_notice_pass(now=before, mailer=mailer)
    assert _eta_mails(fleet, load) == []  # on time: nothing to tell yet

    body = {"load_number": load, "minutes": HELD // timedelta(minutes=1)}
    delayed = httpx.post(f"{fleet.url}/_sandbox/fleet/delay", json=body)
    assert delayed.status_code == 200, delayed.text
    assert delayed.json()["load_number"] == load and delayed.json()["next_stop"]["late_minutes"] > 0
    fleet.advance_clock(120)  # the next GPS points come from the delayed truck
    now = _ingest_and_evaluate(fleet)

    session.expire_all()
    trip = session.get(Trip, trip.id)
    stop = _next_stop(session, trip)
    assert _told_eta(trip, stop) > (stop.appointment_end or stop.appointment_start)
    first = jobs.run_notice_pass(now=now, mailer=mailer)
    again = jobs.run_notice_pass(now=now, mailer=mailer)
    assert first.events.get("eta", 0) >= 1 and again.queued == 0

    notices = session.scalars(
        select(CustomerNotice).where(
            CustomerNotice.trip_id == trip.id, CustomerNotice.kind == "eta"
        )
    ).all()
    assert [n.status for n in notices] == ["sent"]
    mails = _eta_mails(fleet, load)
    assert len(mails) == 1
    assert "after the appointment window ends" in mails[0]["text"]
    vehicle = session.get(Vehicle, trip.vehicle_id)
    driver = session.get(Driver, trip.driver_id)
    text = repr(mails[0])
    for secret in (driver.first_name, driver.last_name, (driver.phone or "")[-7:], vehicle.vin):
        assert not secret or secret not in text, secret
