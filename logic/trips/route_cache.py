"""Routing budget: a trip's remaining legs routed once by PC*MILER, then advanced from GPS.

A pass reads every cached route in one query (`RouteBook.load`) and, per trip, either advances
the cached route (the first leg shrinks by the truck's progress along it) or asks for a new one.
A re-route is wanted only when there is no route, the stops changed (`stops_key`), the truck left
the route's corridor (farther than `ROUTE_CORRIDOR_MILES` from it), or the route is older than
`ROUTE_MAX_AGE_MINUTES` *and* the truck has moved since (a parked or resting truck keeps its
route). A truck at its next stop is never routed.

The vendor is never called inside the pass's transaction: the pass collects the wanted routes,
and `refresh_routes` asks PC*MILER after commit (at most `ROUTE_MAX_REQUESTS` per pass, the most
urgent first) and stores the answers in `trip_route` for every instance and the next pass.
The corridor is the straight segment from the route's origin to its first stop on a local flat
projection: the cached answer has no geometry, and the mileage only needs progress along it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from config import get_settings
from db.database import session_scope
from db.upsert import bulk_upsert
from models.trip import ACTIVE_TRIP_STATUSES, Trip
from models.vendor_cache import RouteRefreshClaim, TripRoute
from utils.http import VendorError

log = logging.getLogger(__name__)

MILES_PER_DEGREE = 69.09
AT_STOP_MILES = 1.0  # within this of the next stop the truck is there: nothing to route
MOVED_MILES = 2.0  # an aged route is refreshed only once the truck moved this far from it
# How long a pass's claim on a route refresh keeps other passes off it: far longer than a batch
# of PC*MILER requests takes, short enough that a pass that died is retried by the next ones.
CLAIM_LEASE = timedelta(minutes=2)
# Most urgent first when the budget cannot take every wanted route.
URGENCY = {"new": 0, "stops_changed": 1, "off_corridor": 2, "aged": 3}

Stop = tuple[int, float, float]  # (stop id, lat, lon)


@dataclass(frozen=True)
class CachedRoute:
    trip_id: int
    stops_key: str
    origin_lat: float
    origin_lon: float
    first_lat: float
    first_lon: float
    leg_miles: tuple[float, ...]
    fetched_at: datetime
    leg_minutes: tuple[float, ...] = ()


@dataclass(frozen=True)
class RouteRequest:
    trip_id: int
    reason: str
    origin: tuple[float, float]
    stops: tuple[Stop, ...]
    stops_key: str
    seen_fetched_at: datetime | None = None  # the cached route the pass judged (None: none)


def stops_key(stops: Sequence[Stop]) -> str:
    return "|".join(f"{sid}:{lat:.4f},{lon:.4f}" for sid, lat, lon in stops)[:400]


def _flat(lat: float, lon: float, ref_lat: float) -> tuple[float, float]:
    return lon * MILES_PER_DEGREE * math.cos(math.radians(ref_lat)), lat * MILES_PER_DEGREE


def corridor_position(
    origin: tuple[float, float], end: tuple[float, float], point: tuple[float, float]
) -> tuple[float, float]:
    """(miles from the origin→end segment, fraction of it behind the point, 0..1)."""
    ref = (origin[0] + end[0]) / 2
    ox, oy = _flat(*origin, ref)
    ex, ey = _flat(*end, ref)
    px, py = _flat(*point, ref)
    dx, dy = ex - ox, ey - oy
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else ((px - ox) * dx + (py - oy) * dy) / length2
    t = min(max(t, 0.0), 1.0)
    return math.hypot(px - (ox + t * dx), py - (oy + t * dy)), t


def flat_miles(a: tuple[float, float], b: tuple[float, float]) -> float:
    ref = (a[0] + b[0]) / 2
    ax, ay = _flat(*a, ref)
    bx, by = _flat(*b, ref)
    return math.hypot(ax - bx, ay - by)


def why_reroute(
    route: CachedRoute | None,
    key: str,
    truck: tuple[float, float],
    now: datetime,
    *,
    max_age: timedelta,
    corridor_miles: float,
) -> str | None:
    """The reason this trip needs a new route now, or None to keep advancing the cached one."""
    if route is None:
        return "new"
    if route.stops_key != key:
        return "stops_changed"
    origin = (route.origin_lat, route.origin_lon)
    offset, _ = corridor_position(origin, (route.first_lat, route.first_lon), truck)
    if offset > corridor_miles:
        return "off_corridor"
    if now - route.fetched_at > max_age and flat_miles(origin, truck) > MOVED_MILES:
        return "aged"
    return None


def advance(route: CachedRoute, truck: tuple[float, float]) -> list[float]:
    """Remaining miles per leg: the first leg less the truck's progress along it."""
    _, done = corridor_position(
        (route.origin_lat, route.origin_lon), (route.first_lat, route.first_lon), truck
    )
    return [route.leg_miles[0] * (1.0 - done), *route.leg_miles[1:]]


