"""Stop visits from GPS: one set-based pass over every active trip, arrival and departure by
geofence with hysteresis, TMS visits kept beside them, detention figures on each visit.

Each active trip is tracked against one stop (`StopTrack`): the stop it is sitting at, else the
first stop not yet left. Its fence is the Samsara address the stop lies in (circle or polygon,
`FacilityGeofence`), else a circle of `STOP_GEOFENCE_RADIUS_MILES` (per-facility override in
`STOP_OVERRIDES`). Entry takes `STOP_VISIT_POINTS` consecutive points inside, or points inside
for `STOP_VISIT_MINUTES`; exit the same outside a fence `STOP_GEOFENCE_EXIT_FACTOR` wider, so a
truck parked at the edge does not flap. Arrival and departure are the first point of the streak.

Why it is cheap at fleet size: positions are read only for trips whose truck's newest point
(the pass's snapshot, logic/alerts/positions.py) is within `STOP_NEAR_MILES` of the tracked
stop or that are inside or mid-streak, and only points newer than the trip's watermark (one
primary-key range scan per truck). A truck far from its stop costs one row of one join. The
cost of the bound: a truck that enters, satisfies the entry rule and drives more than
`STOP_NEAR_MILES` away all between two passes is not seen (passes run every few minutes).

GPS arrival/departure are stamped on the stop (`visit_arrived_at`, `visit_departed_at`); the
TMS's own columns are never written here, so both stay visible. Works in the caller's
transaction (flushes, never commits).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import Session

from config import get_settings
from logic.trips.eta import great_circle_miles
from models.stop_visit import (
    FacilityGeofence,
    StopTrack,
    StopVisit,
    StopVisitPublic,
    VisitSource,
)
from models.trip import ACTIVE_TRIP_STATUSES, Trip, TripStop, stop_not_done

_ACTIVE = [s.value for s in ACTIVE_TRIP_STATUSES]
_MILES_PER_DEGREE = 69.05
METERS_PER_MILE = 1609.344


@dataclass(frozen=True)
class StopRules:
    """Geofence radius and detention free time for one stop, overrides applied."""

    radius_miles: float
    free_minutes: int


def stop_rules(facility: str | None, customer: str | None) -> StopRules:
    """Settings, then the customer's override, then the facility's (the most specific wins)."""
    settings = get_settings()
    radius = settings.STOP_GEOFENCE_RADIUS_MILES
    free = settings.DETENTION_FREE_MINUTES
    overrides = settings.STOP_OVERRIDES or {}
    for scope, key in (("customers", customer), ("facilities", facility)):
        found = (overrides.get(scope) or {}).get(key or "") if key else None
        if found:
            radius = float(found.get("radius_miles", radius))
            free = int(found.get("free_minutes", free))
    return StopRules(radius, free)


@dataclass(frozen=True)
class Fence:
    """A stop's geofence: a circle (centre, radius in miles) or a polygon of (lat, lon)."""

    latitude: float
    longitude: float
    radius_miles: float
    vertices: tuple[tuple[float, float], ...] | None = None
    label: str = "radius"

    def bounds(self, lat: float, lon: float) -> tuple[float, float]:
        """(inner, outer) miles around the point (lat, lon): every point within `inner` is
        inside the fence, every point inside the fence is within `outer`."""
        if self.vertices:
            return 0.0, max(great_circle_miles(lat, lon, a, b) for a, b in self.vertices)
        off = great_circle_miles(lat, lon, self.latitude, self.longitude)
        return max(0.0, self.radius_miles - off), off + self.radius_miles

    def zone(self, lat: float, lon: float, exit_factor: float) -> str:
        """`in` (inside the entry fence), `out` (outside the exit fence) or `edge` (between)."""
        if self.vertices:
            if _in_polygon(lat, lon, self.vertices):
                return "in"
            # Outside the polygon: the exit band is measured from the nearest vertex/centre.
            band = self.radius_miles * (exit_factor - 1)
            near = min(great_circle_miles(lat, lon, a, b) for a, b in self.vertices)
            return "edge" if near <= band else "out"
        miles = great_circle_miles(lat, lon, self.latitude, self.longitude)
        if miles <= self.radius_miles:
            return "in"
        return "edge" if miles <= self.radius_miles * exit_factor else "out"


