"""ETA and late-load risk for every active trip, from the truck's last position to its stops.

Distance: PC*MILER practical truck miles when a client is given (cached per origin cell and
destination, and at most `max_lookups` vendor calls per pass so a pass stays fast), otherwise
great-circle miles x `ETA_ROAD_FACTOR`. Time: miles / `ETA_AVERAGE_SPEED_MPH` (a realistic
door-to-door average, not the speed limit). HOS: when the driver's remaining drive time (HOS
clock) runs out before arrival, a 10 h rest is inserted, and again after every further 11 h.
The result is stored on the trip (`eta_next_stop`, `eta_final`, `late_risk_minutes` = minutes
past the next stop's appointment window end, positive = late) and on the next stop (`eta`).
One query reads the state of all active trips; writes are batched and skip unchanged ETAs.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, select, true, update
from sqlalchemy.orm import aliased
from sqlmodel import Session

from config import get_settings
from logic.trips.route_cache import RouteBook
from models.hos import HosClock
from models.location import VehicleLocation
from models.trip import ACTIVE_TRIP_STATUSES, Trip, TripStop, stop_not_reached
from utils.http import VendorError

log = logging.getLogger(__name__)

EARTH_RADIUS_MILES = 3958.8
DAILY_DRIVE_MINUTES = 11 * 60  # FMCSA 11-hour driving limit
REST_MINUTES = 10 * 60  # FMCSA 10 consecutive hours off duty
# A stored ETA within 5 min of the new one is left alone (a late/on-time flip always writes):
# rewriting 10k trips costs ~0.3 s of index maintenance, and minutes don't change a decision.
UNCHANGED_TOLERANCE = timedelta(minutes=5)
_CACHE_TTL_SECONDS = 24 * 3600
_mileage_cache: dict[tuple[float, float, float, float], tuple[float, float]] = {}


def great_circle_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(a)))


def drive_with_rest(drive_minutes: float, remaining_minutes: int | None) -> tuple[float, int]:
    """(elapsed minutes, rests inserted) to drive `drive_minutes` given the HOS drive clock."""
    if remaining_minutes is None or drive_minutes <= max(remaining_minutes, 0):
        return drive_minutes, 0
    left = drive_minutes - max(remaining_minutes, 0)
    rests = math.ceil(left / DAILY_DRIVE_MINUTES)
    return drive_minutes + rests * REST_MINUTES, rests


def clear_mileage_cache() -> None:
    _mileage_cache.clear()


class RoadMiles:
    """Road miles between two points: cached PC*MILER, else great-circle x road factor."""

    def __init__(self, pcmiler: Any | None = None, *, max_lookups: int = 25) -> None:
        self.pcmiler = pcmiler
        self.lookups_left = max_lookups if pcmiler is not None else 0
        self.road_factor = get_settings().ETA_ROAD_FACTOR
        self.vendor_calls = 0
        self.cache_hits = 0

    def miles(self, lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, str]:
        """(miles, source) where source is `pcmiler` or `great_circle`."""
        if self.pcmiler is not None:
            # Origins move; a ~1 km cell keeps the cache useful without visible error.
            key = (round(lat1, 2), round(lon1, 2), round(lat2, 4), round(lon2, 4))
            cached = _mileage_cache.get(key)
            if cached is not None and time.monotonic() - cached[1] < _CACHE_TTL_SECONDS:
                self.cache_hits += 1
                return cached[0], "pcmiler"
            if self.lookups_left > 0:
                self.lookups_left -= 1
                self.vendor_calls += 1
                try:
                    from utils.pcmiler_client import GeoPoint

                    report = self.pcmiler.mileage([GeoPoint(lat1, lon1), GeoPoint(lat2, lon2)])
                    _mileage_cache[key] = (float(report.miles), time.monotonic())
                    return float(report.miles), "pcmiler"
                except (VendorError, ValueError) as exc:
                    log.warning("PC*MILER unavailable, using great-circle miles: %s", exc)
                    self.lookups_left = 0  # one failure: don't stall the pass on a dead vendor
        return great_circle_miles(lat1, lon1, lat2, lon2) * self.road_factor, "great_circle"


@dataclass
class TripEta:
    trip_id: int
    stop_id: int
    eta_next_stop: datetime
    eta_final: datetime
    late_risk_minutes: int | None
    miles: float
    miles_source: str
    rests: int
    legs: list[float] = field(default_factory=list)


@dataclass
class EtaReport:
    trips: int = 0
    computed: int = 0
    written: int = 0
    without_position: int = 0
    pcmiler_calls: int = 0
    etas: dict[int, TripEta] = field(default_factory=dict)


def _active_state_query(dialect: str = "sqlite", positions: Any | None = None):
    """Active trips with their next stop, the truck's newest position and the HOS clock.

    `positions`, when given, is a table of the newest position per truck (vehicle_id,
    latitude, longitude, recorded_at) already computed for this pass. Otherwise the newest
    position is one backward index probe per truck: a LATERAL … LIMIT 1 on PostgreSQL, a
    correlated max() joined back on the primary key elsewhere.
    """
    # The next stop is the first not reached: a truck at the dock is routed to the one after.
    pending = stop_not_reached()
    next_seq = (
        select(
            TripStop.trip_id,
            func.min(TripStop.sequence).label("seq"),
            func.count().label("remaining"),
        )
        .where(pending)
        .group_by(TripStop.trip_id)
        .subquery()
    )
    stop = aliased(TripStop)
    position: Any
    if positions is not None:
        position, loc = positions, positions.c
        on_position = loc.vehicle_id == Trip.vehicle_id
    elif dialect == "postgresql":
        position = (
            select(VehicleLocation.latitude, VehicleLocation.longitude, VehicleLocation.recorded_at)
            .where(VehicleLocation.vehicle_id == Trip.vehicle_id)
            .order_by(VehicleLocation.recorded_at.desc())
            .limit(1)
            .lateral("loc")
        )
        loc = position.c
        on_position = true()
    else:
        loc = position = aliased(VehicleLocation)
        newest = (
            select(func.max(VehicleLocation.recorded_at))
            .where(VehicleLocation.vehicle_id == Trip.vehicle_id)
            .correlate(Trip)
            .scalar_subquery()
        )
        on_position = and_(loc.vehicle_id == Trip.vehicle_id, loc.recorded_at == newest)
    return (
        select(
            Trip.id,
            Trip.driver_id,
            Trip.eta_next_stop,
            Trip.late_risk_minutes,
            stop.id.label("stop_id"),
            stop.latitude.label("stop_lat"),
            stop.longitude.label("stop_lon"),
            stop.appointment_start,
            stop.appointment_end,
            loc.latitude.label("lat"),
            loc.longitude.label("lon"),
            loc.recorded_at,
            HosClock.drive_remaining_minutes,
            next_seq.c.remaining,
        )
        .select_from(Trip)
        .join(next_seq, next_seq.c.trip_id == Trip.id)
        .join(stop, and_(stop.trip_id == Trip.id, stop.sequence == next_seq.c.seq))
        .join(position, on_position)
        .outerjoin(HosClock, HosClock.driver_id == Trip.driver_id)
        .where(Trip.status.in_([s.value for s in ACTIVE_TRIP_STATUSES]))
    )


def _later_stops(session: Session, trip_ids: list[int]) -> dict[int, list[tuple]]:
    """Every not-yet-reached stop of the given trips, in sequence, as (lat, lon, stop id)."""
    if not trip_ids:
        return {}
    rows = session.execute(
        select(
            TripStop.trip_id, TripStop.sequence, TripStop.latitude, TripStop.longitude, TripStop.id
        )
        .where(TripStop.trip_id.in_(trip_ids))
        .where(stop_not_reached())
        .order_by(TripStop.trip_id, TripStop.sequence)
    ).all()
    stops: dict[int, list[tuple]] = {}
    for trip_id, _seq, lat, lon, stop_id in rows:
        stops.setdefault(trip_id, []).append((lat, lon, stop_id))
    return stops


def compute_etas(
    session: Session,
    *,
    now: datetime,
    pcmiler: Any | None = None,
    max_lookups: int = 25,
    write: bool = True,
    positions: Any | None = None,
    routes: RouteBook | None = None,
) -> EtaReport:
    """Compute (and by default store) the ETA and late risk of every active trip.

    `positions`: the pass's newest-position snapshot (see `_active_state_query`), if any.
    `routes`: the pass's cached routes; road miles come from them (no vendor call in the pass)
    and the re-routes they want are left in `routes.wanted` for after the commit.
    """
    settings = get_settings()
    speed = settings.ETA_AVERAGE_SPEED_MPH
    road = RoadMiles(pcmiler, max_lookups=max_lookups)
    report = EtaReport()
    rows = session.execute(_active_state_query(session.get_bind().dialect.name, positions)).all()
    # Only trips with stops beyond the next one need the chain (most have one stop left).
    later = _later_stops(session, [r.id for r in rows if r.remaining > 1])
    changed: list[dict[str, Any]] = []
    for row in rows:
        report.trips += 1
        if row.stop_lat is None or row.stop_lon is None or row.lat is None:
            report.without_position += 1
            continue
        chain = later.get(row.id) or [(row.stop_lat, row.stop_lon, row.stop_id)]
        routed = _routed_legs(routes, row, chain)
        if routed is not None:
            miles, source = routed[0], "pcmiler"
        else:
            miles, source = road.miles(row.lat, row.lon, row.stop_lat, row.stop_lon)
        drive_next = miles / speed * 60
        # The rest of the trip after the next stop: the cached route's legs, else great
        # circle x road factor (no vendor call for legs that do not decide lateness).
        rest_miles = 0.0
        legs = [drive_next]  # drive minutes per leg, for the legal ETA (logic/trips/legal_eta.py)
        if routed is not None:
            for leg in routed[1:]:
                rest_miles += leg
                legs.append(leg / speed * 60)
        else:
            for (a_lat, a_lon, _), (b_lat, b_lon, _) in itertools.pairwise(chain):
                if None not in (a_lat, a_lon, b_lat, b_lon):
                    leg = great_circle_miles(a_lat, a_lon, b_lat, b_lon) * road.road_factor
                    rest_miles += leg
                    legs.append(leg / speed * 60)
        elapsed_next, rests = drive_with_rest(drive_next, row.drive_remaining_minutes)
        elapsed_all, _ = drive_with_rest(
            drive_next + rest_miles / speed * 60, row.drive_remaining_minutes
        )
        eta_next = now + timedelta(minutes=elapsed_next)
        eta_final = now + timedelta(minutes=elapsed_all)
        window_end = row.appointment_end or row.appointment_start
        late = (
            math.floor((eta_next - window_end).total_seconds() / 60)
            if window_end is not None
            else None
        )
        eta = TripEta(row.id, row.stop_id, eta_next, eta_final, late, miles, source, rests, legs)
        report.etas[row.id] = eta
        report.computed += 1
        if (
            row.eta_next_stop is None
            or abs(row.eta_next_stop - eta_next) >= UNCHANGED_TOLERANCE
            or (row.late_risk_minutes is None) != (late is None)
            or (late is not None and (row.late_risk_minutes > 0) != (late > 0))
        ):
            changed.append(
                {
                    "b_id": row.id,
                    "b_stop": row.stop_id,
                    "b_next": eta_next,
                    "b_final": eta_final,
                    "b_late": late,
                    "b_now": now,
                }
            )
    report.pcmiler_calls = road.vendor_calls
    if write and changed:
        _write(session, changed)
        report.written = len(changed)
    return report


def _routed_legs(routes: RouteBook | None, row: Any, chain: list[tuple]) -> list[float] | None:
    """Miles per remaining leg from the trip's cached route (logic/trips/route_cache.py)."""
    if routes is None or any(lat is None or lon is None for lat, lon, _ in chain):
        return None
    stops = [(stop_id, lat, lon) for lat, lon, stop_id in chain]
    return routes.legs(row.id, (row.lat, row.lon), stops)


