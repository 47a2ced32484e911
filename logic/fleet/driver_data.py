"""Everything needed to talk to one driver, in one response: profile, current trip and its
next stop, truck position, HOS clock, and recent HOS violations and safety events."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy.orm import joinedload, selectinload
from sqlmodel import Session, select

from helpers.time_utils import utc_now
from logic.fleet.drivers import get_driver
from logic.fleet.trips import trip_detail
from models.driver import DriverPublic
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
    since = (now or utc_now()) - RECENT_WINDOW
    trip = session.scalars(
        select(Trip)
        .where(Trip.driver_id == driver_id, Trip.status.in_([str(s) for s in ACTIVE_TRIP_STATUSES]))
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
        .limit(1)
    ).first()
    clock = HosClock.for_driver(session, driver_id)
    violations = HosViolation.recent_for_driver(session, driver_id, since=since, limit=RECENT_LIMIT)
    events = SafetyEvent.recent_for_driver(session, driver_id, since=since, limit=RECENT_LIMIT)
    return DriverData(
        driver=DriverPublic.model_validate(driver),
        current_trip=trip_detail(session, trip) if trip else None,
        hos_clock=HosClockPublic.model_validate(clock) if clock else None,
        recent_violations=[HosViolationPublic.model_validate(v) for v in violations],
        recent_safety_events=[SafetyEventPublic.model_validate(e) for e in events],
        window_start=since,
    )