def _in_polygon(lat: float, lon: float, vertices: tuple[tuple[float, float], ...]) -> bool:
    """Ray casting on (lon, lat) as a plane: exact enough for a facility-sized polygon."""
    inside = False
    j = len(vertices) - 1
    for i in range(len(vertices)):
        yi, xi = vertices[i]
        yj, xj = vertices[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


@dataclass
class TrackState:
    inside: bool = False
    streak: int = 0
    streak_started_at: datetime | None = None


@dataclass(frozen=True)
class Crossing:
    kind: str  # "arrival" | "departure"
    at: datetime


def advance(
    state: TrackState,
    points: list[tuple[datetime, float, float]],
    fence: Fence,
    *,
    now: datetime,
    min_points: int,
    min_minutes: float,
    exit_factor: float,
) -> list[Crossing]:
    """Feed points (oldest first) through the hysteresis; mutates `state`, returns crossings.

    A streak is consecutive points on the other side of the fence (entry: inside the entry
    fence; exit: outside the exit fence; a point in the band between keeps the current side).
    It completes after `min_points` points, or once its points span `min_minutes`; an entry
    streak also once its first point is `min_minutes` old with nothing contradicting it.
    """
    crossings: list[Crossing] = []
    span = timedelta(minutes=min_minutes)
    for at, lat, lon in points:
        zone = fence.zone(lat, lon, exit_factor)
        crossing = zone == "in" if not state.inside else zone == "out"
        if not crossing:
            state.streak, state.streak_started_at = 0, None
            continue
        if state.streak == 0:
            state.streak_started_at = at
        state.streak += 1
        if state.streak >= min_points or at - state.streak_started_at >= span:
            crossings.append(_flip(state))
    # A parked truck may go silent (engine off at the dock): entry also completes on the
    # clock. Exit never does: a truck that leaves keeps reporting.
    if (
        not state.inside
        and state.streak
        and state.streak_started_at
        and now - state.streak_started_at >= span
    ):
        crossings.append(_flip(state))
    return crossings


def _flip(state: TrackState) -> Crossing:
    assert state.streak_started_at is not None
    crossing = Crossing("departure" if state.inside else "arrival", state.streak_started_at)
    state.inside = not state.inside
    state.streak, state.streak_started_at = 0, None
    return crossing


def detention_minutes(visit_start: datetime, free_minutes: int, end: datetime) -> int:
    """Billable minutes: time past `visit_start` (the detention clock) beyond the free time."""
    held = (end - visit_start).total_seconds() / 60
    return max(0, math.floor(held - free_minutes))


def late_minutes(arrived_at: datetime, window_end: datetime | None) -> int | None:
    """Minutes after the appointment window ended at arrival (> 0 late, <= 0 on time)."""
    if window_end is None:
        return None
    return math.floor((arrived_at - window_end).total_seconds() / 60)


@dataclass
class VisitReport:
    tracked: int = 0  # trips whose stop state may change: positions read
    positions: int = 0
    arrivals: int = 0
    departures: int = 0
    tms_visits: int = 0
    at_stop: set[int] = field(default_factory=set)  # trip ids inside a stop's fence
    departed_visits: list[int] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tracked": self.tracked,
            "positions": self.positions,
            "arrivals": self.arrivals,
            "departures": self.departures,
            "tms_visits": self.tms_visits,
            "at_stop": len(self.at_stop),
            "timings_ms": self.timings_ms,
        }