@dataclass
class RouteBook:
    """The cached routes for one pass and the re-routes the pass found it needs."""

    routes: dict[int, CachedRoute]
    now: datetime
    max_age: timedelta
    corridor_miles: float
    wanted: list[RouteRequest] = field(default_factory=list)
    advanced: int = 0

    @classmethod
    def empty(cls, now: datetime) -> RouteBook:
        settings = get_settings()
        return cls(
            {},
            now,
            timedelta(minutes=settings.ROUTE_MAX_AGE_MINUTES),
            settings.ROUTE_CORRIDOR_MILES,
        )

    @classmethod
    def load(cls, session: Session, now: datetime) -> RouteBook:
        """Every active trip's cached route, in one query."""
        book = cls.empty(now)
        rows = session.execute(
            select(
                TripRoute.trip_id,
                TripRoute.stops_key,
                TripRoute.origin_lat,
                TripRoute.origin_lon,
                TripRoute.leg_miles,
                TripRoute.fetched_at,
            )
            .join(Trip, Trip.id == TripRoute.trip_id)
            .where(Trip.status.in_([s.value for s in ACTIVE_TRIP_STATUSES]))
        ).all()
        for trip_id, key, lat, lon, miles, fetched in rows:
            first = key.split("|", 1)[0].split(":", 1)[1].split(",")
            book.routes[trip_id] = CachedRoute(
                trip_id, key, lat, lon, float(first[0]), float(first[1]), tuple(miles), fetched
            )
        return book

    def legs(
        self, trip_id: int, truck: tuple[float, float], stops: Sequence[Stop]
    ) -> list[float] | None:
        """Road miles per remaining leg from the cached route (None: no usable route yet, the
        caller estimates); notes a wanted re-route."""
        key = stops_key(stops)
        route = self.routes.get(trip_id)
        at_stop = flat_miles(truck, (stops[0][1], stops[0][2])) <= AT_STOP_MILES
        reason = None if at_stop else self._why(route, key, truck)
        if reason is not None:
            seen = route.fetched_at if route is not None else None
            self.wanted.append(RouteRequest(trip_id, reason, truck, tuple(stops), key, seen))
        if route is None or route.stops_key != key:
            return None
        self.advanced += 1
        return advance(route, truck)

    def _why(self, route: CachedRoute | None, key: str, truck: tuple[float, float]) -> str | None:
        return why_reroute(
            route, key, truck, self.now, max_age=self.max_age, corridor_miles=self.corridor_miles
        )

    def store(self, route: CachedRoute) -> None:
        self.routes[route.trip_id] = route


def fetch_routes(
    pcmiler: Any, wanted: Sequence[RouteRequest], *, now: datetime, max_requests: int
) -> list[CachedRoute]:
    """Ask PC*MILER for the most urgent `max_requests` wanted routes (no database here); a
    vendor failure stops the batch (the next pass asks again)."""
    from utils.pcmiler_client import GeoPoint

    routes = []
    for request in sorted(wanted, key=lambda r: URGENCY[r.reason])[:max_requests]:
        points = [GeoPoint(*request.origin)] + [GeoPoint(lat, lon) for _, lat, lon in request.stops]
        try:
            report = pcmiler.mileage(points)
        except (VendorError, ValueError) as exc:
            log.warning("PC*MILER routing failed, keeping cached routes: %s", exc)
            break
        legs = tuple(line.leg_miles for line in report.lines[1:])
        minutes = tuple(line.leg_minutes for line in report.lines[1:])
        if len(legs) != len(request.stops):
            continue
        first = request.stops[0]
        routes.append(
            CachedRoute(
                request.trip_id,
                request.stops_key,
                request.origin[0],
                request.origin[1],
                first[1],
                first[2],
                legs,
                now,
                minutes,
            )
        )
    return routes


def save_routes(session: Session, routes: Sequence[CachedRoute]) -> None:
    """Upsert fetched routes (one statement per batch) on `trip_id`."""
    bulk_upsert(
        session,
        TripRoute,
        [
            {
                "trip_id": r.trip_id,
                "stops_key": r.stops_key,
                "origin_lat": r.origin_lat,
                "origin_lon": r.origin_lon,
                "leg_miles": list(r.leg_miles),
                "leg_minutes": list(r.leg_minutes),
                "fetched_at": r.fetched_at,
            }
            for r in routes
        ],
        conflict_columns=["trip_id"],
    )


def refresh_routes(
    pcmiler: Any, wanted: Sequence[RouteRequest], *, now: datetime
) -> list[CachedRoute]:
    """After a pass has committed: claim the wanted routes, fetch the claimed ones, then store
    them in their own short transaction (never holding a connection while PC*MILER answers)."""
    if pcmiler is None or not wanted:
        return []
    max_requests = get_settings().ROUTE_MAX_REQUESTS
    urgent_first = sorted(wanted, key=lambda r: URGENCY[r.reason])
    claimed = _claim(urgent_first, now=now, limit=max_requests)
    routes = fetch_routes(pcmiler, claimed, now=now, max_requests=max_requests)
    if routes:
        with session_scope() as session:
            save_routes(session, routes)
    return routes


def _claim(wanted: Sequence[RouteRequest], *, now: datetime, limit: int) -> list[RouteRequest]:
    """The first `limit` requests still wanted (no other pass stored a route since this one read
    the cache) that this pass now holds the claim for. Another pass that judged the same routes
    stale at the same moment finds them claimed and leaves them: one PC*MILER request each."""
    with session_scope() as session:
        stored = dict(
            session.execute(
                select(TripRoute.trip_id, TripRoute.fetched_at).where(
                    TripRoute.trip_id.in_([w.trip_id for w in wanted])
                )
            ).all()
        )
        still = [w for w in wanted if stored.get(w.trip_id) == w.seen_fetched_at][:limit]
        if not still:
            return []
        ids = [w.trip_id for w in still]
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(RouteRefreshClaim)
            .values([{"trip_id": i, "claimed_until": now} for i in ids])
            .on_conflict_do_nothing(index_elements=["trip_id"])
        )
        # A row claimed by a concurrent pass is locked or already pushed past `now`: this
        # conditional update skips it (PostgreSQL re-checks the condition after the lock).
        won = set(
            session.scalars(
                update(RouteRefreshClaim)
                .where(RouteRefreshClaim.trip_id.in_(ids), RouteRefreshClaim.claimed_until <= now)
                .values(claimed_until=now + CLAIM_LEASE)
                .returning(RouteRefreshClaim.trip_id)
            )
        )
    return [w for w in still if w.trip_id in won]
