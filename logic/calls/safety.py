"""Safe to call: is the driver driving, or resting, right now? Read from stored HOS and GPS only.

A driver whose duty status is `driving`, or whose truck's latest position (at most
`POSITION_MAX_AGE` old) moves faster than `CALL_MOVING_MPH`, is driving: the call waits
(`driver_driving`) unless the policy (or the agent profile) allows hands-free calls —
49 CFR 392.82 bans hand-held phone use while driving, not hands-free. A driver in the sleeper
berth or off duty is resting until their rest period (`REST_PERIOD`, 10 h, counted from the
start of the ongoing HOS log segment, else the clock's time) is over (`driver_resting`), unless
the call's purpose is urgent (`CALL_URGENT_PURPOSES`). Each answer says until when to wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from helpers.time_utils import make_timezone_aware
from models.hos import DutyStatus, HosClock, HosLog
from models.location import VehicleLocation
from models.trip import ACTIVE_TRIP_STATUSES, Trip

REST_PERIOD = timedelta(hours=10)
POSITION_MAX_AGE = timedelta(minutes=10)
# A driving driver is looked at again this soon (trucks stop for fuel, breaks, deliveries).
DRIVING_RECHECK = timedelta(minutes=15)
RESTING = (DutyStatus.SLEEPER_BERTH, DutyStatus.OFF_DUTY)


@dataclass(frozen=True)
class Unsafe:
    """Why the driver may not be called now, and when to look again."""

    reason: str  # "driver_driving" | "driver_resting"
    message: str
    retry_at: datetime


def unsafe_drivers(
    session: Session,
    driver_ids: Sequence[int],
    *,
    now: datetime,
    moving_mph: float,
    hands_free: bool = False,
) -> dict[int, Unsafe]:
    """Drivers among `driver_ids` who are driving or resting now, in three queries."""
    ids = list(driver_ids)
    if not ids:
        return {}
    clocks = {
        c.driver_id: c for c in session.scalars(select(HosClock).where(HosClock.driver_id.in_(ids)))
    }
    trucks = {
        driver_id: vehicle_id
        for driver_id, vehicle_id in session.execute(
            select(Trip.driver_id, Trip.vehicle_id).where(
                Trip.driver_id.in_(ids),
                Trip.status.in_(list(ACTIVE_TRIP_STATUSES)),
                Trip.vehicle_id.is_not(None),
            )
        )
    }
    for driver_id, clock in clocks.items():
        if clock.vehicle_id is not None:
            trucks[driver_id] = clock.vehicle_id
    positions = VehicleLocation.latest_for_vehicles(session, sorted(set(trucks.values())))
    resting = [d for d, c in clocks.items() if c.duty_status in RESTING]
    rests = _rest_starts(session, resting, now - 2 * REST_PERIOD)
    unsafe: dict[int, Unsafe] = {}
    for driver_id in ids:
        clock = clocks.get(driver_id)
        position = positions.get(trucks.get(driver_id)) if driver_id in trucks else None
        speed = None
        if position is not None and position.speed_mph is not None:
            fresh = now - make_timezone_aware(position.recorded_at) <= POSITION_MAX_AGE
            speed = position.speed_mph if fresh else None
        driving = clock is not None and clock.duty_status == DutyStatus.DRIVING
        moving = speed is not None and speed > moving_mph
        if (driving or moving) and not hands_free:
            why = f"the truck is moving at {speed:.0f} mph" if moving else "HOS status is driving"
            unsafe[driver_id] = Unsafe(
                "driver_driving", f"driver {driver_id} is driving ({why})", now + DRIVING_RECHECK
            )
        elif clock is not None and clock.duty_status in RESTING:
            started = rests.get(driver_id) or make_timezone_aware(clock.as_of)
            until = started + REST_PERIOD
            if until > now:
                unsafe[driver_id] = Unsafe(
                    "driver_resting",
                    f"driver {driver_id} is resting ({clock.duty_status.replace('_', ' ')} since "
                    f"{started:%H:%M} UTC) until {until:%H:%M} UTC",
                    until,
                )
    return unsafe


def _rest_starts(session: Session, driver_ids: list[int], since: datetime) -> dict[int, datetime]:
    """When each driver's ongoing off-duty or sleeper segment began (consecutive rest
    segments count as one rest)."""
    if not driver_ids:
        return {}
    rows = session.execute(
        select(HosLog.driver_id, HosLog.duty_status, HosLog.start_at)
        .where(HosLog.driver_id.in_(driver_ids), HosLog.start_at >= since)
        .order_by(HosLog.driver_id, HosLog.start_at.desc())
    ).all()
    starts: dict[int, datetime] = {}
    closed: set[int] = set()
    for driver_id, status, start_at in rows:
        if driver_id in closed:
            continue
        if status in RESTING:
            starts[driver_id] = make_timezone_aware(start_at)
        else:
            closed.add(driver_id)
    return starts