def track_stop_visits(
    session: Session, *, now: datetime, positions: Any, report: VisitReport | None = None
) -> VisitReport:
    """Run the pass over every active trip; `positions` is the pass's newest-position table."""
    report = report or VisitReport()
    postgres = session.get_bind().dialect.name == "postgresql"
    settings = get_settings()
    clock = _Clock(report)
    rows = _candidates(session, positions, settings.STOP_NEAR_MILES)
    clock.lap("candidates")
    report.tracked = len(rows)
    lookback = now - timedelta(minutes=settings.STOP_VISIT_LOOKBACK_MINUTES)
    since = {r.vehicle_id: max(r.watermark, lookback) if r.watermark else lookback for r in rows}
    points = _read_points(session, since, now, postgres)
    report.positions = sum(len(p) for p in points.values())
    clock.lap("points")
    fences = _Fences(session) if rows else None
    tracks: list[dict[str, Any]] = []
    events: list[tuple[Any, int, Crossing]] = []
    inside_now: dict[int, bool] = {}
    for row in rows:
        stop_id = row.stop_id
        if row.track_stop_id == stop_id:
            state = TrackState(row.inside, row.streak, row.streak_started_at)
        else:
            state = TrackState()  # a new stop to watch: start outside
        lat, lon = row.stop_lat, row.stop_lon
        if lat is None or lon is None:
            continue
        assert fences is not None
        fence = fences.fence_for(lat, lon, stop_rules(row.stop_name, row.customer).radius_miles)
        mine = points.get(row.vehicle_id, [])
        for crossing in advance(
            state,
            mine,
            fence,
            now=now,
            min_points=settings.STOP_VISIT_POINTS,
            min_minutes=settings.STOP_VISIT_MINUTES,
            exit_factor=settings.STOP_GEOFENCE_EXIT_FACTOR,
        ):
            events.append((row, stop_id, crossing))
        inside_now[row.trip_id] = state.inside
        watermark = mine[-1][0] if mine else row.watermark or lookback
        inner, outer = fence.bounds(lat, lon)
        tracks.append(
            {
                "trip_id": row.trip_id,
                "stop_id": stop_id,
                "inside": state.inside,
                "streak": state.streak,
                "streak_started_at": state.streak_started_at,
                "watermark": watermark,
                "inner_miles": inner,
                "outer_miles": outer,
                "updated_at": now,
            }
        )
    clock.lap("hysteresis")
    _write_tracks(session, tracks, postgres)
    clock.lap("tracks")
    # Trucks parked deep inside their fence were not even read: the track table knows them.
    held = set(session.scalars(select(StopTrack.trip_id).where(StopTrack.inside.is_(True))))
    report.at_stop = {t for t in held if inside_now.get(t, True)}
    report.at_stop.update(t for t, inside in inside_now.items() if inside)
    if events:
        _apply_crossings(session, events, fences, now, report)
    report.tms_visits = _sync_tms_visits(session, now)
    report.departed_visits.extend(_close_orphans(session, now))
    clock.lap("visits")
    session.flush()
    return report


class _Clock:
    def __init__(self, report: VisitReport) -> None:
        self.report = report
        self.started = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.report.timings_ms[name] = round((now - self.started) * 1000, 1)
        self.started = now


