"""One driver's HOS projection on the current trip, for `GET /drivers/{id}/hos-projection`:
the clocks now, when each runs out on the plan, the rests the plan needs, the legal ETA per stop.

Same inputs as the fleet pass (logic/trips/eta.py, legal_eta.py): the truck's newest position,
the trip's cached route when it still matches the stops (else great circle x road factor), the
average speed, the dwell per intermediate stop, the driver's clock caught up to now.
"""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from config import get_settings
from helpers.errors import NotFound
from logic.hos.projection import Clocks, project
from logic.trips.eta import great_circle_miles
from logic.trips.legal_eta import RESTING_STATUSES, clocks_now, resting_since
from logic.trips.route_cache import CachedRoute, advance, stops_key
from models.driver import Driver
from models.hos import (
    ClockProjectionPublic,
    DutyStatus,
    HosClock,
    HosProjectionPublic,
    PlannedRestPublic,
    StopProjectionPublic,
)
from models.location import VehicleLocation
from models.trip import Trip, TripStop, stop_not_reached
from models.vendor_cache import TripRoute

_CLOCKS = ("drive", "shift", "break", "cycle")


def _remaining_stops(session: Session, trip_id: int) -> list[TripStop]:
    return list(
        session.scalars(
            select(TripStop)
            .where(TripStop.trip_id == trip_id, stop_not_reached())
            .order_by(TripStop.sequence)
        )
    )


def _position(session: Session, vehicle_id: int | None) -> tuple[float, float] | None:
    if vehicle_id is None:
        return None
    row = session.execute(
        select(VehicleLocation.latitude, VehicleLocation.longitude)
        .where(VehicleLocation.vehicle_id == vehicle_id)
        .order_by(VehicleLocation.recorded_at.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row and row[0] is not None else None


def _leg_miles(
    session: Session, trip_id: int, truck: tuple[float, float], stops: list[TripStop]
) -> list[float]:
    points = [(s.id, s.latitude, s.longitude) for s in stops]
    cached = session.scalars(select(TripRoute).where(TripRoute.trip_id == trip_id)).first()
    if cached is not None and cached.stops_key == stops_key(points):
        first = points[0]
        route = CachedRoute(
            trip_id,
            cached.stops_key,
            cached.origin_lat,
            cached.origin_lon,
            first[1],
            first[2],
            tuple(cached.leg_miles),
            cached.fetched_at,
        )
        return advance(route, truck)
    factor = get_settings().ETA_ROAD_FACTOR
    chain = [truck, *((lat, lon) for _, lat, lon in points)]
    return [great_circle_miles(*a, *b) * factor for a, b in itertools.pairwise(chain)]


def driver_projection(session: Session, driver_id: int, now: datetime) -> HosProjectionPublic:
    """The projection for one driver; NotFound for an unknown driver or one with no clock."""
    if session.get(Driver, driver_id) is None:
        raise NotFound(f"driver {driver_id} not found")
    clock = HosClock.for_driver(session, driver_id)
    if clock is None:
        raise NotFound(f"driver {driver_id} has no hours-of-service clock yet")
    settings = get_settings()
    since = None
    if clock.duty_status in RESTING_STATUSES:
        since = resting_since(session, [driver_id]).get(driver_id)
    clocks = clocks_now(
        clock.duty_status,
        clock.drive_remaining_minutes,
        clock.shift_remaining_minutes,
        clock.time_until_break_minutes,
        clock.cycle_remaining_minutes,
        clock.as_of,
        now,
        since,
    ) or Clocks(0, 0, 0, 0)
    trip = Trip.current_for_driver(session, driver_id)
    stops = _remaining_stops(session, trip.id) if trip is not None else []
    truck = _position(session, trip.vehicle_id) if trip is not None else None
    usable = truck is not None and all(s.latitude is not None for s in stops) and stops
    miles = _leg_miles(session, trip.id, truck, stops) if usable and trip and truck else []
    legs = [m / settings.ETA_AVERAGE_SPEED_MPH * 60 for m in miles]
    dwell = settings.ETA_STOP_DWELL_MINUTES
    plan = project(clocks, legs, dwell=dwell, cycle_limit=settings.HOS_CYCLE_HOURS * 60)

    def at(minutes: float) -> datetime:
        return now + timedelta(minutes=minutes)

    runs_out = {}
    for rest in plan.rests:
        runs_out.setdefault(rest.clock, at(rest.start))
    left = {"drive": clocks.drive, "shift": clocks.shift, "break": clocks.until_break}
    left["cycle"] = clocks.cycle
    physical = 0.0
    stop_rows = []
    for index, (stop, leg, legal) in enumerate(zip(stops, legs, plan.arrivals, strict=False)):
        physical += leg + (dwell if index else 0.0)
        window_end = stop.appointment_end or stop.appointment_start
        late = math.floor((at(legal) - window_end).total_seconds() / 60) if window_end else None
        stop_rows.append(
            StopProjectionPublic(
                stop_id=stop.id,
                sequence=stop.sequence,
                name=stop.name,
                appointment_start=stop.appointment_start,
                appointment_end=stop.appointment_end,
                eta_no_rest=at(physical),
                eta_legal=at(legal),
                legal_late_minutes=late,
            )
        )
    first = plan.binding
    return HosProjectionPublic(
        driver_id=driver_id,
        trip_id=trip.id if trip else None,
        duty_status=DutyStatus(clock.duty_status),
        as_of=clock.as_of,
        computed_at=now,
        clocks=[
            ClockProjectionPublic(
                clock=name,
                minutes_left=round(max(left[name], 0.0), 1),
                runs_out_at=runs_out.get(name),
            )
            for name in _CLOCKS
        ],
        rests=[
            PlannedRestPublic(kind=r.kind, clock=r.clock, start=at(r.start), end=at(r.end))
            for r in plan.rests
        ],
        stops=stop_rows,
        binding_clock=first.clock if first else None,
        binds_at=at(first.start) if first else None,
        miles_left=round(sum(miles), 1) if miles else None,
        drive_minutes_left=round(sum(legs), 1) if legs else None,
    )