def _write(session: Session, changed: list[dict[str, Any]]) -> None:
    trip = Trip.__table__
    stop = TripStop.__table__
    if session.get_bind().dialect.name == "postgresql":
        _write_postgres(session, changed)
        return
    session.execute(
        update(trip)
        .where(trip.c.id == bindparam("b_id"))
        .values(
            eta_next_stop=bindparam("b_next", type_=trip.c.eta_next_stop.type),
            eta_final=bindparam("b_final", type_=trip.c.eta_final.type),
            late_risk_minutes=bindparam("b_late"),
            eta_updated_at=bindparam("b_now", type_=trip.c.eta_updated_at.type),
        ),
        changed,
    )
    session.execute(
        update(stop)
        .where(stop.c.id == bindparam("b_stop"))
        .values(
            eta=bindparam("b_next", type_=stop.c.eta.type),
            updated_at=bindparam("b_now", type_=stop.c.updated_at.type),
        ),
        changed,
    )


def _write_postgres(session: Session, changed: list[dict[str, Any]]) -> None:
    """One statement for both tables (`UPDATE … FROM (VALUES …)` in a CTE): psycopg2's
    executemany is a loop of round trips. ETAs travel as whole microseconds after `now`
    (exact, and integers format ~10x faster than timestamps, which matters at 10k rows)."""
    now = changed[0]["b_now"]
    micro = timedelta(microseconds=1)
    values = ",".join(
        f"({c['b_id']:d},{c['b_stop']:d},{(c['b_next'] - now) // micro:d},"
        f"{(c['b_final'] - now) // micro:d},{'NULL' if c['b_late'] is None else int(c['b_late'])})"
        for c in changed
    )
    connection = session.connection().connection.dbapi_connection
    # `values` holds nothing but integers formatted with :d above (and NULL): no injection.
    statement = (
        f"WITH v(id, stop_id, next_us, final_us, late) AS (VALUES {values}), "  # noqa: S608
        "w AS (SELECT id, stop_id, late, "
        "%(now)s::timestamptz + next_us * interval '1 microsecond' AS next, "
        "%(now)s::timestamptz + final_us * interval '1 microsecond' AS final FROM v), "
        "t AS (UPDATE trip SET eta_next_stop = w.next, eta_final = w.final, "
        "late_risk_minutes = w.late::int, eta_updated_at = %(now)s "
        "FROM w WHERE trip.id = w.id) "
        "UPDATE trip_stop SET eta = w.next, updated_at = %(now)s "
        "FROM w WHERE trip_stop.id = w.stop_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, {"now": now})