def _candidates(session: Session, positions: Any, near_miles: float) -> list[Any]:
    """The active trips whose stop state may change this pass, with their tracked stop.

    The tracked stop is the one the truck sits at (track `inside`), else the first stop not yet
    left. Boxes in degrees decide in SQL, so a steady pass returns a handful of rows:
    - no track yet: the truck is within `near_miles` of its next stop (the track is created);
    - outside: the newest point may be inside the fence (`outer_miles` box, conservative up to
      60° latitude), or the next stop changed while the truck is near it;
    - inside: the newest point may be outside the fence (not in the `inner_miles` inscribed
      box), the truck may be leaving;
    - a streak under way (its clock may complete it).
    A truck parked deep inside or driving far away costs one row of one join and no write.
    Intermediate points skipped this way can only be a leave-and-return between two passes,
    which the visit would absorb anyway (one visit per stop, its departure undone).
    """
    pos = positions.c
    next_seq = (
        select(TripStop.trip_id, func.min(TripStop.sequence).label("seq"))
        .where(stop_not_done())
        .group_by(TripStop.trip_id)
        .subquery("next_seq")
    )
    nxt = aliased(TripStop, name="nxt")
    held = aliased(TripStop, name="held")
    k = StopTrack
    inside = func.coalesce(k.inside, False)
    stop_id = case((inside, held.id), else_=nxt.id)
    stop_lat = case((inside, held.latitude), else_=nxt.latitude)
    stop_lon = case((inside, held.longitude), else_=nxt.longitude)

    def box(lat: Any, lon: Any, miles: Any, lon_factor: float) -> Any:
        return and_(
            func.abs(pos.latitude - lat) <= miles / _MILES_PER_DEGREE,
            func.abs(pos.longitude - lon) <= miles * lon_factor / _MILES_PER_DEGREE,
        )

    # At latitudes up to 60° a degree of longitude is at least half a degree of latitude in
    # miles (x2 to contain a circle); and never more than one (x1 keeps a box inside it).
    needs = or_(
        and_(k.trip_id.is_(None), box(nxt.latitude, nxt.longitude, near_miles, 2.0)),
        k.streak > 0,
        and_(
            inside,
            ~box(held.latitude, held.longitude, k.inner_miles * 0.7, 1.0),
        ),
        and_(
            ~inside,
            k.stop_id != nxt.id,
            box(nxt.latitude, nxt.longitude, near_miles, 2.0),
        ),
        and_(~inside, k.stop_id == nxt.id, box(nxt.latitude, nxt.longitude, k.outer_miles, 2.0)),
    )
    query = (
        select(
            Trip.id.label("trip_id"),
            Trip.vehicle_id,
            Trip.customer,
            stop_id.label("stop_id"),
            stop_lat.label("stop_lat"),
            stop_lon.label("stop_lon"),
            case((inside, held.name), else_=nxt.name).label("stop_name"),
            k.stop_id.label("track_stop_id"),
            inside.label("inside"),
            func.coalesce(k.streak, 0).label("streak"),
            k.streak_started_at,
            k.watermark,
        )
        .select_from(Trip)
        .join(positions, pos.vehicle_id == Trip.vehicle_id)
        .outerjoin(k, k.trip_id == Trip.id)
        .outerjoin(held, held.id == k.stop_id)
        .outerjoin(next_seq, next_seq.c.trip_id == Trip.id)
        .outerjoin(nxt, and_(nxt.trip_id == Trip.id, nxt.sequence == next_seq.c.seq))
        .where(Trip.status.in_(_ACTIVE))
        .where(or_(nxt.id.is_not(None), inside))
        .where(needs)
    )
    return session.execute(query).all()


def _read_points(
    session: Session, since: dict[int, datetime], now: datetime, postgres: bool
) -> dict[int, list[tuple[datetime, float, float]]]:
    """Positions after each truck's watermark, oldest first, per vehicle id."""
    out: dict[int, list[tuple[datetime, float, float]]] = {}
    if not since:
        return out
    if postgres:
        ids = list(since)
        # One primary-key range scan per truck (vehicle_id, recorded_at > watermark).
        rows = session.execute(
            text(
                "SELECT w.vid, l.recorded_at, l.latitude, l.longitude "
                "FROM unnest(CAST(:vids AS int[]), CAST(:sinces AS timestamptz[])) "
                "AS w(vid, since) "
                "JOIN vehicle_location l ON l.vehicle_id = w.vid AND l.recorded_at > w.since "
                "AND l.recorded_at <= :now ORDER BY w.vid, l.recorded_at"
            ),
            {"vids": ids, "sinces": [since[v] for v in ids], "now": now},
        )
        for vid, at, lat, lon in rows:
            out.setdefault(vid, []).append((at, lat, lon))
        return out
    from models.location import VehicleLocation as loc

    ids = list(since)
    floor = min(since.values())
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.execute(
            select(loc.vehicle_id, loc.recorded_at, loc.latitude, loc.longitude)
            .where(loc.vehicle_id.in_(chunk), loc.recorded_at > floor, loc.recorded_at <= now)
            .order_by(loc.vehicle_id, loc.recorded_at)
        )
        for vid, at, lat, lon in rows:
            if at > since[vid]:
                out.setdefault(vid, []).append((at, lat, lon))
    return out


