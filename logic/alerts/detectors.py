"""Detectors: one function per alert type, each a set-based query over current state.

Every detector takes (session, rule, now, context) and returns `Candidate`s whose fingerprint is
type + subject (trip, driver, vehicle or source/entity), so re-detection lands on the same alert.
Thresholds come from the rule's params (defaults in logic/alerts/rules.py). Boundaries are
strict: a value exactly at the threshold does not fire. A detector that could only see part of
the fleet (a vendor failed, a lookup budget ran out) raises `IncompleteDetection` with what it
found and what it examined, so only the alerts it examined may auto-resolve, never on missing data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, Table, and_, case, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from helpers.time_utils import format_duration, format_local, zone_for_region
from logic.alerts.candidate import Candidate
from logic.alerts.positions import build_latest_positions
from logic.alerts.rules import EffectiveRule
from logic.trips.eta import great_circle_miles
from models.alert import AlertType, Severity
from models.driver import Driver
from models.hos import DutyStatus, HosClock, HosViolation
from models.ingest import IngestRun, IngestStatus
from models.location import VehicleLocation
from models.safety_event import SafetyEvent
from models.stop_visit import StopVisit, VisitSource
from models.trip import (
    ACTIVE_TRIP_STATUSES,
    Trip,
    TripStatus,
    TripStop,
    next_stop_sequences,
)
from models.vehicle import Vehicle
from utils.http import VendorError

log = logging.getLogger(__name__)

_ACTIVE = [s.value for s in ACTIVE_TRIP_STATUSES]
_RESTING = [DutyStatus.OFF_DUTY.value, DutyStatus.SLEEPER_BERTH.value]
# Samsara's behavior labels (lower-cased; `nearCollison` is the spec's spelling).
_HARSH_LABELS = frozenset(
    {
        "braking",
        "acceleration",
        "harshturn",
        "crash",
        "nearcollison",
        "nearcollision",
        "forwardcollisionwarning",
        "rolloverprotection",
        "yawcontrol",
    }
)
_CRASH_LABELS = frozenset({"crash"})


class IncompleteDetection(Exception):
    """Not an error so much as a signal: results from a pass that could not see everything.

    `covered` are the fingerprints the detector did examine: their alerts may still auto-resolve
    (a truck looked up and out of the storm), every other alert of the type is left alone.
    """

    def __init__(
        self, candidates: list[Candidate], reason: str, covered: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(reason)
        self.candidates = candidates
        self.covered = covered


@dataclass
class DetectorContext:
    weather: Any | None = None  # utils.weather_api.WeatherClient (NWS active alerts)
    _positions: Table | None = field(default=None, repr=False)

    def positions(self, session: Session) -> Table:
        """The pass's newest-position-per-truck snapshot (logic/alerts/positions.py), built
        on first use."""
        if self._positions is None:
            self._positions = build_latest_positions(session)
        return self._positions


def _trip_columns():
    """What every trip-based detector selects: the subject ids (for `_trip_candidate`) and the
    names shown in the alert (driver, truck, load)."""
    return (
        Trip.id,
        Trip.load_number,
        Trip.terminal,
        Trip.driver_id,
        Trip.vehicle_id,
        Driver.first_name,
        Driver.last_name,
        Driver.fleet_manager,
        Driver.timezone.label("driver_timezone"),
        Vehicle.unit_number,
    )


def _driver_name(first: str | None, last: str | None) -> str | None:
    name = f"{first or ''} {last or ''}".strip()
    return name or None


def _trip_candidate(row: Any, **fields: Any) -> Candidate:
    """A candidate about an active trip: ids, terminal and fleet manager come from the row."""
    return Candidate(
        trip_id=row.id,
        driver_id=row.driver_id,
        vehicle_id=row.vehicle_id,
        terminal=row.terminal,
        fleet_manager=row.fleet_manager,
        **fields,
    )


def _trip_details(row: Any, **extra: Any) -> dict[str, Any]:
    return {
        "driver_name": _driver_name(row.first_name, row.last_name),
        "unit_number": row.unit_number,
        "load_number": row.load_number,
        **{k: v for k, v in extra.items() if v is not None},
    }


def _hm(value: datetime | None, zone: str | None) -> str:
    """A time in a message: "Thu 14:05 CST" in the IANA `zone` (UTC without one). Messages give
    an appointment in its stop's zone, everything else in the driver's (`_zone`), and durations
    as "1 h 25 min"."""
    return format_local(value, zone) if value else "unknown"


def _zone(rule: EffectiveRule, *zones: str | None) -> str:
    """The first known of `zones` (stop, driver), else the rule's quiet-hours zone (the desk's)."""
    return next((zone for zone in zones if zone), rule.quiet_hours_timezone)


def _label(row: Any) -> str:
    return row.load_number or f"trip {row.id}"


def next_stop_trips(*columns: Any) -> Select:
    """Active trips with `columns` and their next stop's name, place and window, for detectors
    that judge the next stop. The next stop is the first one not reached (by the TMS or GPS):
    a truck held at the dock was on time."""
    next_seq = next_stop_sequences()
    stop = aliased(TripStop)
    return (
        select(
            *_trip_columns(),
            *columns,
            stop.name.label("stop_name"),
            stop.city,
            stop.state,
            stop.appointment_end,
            stop.appointment_start,
        )
        .select_from(Trip)
        .join(next_seq, next_seq.c.trip_id == Trip.id)
        .join(stop, and_(stop.trip_id == Trip.id, stop.sequence == next_seq.c.seq))
        .outerjoin(Driver, Driver.id == Trip.driver_id)
        .outerjoin(Vehicle, Vehicle.id == Trip.vehicle_id)
        .where(Trip.status.in_(_ACTIVE))
    )


def late_for_appointment(
    session: Session, rule: EffectiveRule, now: datetime, ctx: DetectorContext
) -> list[Candidate]:
    """Trips whose ETA (logic/trips/eta.py) is past the next stop's window end by > grace.

    The next stop is the first not yet arrived at (by the TMS or GPS): a stop reached before
    its window ended is on time whatever the clock says now (logic/trips/stop_visits.py).
    """
    grace = int(rule.param("grace_minutes") or 0)
    rows = session.execute(
        next_stop_trips(Trip.eta_next_stop, Trip.late_risk_minutes).where(
            Trip.late_risk_minutes > grace
        )
    ).all()
    out = []
    for row in rows:
        where = row.stop_name or ", ".join(p for p in (row.city, row.state) if p) or "next stop"
        window_end = row.appointment_end or row.appointment_start
        zone = _zone(rule, zone_for_region(row.state), row.driver_timezone)
        out.append(
            _trip_candidate(
                row,
                type=AlertType.LATE_FOR_APPOINTMENT,
                subject=f"trip:{row.id}",
                title=f"Late for appointment: {_label(row)}",
                message=(
                    f"ETA {_hm(row.eta_next_stop, zone)} at {where}, "
                    f"{format_duration(row.late_risk_minutes)} after the appointment window ends "
                    f"({_hm(window_end, zone)})."
                ),
                details=_trip_details(
                    row,
                    next_stop=where,
                    eta=row.eta_next_stop.isoformat() if row.eta_next_stop else None,
                    late_minutes=row.late_risk_minutes,
                ),
            )
        )
    return out


def hos_drive_time_low(
    session: Session, rule: EffectiveRule, now: datetime, ctx: DetectorContext
) -> list[Candidate]:
    """Drivers on an active trip with less than `threshold_minutes` of drive time left.

    Resting drivers (off duty, sleeper berth) are left alone: the rest is the remedy.
    """
    threshold = int(rule.param("threshold_minutes"))
    rows = session.execute(
        select(
            *_trip_columns(),
            HosClock.drive_remaining_minutes,
            HosClock.duty_status,
        )
        .select_from(Trip)
        .join(HosClock, HosClock.driver_id == Trip.driver_id)
        .join(Driver, Driver.id == Trip.driver_id)
        .outerjoin(Vehicle, Vehicle.id == Trip.vehicle_id)
        .where(Trip.status.in_(_ACTIVE))
        .where(HosClock.drive_remaining_minutes < threshold)
        .where(HosClock.duty_status.notin_(_RESTING))
        .order_by(Trip.id)
    ).all()
    out = []
    for row in rows:
        left = row.drive_remaining_minutes
        out.append(
            _trip_candidate(
                row,
                type=AlertType.HOS_DRIVE_TIME_LOW,
                subject=f"driver:{row.driver_id}",
                title=f"HOS risk: {_driver_name(row.first_name, row.last_name)} - "
                f"{format_duration(left)} drive time left",
                message=f"{format_duration(left)} of drive time left (threshold "
                f"{format_duration(threshold)}) on "
                f"{_label(row)}.",
                severity=Severity.CRITICAL if left <= 0 else None,
                details=_trip_details(row, drive_minutes_left=left),
            )
        )
    return out


def hos_violation(
    session: Session, rule: EffectiveRule, now: datetime, ctx: DetectorContext
) -> list[Candidate]:
    """The newest HOS violation per driver that started within `lookback_minutes`."""
    since = now - timedelta(minutes=int(rule.param("lookback_minutes")))
    rows = session.execute(
        select(
            HosViolation.id,
            HosViolation.driver_id,
            HosViolation.violation_type,
            HosViolation.description,
            HosViolation.started_at,
            Driver.first_name,
            Driver.last_name,
            Driver.terminal,
            Driver.fleet_manager,
            Driver.timezone,
        )
        .select_from(HosViolation)
        .join(Driver, Driver.id == HosViolation.driver_id)
        .where(HosViolation.started_at >= since, HosViolation.started_at <= now)
        .order_by(HosViolation.driver_id, HosViolation.started_at.desc())
    ).all()
    out: dict[int, Candidate] = {}
    for row in rows:
        if row.driver_id in out:
            out[row.driver_id].details["violations"] += 1
            continue
        name = _driver_name(row.first_name, row.last_name)
        out[row.driver_id] = Candidate(
            type=AlertType.HOS_VIOLATION,
            subject=f"driver:{row.driver_id}",
            title=f"HOS violation: {name}",
            message=f"{row.description or row.violation_type} since "
            f"{_hm(row.started_at, _zone(rule, row.timezone))}.",
            details={
                "driver_name": name,
                "event": row.violation_type,
                "violations": 1,
                "started_at": row.started_at.isoformat(),
            },
            driver_id=row.driver_id,
            terminal=row.terminal,
            fleet_manager=row.fleet_manager,
            occurrence_key=f"violation:{row.id}",
        )
    return list(out.values())


def _events(session: Session, since: datetime, now: datetime) -> list[Any]:
    return session.execute(
        select(
            SafetyEvent.id,
            SafetyEvent.driver_id,
            SafetyEvent.vehicle_id,
            SafetyEvent.occurred_at,
            SafetyEvent.behavior_labels,
            SafetyEvent.speed_mph,
            SafetyEvent.speed_limit_mph,
            SafetyEvent.max_acceleration_g,
            SafetyEvent.address,
            Driver.first_name,
            Driver.last_name,
            Driver.terminal,
            Driver.fleet_manager,
            Driver.timezone,
            Vehicle.unit_number,
        )
        .select_from(SafetyEvent)
        .outerjoin(Driver, Driver.id == SafetyEvent.driver_id)
        .outerjoin(Vehicle, Vehicle.id == SafetyEvent.vehicle_id)
        .where(SafetyEvent.occurred_at >= since, SafetyEvent.occurred_at <= now)
        .where(SafetyEvent.vehicle_id.is_not(None))
        .order_by(SafetyEvent.vehicle_id, SafetyEvent.occurred_at.desc())
    ).all()


def _labels(row: Any) -> list[str]:
    return [str(label).lower() for label in (row.behavior_labels or [])]


def harsh_event(
    session: Session, rule: EffectiveRule, now: datetime, ctx: DetectorContext
) -> list[Candidate]:
    """The newest harsh brake/acceleration/turn or crash per truck within the lookback."""
    since = now - timedelta(minutes=int(rule.param("lookback_minutes")))
    out: dict[int, Candidate] = {}
    for row in _events(session, since, now):
        labels = _labels(row)
        if row.vehicle_id in out or _HARSH_LABELS.isdisjoint(labels):
            continue
        crash = not _CRASH_LABELS.isdisjoint(labels)
        what = ", ".join(row.behavior_labels or [])
        out[row.vehicle_id] = Candidate(
            type=AlertType.HARSH_EVENT,
            subject=f"vehicle:{row.vehicle_id}",
            title=f"{'Crash' if crash else 'Harsh event'}: truck {row.unit_number}",
            message=f"{what} at {_hm(row.occurred_at, _zone(rule, row.timezone))}"
            + (f" near {row.address}" if row.address else "")
            + (f" ({row.max_acceleration_g} g)" if row.max_acceleration_g else ""),
            severity=Severity.CRITICAL if crash else None,
            details={
                "driver_name": _driver_name(row.first_name, row.last_name),
                "unit_number": row.unit_number,
                "event": what,
                "occurred_at": row.occurred_at.isoformat(),
            },
            driver_id=row.driver_id,
            vehicle_id=row.vehicle_id,
            terminal=row.terminal,
            fleet_manager=row.fleet_manager,
            occurrence_key=f"safety:{row.id}",
        )
    return list(out.values())


def speeding(
    session: Session, rule: EffectiveRule, now: datetime, ctx: DetectorContext
) -> list[Candidate]:
    """A speeding safety event, or GPS speed above `speed_mph` for `min_duration_minutes`.

    Sustained speed: the truck's newest position is over the limit and every position since
    the streak began is too (the streak starts after the last position at or under the limit).
    """
    limit = float(rule.param("speed_mph"))
    min_duration = timedelta(minutes=float(rule.param("min_duration_minutes")))
    since = now - timedelta(minutes=int(rule.param("lookback_minutes")))
    out: dict[int, Candidate] = {}
    for row in _events(session, since, now):
        if row.vehicle_id in out or not any("speed" in lb for lb in _labels(row)):
            continue
        out[row.vehicle_id] = Candidate(
            type=AlertType.SPEEDING,
            subject=f"vehicle:{row.vehicle_id}",
            title=f"Speeding: truck {row.unit_number}",
            message=f"{row.speed_mph or '?'} mph"
            + (f" in a {row.speed_limit_mph} mph zone" if row.speed_limit_mph else "")
            + f" at {_hm(row.occurred_at, _zone(rule, row.timezone))}",
            details={
                "driver_name": _driver_name(row.first_name, row.last_name),
                "unit_number": row.unit_number,
                "speed_mph": row.speed_mph,
                "source": "safety_event",
            },
            driver_id=row.driver_id,
            vehicle_id=row.vehicle_id,
            terminal=row.terminal,
            fleet_manager=row.fleet_manager,
            occurrence_key=f"safety:{row.id}",
        )
    # Sustained GPS speed, trucks on active trips only: the newest position from the pass's
    # snapshot, then one more index probe only for trucks over the limit right now.
    loc = ctx.positions(session).c
    last_ok = (
        select(func.max(VehicleLocation.recorded_at))
        .where(VehicleLocation.vehicle_id == Trip.vehicle_id)
        .where(or_(VehicleLocation.speed_mph <= limit, VehicleLocation.speed_mph.is_(None)))
        .correlate(Trip)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            *_trip_columns(),
            loc.speed_mph,
            loc.recorded_at,
            last_ok.label("last_ok"),
        )
        .select_from(Trip)
        .join(ctx.positions(session), loc.vehicle_id == Trip.vehicle_id)
        .outerjoin(Driver, Driver.id == Trip.driver_id)
        .outerjoin(Vehicle, Vehicle.id == Trip.vehicle_id)
        .where(Trip.status.in_(_ACTIVE), loc.speed_mph > limit, loc.recorded_at >= since)
    ).all()
    streak_starts = _first_after(session, {r.vehicle_id: r.last_ok for r in rows})
    for row in rows:
        if row.vehicle_id in out:
            continue
        start = streak_starts.get(row.vehicle_id)
        if start is None or row.recorded_at - start < min_duration:
            continue
        minutes = int((row.recorded_at - start).total_seconds() // 60)
        out[row.vehicle_id] = _trip_candidate(
            row,
            type=AlertType.SPEEDING,
            subject=f"vehicle:{row.vehicle_id}",
            title=f"Speeding: truck {row.unit_number}",
            message=f"Over {limit:g} mph for {format_duration(minutes)} (now "
            f"{row.speed_mph:g} mph) on {_label(row)}.",
            details=_trip_details(row, speed_mph=row.speed_mph, minutes=minutes, source="gps"),
            occurrence_key=f"streak:{start.isoformat()}",
        )
    return list(out.values())


def _first_after(session: Session, last_ok: dict[int, datetime | None]) -> dict[int, datetime]:
    """Per vehicle, the first position after `last_ok` (or its first position at all)."""
    if not last_ok:
        return {}
    conditions = [
        and_(VehicleLocation.vehicle_id == vid, VehicleLocation.recorded_at > ok)
        if ok is not None
        else VehicleLocation.vehicle_id == vid
        for vid, ok in last_ok.items()
    ]
    rows = session.execute(
        select(VehicleLocation.vehicle_id, func.min(VehicleLocation.recorded_at))
        .where(or_(*conditions))
        .group_by(VehicleLocation.vehicle_id)
    ).all()
    return dict(rows)


def stopped_too_long(
    session: Session, rule: EffectiveRule, now: datetime, ctx: DetectorContext
) -> list[Candidate]:
    """In-transit trucks that have not moved for `minutes`, away from every stop of the trip.

    "Not moved": no position faster than `moving_mph` since the cutoff, with a fresh position
    (a truck that stopped reporting is `gps_stale`, not stopped). Resting drivers are excluded.
    """
    minutes = int(rule.param("minutes"))
    moving = float(rule.param("moving_mph"))
    radius = float(rule.param("stop_radius_miles"))
    cutoff = now - timedelta(minutes=minutes)
    loc = ctx.positions(session).c
    last_moving = (
        select(func.max(VehicleLocation.recorded_at))
        .where(VehicleLocation.vehicle_id == Trip.vehicle_id)
        .where(VehicleLocation.speed_mph > moving)
        .correlate(Trip)
        .scalar_subquery()
    )
    first_seen = (
        select(func.min(VehicleLocation.recorded_at))
        .where(VehicleLocation.vehicle_id == Trip.vehicle_id)
        .correlate(Trip)
        .scalar_subquery()
    )
    last_moving_col = last_moving.label("last_moving")
    rows = session.execute(
        select(
            *_trip_columns(),
            loc.latitude,
            loc.longitude,
            loc.recorded_at,
            last_moving_col,
        )
        .select_from(Trip)
        .join(ctx.positions(session), loc.vehicle_id == Trip.vehicle_id)
        .outerjoin(Driver, Driver.id == Trip.driver_id)
        .outerjoin(Vehicle, Vehicle.id == Trip.vehicle_id)
        .outerjoin(HosClock, HosClock.driver_id == Trip.driver_id)
        .where(Trip.status == TripStatus.IN_TRANSIT)
        .where(loc.recorded_at >= cutoff)
        .where(or_(loc.speed_mph <= moving, loc.speed_mph.is_(None)))
        .where(or_(HosClock.duty_status.is_(None), HosClock.duty_status.notin_(_RESTING)))
        .where(
            or_(
                last_moving < cutoff,
                and_(last_moving.is_(None), first_seen < cutoff),
            )
        )
    ).all()
    if not rows:
        return []
    stops: dict[int, list[tuple[float, float]]] = {}
    for trip_id, lat, lon in session.execute(
        select(TripStop.trip_id, TripStop.latitude, TripStop.longitude).where(
            TripStop.trip_id.in_([r.id for r in rows]), TripStop.latitude.is_not(None)
        )
    ):
        stops.setdefault(trip_id, []).append((lat, lon))
    out = []
    for row in rows:
        near = any(
            great_circle_miles(row.latitude, row.longitude, lat, lon) <= radius
            for lat, lon in stops.get(row.id, [])
            if lon is not None
        )
        if near:
            continue
        # Stable text (a time, not a running count), so re-detection is a cheap quiet bump.
        since = _aware(row.last_moving)
        out.append(
            _trip_candidate(
                row,
                type=AlertType.STOPPED_TOO_LONG,
                subject=f"trip:{row.id}",
                title=f"Stopped: truck {row.unit_number} on {_label(row)}",
                message=(
                    f"Not moving since {_hm(since, _zone(rule, row.driver_timezone))}"
                    if since
                    else "Not moving"
                )
                + f" away from any stop ({row.latitude:.4f}, {row.longitude:.4f}).",
                details=_trip_details(row, stopped_since=since.isoformat() if since else None),
            )
        )
    return out


def gps_stale(
    session: Session, rule: EffectiveRule, now: datetime, ctx: DetectorContext
) -> list[Candidate]:
    """Active trips whose truck has sent no position for more than `minutes` (or never)."""
    minutes = int(rule.param("minutes"))
    cutoff = now - timedelta(minutes=minutes)
    positions = ctx.positions(session)
    newest = positions.c.recorded_at
    rows = session.execute(
        select(
            *_trip_columns(),
            newest.label("newest"),
        )
        .select_from(Trip)
        .outerjoin(Driver, Driver.id == Trip.driver_id)
        .join(Vehicle, Vehicle.id == Trip.vehicle_id)
        .outerjoin(positions, positions.c.vehicle_id == Trip.vehicle_id)
        .where(Trip.status.in_(_ACTIVE))
        .where(or_(newest.is_(None), newest < cutoff))
    ).all()
    out = []
    for row in rows:
        last = row.newest
        last = _aware(last)
        # Stable text (the last fix time, not a running count): re-detection is a quiet bump.
        out.append(
            _trip_candidate(
                row,
                type=AlertType.GPS_STALE,
                subject=f"trip:{row.id}",
                # A truck that never reported is not "lost": it has no GPS yet (new unit,
                # unplugged gateway), which a dispatcher handles differently.
                title=(
                    f"GPS lost: truck {row.unit_number} on {_label(row)}"
                    if last
                    else f"No GPS yet: truck {row.unit_number} on {_label(row)}"
                ),
                message=(
                    f"No position since {_hm(last, _zone(rule, row.driver_timezone))}."
                    if last
                    else "No position yet."
                ),
                details=_trip_details(row, last_position_at=last.isoformat() if last else None),
            )
        )
    return out


# NWS lookups are cached per grid cell for a few minutes: alerts change slowly and NWS asks
# clients not to hammer it. In-process: a cache miss on another instance is only a lookup.
_WEATHER_TTL_SECONDS = 600.0
_weather_cache: dict[tuple[float, float], tuple[float, list[Any]]] = {}


def severe_weather(
    session: Session, rule: EffectiveRule, now: datetime, ctx: DetectorContext
) -> list[Candidate]:
    """Active trips whose truck sits inside an active NWS alert of a listed severity."""
    if ctx.weather is None:
        raise IncompleteDetection([], "no weather client configured")
    severities = {s.lower() for s in rule.param("severities")}
    grid = float(rule.param("grid_degrees"))
    budget = int(rule.param("max_lookups"))
    loc = ctx.positions(session).c
    rows = session.execute(
        select(
            *_trip_columns(),
            loc.latitude,
            loc.longitude,
        )
        .select_from(Trip)
        .join(ctx.positions(session), loc.vehicle_id == Trip.vehicle_id)
        .outerjoin(Driver, Driver.id == Trip.driver_id)
        .outerjoin(Vehicle, Vehicle.id == Trip.vehicle_id)
        .where(Trip.status.in_(_ACTIVE))
        .order_by(Trip.id)  # a spent budget always skips the same trucks
    ).all()
    incomplete = None
    out = []
    covered: set[str] = set()
    for row in rows:
        cell = (round(row.latitude / grid) * grid, round(row.longitude / grid) * grid)
        cached = _weather_cache.get(cell)
        if cached is None or time.monotonic() - cached[0] > _WEATHER_TTL_SECONDS:
            if budget <= 0:
                incomplete = "weather lookup budget spent"
                continue
            budget -= 1
            try:
                alerts = ctx.weather.active_alerts(round(cell[0], 4), round(cell[1], 4))
            except VendorError as exc:
                incomplete = f"NWS unavailable: {exc}"
                continue
            _weather_cache[cell] = (time.monotonic(), alerts)
        else:
            alerts = cached[1]
        covered.add(f"{AlertType.SEVERE_WEATHER}:trip:{row.id}")
        severe = [a for a in alerts if (a.severity or "").lower() in severities]
        if not severe:
            continue
        worst = severe[0]
        out.append(
            _trip_candidate(
                row,
                type=AlertType.SEVERE_WEATHER,
                subject=f"trip:{row.id}",
                title=f"{worst.event}: truck {row.unit_number} on {_label(row)}",
                message=worst.headline or worst.event,
                severity=Severity.CRITICAL if worst.severity.lower() == "extreme" else None,
                details=_trip_details(
                    row, event=worst.event, nws_severity=worst.severity, nws_id=worst.id
                ),
                occurrence_key=f"nws:{worst.id}"[:120],
            )
        )
    if incomplete:
        raise IncompleteDetection(out, incomplete, frozenset(covered))
    return out


def integration_stale(
    session: Session, rule: EffectiveRule, now: datetime, ctx: DetectorContext
) -> list[Candidate]:
    """Ingest source+entity pairs with no successful run for `minutes` (only pairs ever run)."""
    minutes = int(rule.param("minutes"))
    cutoff = now - timedelta(minutes=minutes)
    # Only successful runs count; the others contribute NULL, which max() ignores.
    success = func.max(
        case((IngestRun.status == IngestStatus.SUCCEEDED, IngestRun.finished_at), else_=None)
    ).label("last_success")
    rows = session.execute(
        select(IngestRun.source, IngestRun.entity, success, func.min(IngestRun.started_at))
        .group_by(IngestRun.source, IngestRun.entity)
        .order_by(IngestRun.source, IngestRun.entity)
    ).all()
    out = []
    for source, entity, last_success, first_started in rows:
        last_success = _aware(last_success)
        first_started = _aware(first_started)
        if last_success is not None and last_success >= cutoff:
            continue
        if last_success is None and first_started is not None and first_started >= cutoff:
            continue  # first runs still within the grace period
        ago = int((now - last_success).total_seconds() // 60) if last_success else None
        out.append(
            Candidate(
                type=AlertType.INTEGRATION_STALE,
                subject=f"{source}:{entity}",
                title=f"Integration stale: {source} {entity}",
                message=(
                    f"No successful {source} {entity} ingest for {format_duration(ago)} (limit "
                    f"{format_duration(minutes)})."
                    if ago is not None
                    else f"{source} {entity} ingest has never succeeded."
                ),
                details={"source": source, "entity": entity, "minutes": ago},
            )
        )
    return out


def _aware(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns aggregates over UTCDateTime as text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def detention(
    session: Session, rule: EffectiveRule, now: datetime, ctx: DetectorContext
) -> list[Candidate]:
    """Trucks still at a stop past its free time: one alert per stop visit, with the clock.

    The visit is the GPS one, else the TMS's, else the driver's word on a call. Free time runs
    from the later of arrival and appointment start (logic/trips/stop_visits.py). The message
    moves in `step_minutes` steps, so the Slack card is updated as detention grows, not every pass;
    departure resolves the alert with the final figure (logic/alerts/detention.py).
    """
    step = max(1, int(rule.param("step_minutes") or 10))
    gps = aliased(StopVisit)
    tms = aliased(StopVisit)
    v = StopVisit
    rows = session.execute(
        select(
            *_trip_columns(),
            v.id.label("visit_id"),
            v.source,
            v.facility,
            v.arrived_at,
            v.free_minutes,
            v.detention_started_at,
            TripStop.state,
            TripStop.appointment_start,
        )
        .select_from(v)
        .join(Trip, Trip.id == v.trip_id)
        .join(TripStop, TripStop.id == v.stop_id)
        .outerjoin(Driver, Driver.id == Trip.driver_id)
        .outerjoin(Vehicle, Vehicle.id == Trip.vehicle_id)
        .outerjoin(gps, and_(gps.stop_id == v.stop_id, gps.source == VisitSource.GPS.value))
        .outerjoin(tms, and_(tms.stop_id == v.stop_id, tms.source == VisitSource.TMS.value))
        .where(v.departed_at.is_(None), Trip.status.in_(_ACTIVE))
        .where(
            or_(
                v.source == VisitSource.GPS.value,
                and_(gps.id.is_(None), or_(v.source == VisitSource.TMS.value, tms.id.is_(None))),
            )
        )
        .where(TripStop.visit_departed_at.is_(None))
        .order_by(v.id)
    ).all()
    out = []
    for row in rows:
        arrived = _aware(row.arrived_at)
        started = _aware(row.detention_started_at)
        assert arrived is not None and started is not None
        billable = (now - started).total_seconds() / 60 - row.free_minutes
        if billable <= 0:
            continue
        held = (now - arrived).total_seconds() / 60
        held_shown = int(held // step * step)
        billable_shown = int(billable // step * step)
        where = row.facility or "the stop"
        zone = _zone(rule, zone_for_region(row.state), row.driver_timezone)
        out.append(
            _trip_candidate(
                row,
                type=AlertType.DETENTION,
                subject=f"visit:{row.visit_id}",
                title=f"Detention: truck {row.unit_number} at {where}"[:200],
                message=(
                    f"Held {format_duration(held_shown)}, "
                    f"{format_duration(billable_shown)} billable at {where} "
                    f"(arrived {_hm(arrived, zone)}, free time "
                    f"{format_duration(row.free_minutes)} from {_hm(started, zone)})."
                ),
                details=_trip_details(
                    row,
                    facility=where,
                    arrived_at=arrived.isoformat(),
                    held_minutes=held_shown,
                    detention_minutes=billable_shown,
                    visit_id=row.visit_id,
                    source=row.source,
                ),
            )
        )
    return out


Detector = Callable[[Session, EffectiveRule, datetime, DetectorContext], list[Candidate]]

DETECTORS: dict[str, Detector] = {
    AlertType.LATE_FOR_APPOINTMENT: late_for_appointment,
    AlertType.HOS_DRIVE_TIME_LOW: hos_drive_time_low,
    AlertType.HOS_VIOLATION: hos_violation,
    AlertType.SPEEDING: speeding,
    AlertType.HARSH_EVENT: harsh_event,
    AlertType.STOPPED_TOO_LONG: stopped_too_long,
    AlertType.GPS_STALE: gps_stale,
    AlertType.SEVERE_WEATHER: severe_weather,
    AlertType.INTEGRATION_STALE: integration_stale,
    AlertType.DETENTION: detention,
}
