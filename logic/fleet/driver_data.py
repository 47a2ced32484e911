"""Everything needed to talk to a driver, in one response: profile, current trip and its next
stop, truck position, HOS clock, and recent HOS violations and safety events — for one driver
(`driver_data`) or read together for a batch of them (`drivers_data`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy.orm import joinedload, selectinload
from sqlmodel import Session, select

from helpers.time_utils import utc_now
from logic.fleet.drivers import get_driver
from logic.fleet.trips import trip_detail
from models.driver import Driver, DriverPublic
from models.hos import HosClock, HosClockPublic, HosViolation, HosViolationPublic
from models.safety_event import SafetyEvent, SafetyEventPublic
from models.trip import ACTIVE_TRIP_STATUSES, Trip, TripDetail, TripStatus

RECENT_WINDOW = timedelta(days=30)
RECENT_LIMIT = 10


class DriverData(BaseModel):
    driver: DriverPublic
    current_trip: TripDetail | None
    hos_clock: HosClockPublic | None
    recent_violations: list[HosViolationPublic]
    recent_safety_events: list[SafetyEventPublic]
    window_start: datetime


def driver_data(session: Session, driver_id: int, *, now: datetime | None = None) -> DriverData:
    """The current trip is the one in transit, else the latest dispatched one."""
    driver = get_driver(session, driver_id)
    return drivers_data(session, [driver], now=now)[driver.id]


def drivers_data(
    session: Session, drivers: Sequence[Driver], *, now: datetime | None = None
) -> dict[int, DriverData]:
    """`driver_data` of each driver (by id), in a fixed number of queries for the batch plus
    the current trips' details: a campaign's or a bulk request's calls read them together."""
    ids = list(dict.fromkeys(d.id for d in drivers))
    if not ids:
        return {}
    since = (now or utc_now()) - RECENT_WINDOW
    trips = _current_trips(session, ids)
    clocks = {
        clock.driver_id: clock
        for clock in session.scalars(select(HosClock).where(HosClock.driver_id.in_(ids)))
    }
    violations = _recent(session, HosViolation, HosViolation.started_at, ids, since)
    events = _recent(session, SafetyEvent, SafetyEvent.occurred_at, ids, since)
    return {
        driver.id: DriverData(
            driver=DriverPublic.model_validate(driver),
            current_trip=trip_detail(session, trip) if (trip := trips.get(driver.id)) else None,
            hos_clock=HosClockPublic.model_validate(clock)
            if (clock := clocks.get(driver.id))
            else None,
            recent_violations=[
                HosViolationPublic.model_validate(v) for v in violations.get(driver.id, [])
            ],
            recent_safety_events=[
                SafetyEventPublic.model_validate(e) for e in events.get(driver.id, [])
            ],
            window_start=since,
        )
        for driver in drivers
    }


def _current_trips(session: Session, driver_ids: list[int]) -> dict[int, Trip]:
    """Each driver's trip in transit, else its latest dispatched one."""
    trips = session.scalars(
        select(Trip)
        .where(
            Trip.driver_id.in_(driver_ids),
            Trip.status.in_([str(s) for s in ACTIVE_TRIP_STATUSES]),
        )
        .options(
            joinedload(Trip.driver),
            joinedload(Trip.vehicle),
            joinedload(Trip.trailer),
            selectinload(Trip.stops),
        )
        .order_by(
            (Trip.status == TripStatus.IN_TRANSIT).desc(),
            Trip.scheduled_start.desc().nulls_last(),
            Trip.id.desc(),
        )
    ).unique()
    current: dict[int, Trip] = {}
    for trip in trips:
        current.setdefault(trip.driver_id, trip)
    return current


def _recent(
    session: Session, model: Any, occurred: Any, driver_ids: list[int], since: datetime
) -> dict[int, list[Any]]:
    """Each driver's latest `RECENT_LIMIT` rows of `model` since `since`, newest first."""
    rank = (
        func.row_number().over(partition_by=model.driver_id, order_by=occurred.desc()).label("rank")
    )
    ranked = (
        select(model.id.label("id"), rank)
        .where(model.driver_id.in_(driver_ids), occurred >= since)
        .subquery()
    )
    rows = session.scalars(
        select(model)
        .join(ranked, ranked.c.id == model.id)
        .where(ranked.c.rank <= RECENT_LIMIT)
        .order_by(model.driver_id, occurred.desc())
    )
    recent: dict[int, list[Any]] = {}
    for row in rows:
        recent.setdefault(row.driver_id, []).append(row)
    return recent