class _Fences:
    """Samsara address geofences of the organisation, bucketed by 0.1° cell for lookup."""

    _CELL = 0.1

    def __init__(self, session: Session) -> None:
        self.cells: dict[tuple[int, int], list[FacilityGeofence]] = {}
        self.matched: dict[tuple[float, float], Fence | None] = {}
        for geofence in session.scalars(select(FacilityGeofence)):
            if geofence.latitude is None or geofence.longitude is None:
                continue
            self.cells.setdefault(self._cell(geofence.latitude, geofence.longitude), []).append(
                geofence
            )

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / self._CELL), math.floor(lon / self._CELL))

    def fence_for(self, lat: float, lon: float, radius_miles: float) -> Fence:
        """The Samsara geofence containing the stop's point, else a circle of `radius_miles`."""
        key = (lat, lon)
        if key not in self.matched:
            self.matched[key] = self._match(lat, lon) if self.cells else None
        return self.matched[key] or Fence(lat, lon, radius_miles)

    def _match(self, lat: float, lon: float) -> Fence | None:
        cy, cx = self._cell(lat, lon)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                for g in self.cells.get((cy + dy, cx + dx), []):
                    fence = _geofence(g)
                    if fence is not None and fence.zone(lat, lon, 1.0) == "in":
                        return fence
        return None


def _geofence(g: FacilityGeofence) -> Fence | None:
    assert g.latitude is not None and g.longitude is not None
    label = f"samsara:{g.samsara_id}"
    if g.vertices and len(g.vertices) >= 3:
        vertices = tuple((float(v["latitude"]), float(v["longitude"])) for v in g.vertices)
        # A polygon's "radius" is its farthest vertex from the centre: it sizes the exit band.
        span = max(great_circle_miles(g.latitude, g.longitude, a, b) for a, b in vertices)
        return Fence(g.latitude, g.longitude, span, vertices, label)
    if g.radius_meters:
        return Fence(g.latitude, g.longitude, g.radius_meters / METERS_PER_MILE, None, label)
    return None


def _write_tracks(session: Session, tracks: list[dict[str, Any]], postgres: bool) -> None:
    if not tracks:
        return
    table = StopTrack.__table__
    columns = [
        "stop_id",
        "inside",
        "streak",
        "streak_started_at",
        "watermark",
        "inner_miles",
        "outer_miles",
        "updated_at",
    ]
    if postgres:
        connection = session.connection().connection.dbapi_connection
        with connection.cursor() as cursor:
            values = b",".join(
                cursor.mogrify(
                    "(%s,%s,%s,%s,%s::timestamptz,%s::timestamptz,%s,%s,%s::timestamptz)",
                    (
                        t["trip_id"],
                        t["stop_id"],
                        t["inside"],
                        t["streak"],
                        t["streak_started_at"],
                        t["watermark"],
                        t["inner_miles"],
                        t["outer_miles"],
                        t["updated_at"],
                    ),
                )
                for t in tracks
            )
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
            cursor.execute(
                b"INSERT INTO stop_track (trip_id, "
                + ", ".join(columns).encode()
                + b") VALUES "
                + values
                + b" ON CONFLICT (trip_id) DO UPDATE SET "
                + sets.encode()
            )
        return
    statement = sqlite_insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["trip_id"], set_={c: statement.excluded[c] for c in columns}
    )
    session.execute(statement, tracks)


def _apply_crossings(
    session: Session,
    events: list[tuple[Any, int, Crossing]],
    fences: _Fences | None,
    now: datetime,
    report: VisitReport,
) -> None:
    """Create GPS visits on arrival, close them on departure, stamp the stops."""
    stop_ids = {stop_id for _, stop_id, _ in events}
    stops = {s.id: s for s in session.scalars(select(TripStop).where(TripStop.id.in_(stop_ids)))}
    visits = {
        v.stop_id: v
        for v in session.scalars(
            select(StopVisit).where(
                StopVisit.stop_id.in_(stop_ids), StopVisit.source == VisitSource.GPS
            )
        )
    }
    for row, stop_id, crossing in events:
        stop = stops.get(stop_id)
        if stop is None:
            continue
        visit = visits.get(stop_id)
        if crossing.kind == "arrival":
            if visit is not None:
                # Back inside the same stop's fence after leaving: one visit, departure undone.
                visit.departed_at = None
                visit.dwell_minutes = None
                stop.visit_departed_at = None
                continue
            visit = new_visit(stop, row.customer, VisitSource.GPS, crossing.at)
            if fences is not None and stop.latitude is not None and stop.longitude is not None:
                rules = stop_rules(visit.facility, row.customer)
                label = fences.fence_for(stop.latitude, stop.longitude, rules.radius_miles).label
                # Only a Samsara address is named; the default circle is the settings' radius.
                visit.geofence = label if label.startswith("samsara:") else None
            session.add(visit)
            visits[stop_id] = visit
            stop.visit_arrived_at = crossing.at
            report.arrivals += 1
        elif visit is not None:
            close_visit(visit, crossing.at)
            stop.visit_departed_at = crossing.at
            stop.updated_at = now
            report.departures += 1
            if visit.id is not None:
                report.departed_visits.append(visit.id)
    session.flush()


def new_visit(stop: TripStop, customer: str | None, source: str, arrived_at: datetime) -> StopVisit:
    """A visit opened at `arrived_at`, with its lateness and detention clock fixed now."""
    facility = stop.name or stop.address or ", ".join(p for p in (stop.city, stop.state) if p)
    rules = stop_rules(facility, customer)
    start = max(arrived_at, stop.appointment_start) if stop.appointment_start else arrived_at
    return StopVisit(
        trip_id=stop.trip_id,
        stop_id=stop.id,
        source=source,
        customer=customer,
        facility=facility or None,
        arrived_at=arrived_at,
        late_minutes=late_minutes(arrived_at, stop.appointment_end or stop.appointment_start),
        free_minutes=rules.free_minutes,
        detention_started_at=start,
        billable_from=start + timedelta(minutes=rules.free_minutes),
    )


def close_visit(visit: StopVisit, departed_at: datetime) -> None:
    """Final dwell and billable detention."""
    visit.departed_at = departed_at
    visit.dwell_minutes = max(0, math.floor((departed_at - visit.arrived_at).total_seconds() / 60))
    visit.detention_minutes = detention_minutes(
        visit.detention_started_at, visit.free_minutes, departed_at
    )


def _sync_tms_visits(session: Session, now: datetime) -> int:
    """Mirror what the TMS says (the stop's arrived/departed columns) into `tms` visits.

    Reads only stops of active trips with a TMS arrival whose visit is missing or differs.
    """
    v = aliased(StopVisit)
    rows = session.execute(
        select(TripStop, Trip.customer, v.id.label("visit_id"))
        .join(Trip, Trip.id == TripStop.trip_id)
        .outerjoin(v, and_(v.stop_id == TripStop.id, v.source == VisitSource.TMS.value))
        .where(Trip.status.in_(_ACTIVE), TripStop.arrived_at.is_not(None))
        .where(
            or_(
                v.id.is_(None),
                v.arrived_at != TripStop.arrived_at,
                and_(v.departed_at.is_(None), TripStop.departed_at.is_not(None)),
            )
        )
    ).all()
    for stop, customer, visit_id in rows:
        visit = session.get(StopVisit, visit_id) if visit_id else None
        if visit is None:
            visit = new_visit(stop, customer, VisitSource.TMS, stop.arrived_at)
            session.add(visit)
        elif visit.arrived_at != stop.arrived_at:
            fresh = new_visit(stop, customer, VisitSource.TMS, stop.arrived_at)
            visit.arrived_at = fresh.arrived_at
            visit.late_minutes = fresh.late_minutes
            visit.detention_started_at = fresh.detention_started_at
            visit.billable_from = fresh.billable_from
        if stop.departed_at is not None:
            close_visit(visit, stop.departed_at)
    return len(rows)


def _close_orphans(session: Session, now: datetime) -> list[int]:
    """Open GPS visits of trips no longer active (delivered, cancelled) end with the trip:
    at the TMS departure when there is one, else now. A driver's-call visit ends when GPS or
    the TMS sees the truck leave, or with the trip. Returns their ids."""
    gps = VisitSource.GPS.value
    call = VisitSource.DRIVER_CALL.value
    left = or_(TripStop.departed_at.is_not(None), TripStop.visit_departed_at.is_not(None))
    rows = session.execute(
        select(StopVisit, TripStop)
        .join(Trip, Trip.id == StopVisit.trip_id)
        .join(TripStop, TripStop.id == StopVisit.stop_id)
        .where(StopVisit.departed_at.is_(None))
        .where(
            or_(
                and_(StopVisit.source == gps, Trip.status.notin_(_ACTIVE)),
                and_(StopVisit.source == call, or_(left, Trip.status.notin_(_ACTIVE))),
            )
        )
    ).all()
    closed = []
    for visit, stop in rows:
        close_visit(visit, stop.departed_at or stop.visit_departed_at or now)
        if visit.source == gps:
            stop.visit_departed_at = stop.visit_departed_at or visit.departed_at
        closed.append(visit.id)
    return closed


def record_driver_report(session: Session, trip_id: int, at: datetime) -> StopVisit | None:
    """The driver said on a call that the truck is held at a facility: a `driver_call` visit at
    the first stop of the trip not yet left, from the call's time (a lower bound on the dwell,
    kept beside GPS and the TMS), unless that stop already has one. Returns the new visit."""
    trip = session.get(Trip, trip_id)
    stop = session.scalars(
        select(TripStop)
        .where(TripStop.trip_id == trip_id, stop_not_done())
        .order_by(TripStop.sequence)
        .limit(1)
    ).first()
    if trip is None or stop is None:
        return None
    known = select(StopVisit.id).where(
        StopVisit.stop_id == stop.id, StopVisit.source == VisitSource.DRIVER_CALL.value
    )
    if session.scalars(known).first() is not None:
        return None
    visit = new_visit(stop, trip.customer, VisitSource.DRIVER_CALL, at)
    session.add(visit)
    session.flush()
    return visit


_SOURCE_ORDER = {VisitSource.GPS: 0, VisitSource.TMS: 1, VisitSource.DRIVER_CALL: 2}


def visit_public(visit: StopVisit, now: datetime) -> StopVisitPublic:
    """A visit for the API: an open one shows its dwell and billable minutes so far."""
    public = StopVisitPublic.model_validate(visit)
    if visit.departed_at is None:
        public.dwell_minutes = max(0, math.floor((now - visit.arrived_at).total_seconds() / 60))
        public.detention_minutes = detention_minutes(
            visit.detention_started_at, visit.free_minutes, now
        )
    return public


def visit_figures(session: Session, trip_id: int, now: datetime) -> dict[int, list[Any]]:
    """The trip's visits per stop id, GPS first, as `StopVisitPublic` with running figures."""
    out: dict[int, list[Any]] = {}
    visits = session.scalars(select(StopVisit).where(StopVisit.trip_id == trip_id)).all()
    for visit in sorted(visits, key=lambda v: _SOURCE_ORDER.get(VisitSource(v.source), 9)):
        out.setdefault(visit.stop_id, []).append(visit_public(visit, now))
    return out
