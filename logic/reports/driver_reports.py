"""Build `DriverReport` rows for one local day, for every driver at once.

Each metric family is one grouped query over all drivers (never a per-driver loop), joined to
the `driver_day` CTE: each driver with the UTC window of the day in their zone — the terminal's
(`ReportRecipients.timezone`), else the driver's own, else `REPORT_DEFAULT_TIMEZONE`. Rows are
upserted on (driver_id, report_date): regenerating a date rewrites the same values (only
`generated_at` moves).

Metric definitions (the README repeats them):
- miles: what the truck the driver actually drove covered while they drove it. The truck and the
  times come from the driver's `driving` HOS logs (their vehicle), else from the driver's trips
  (the trip's truck while the trip overlapped the day); the distance is the truck's odometer
  span in each of those segments, else the length of its GPS track there. A driver with none of
  these, or whose track spans under `MIN_TRACK_COVERAGE` of the driving time and is shorter,
  gets the planned miles of trips delivered that day; with none at all, `miles_source` is
  `none` and the day is not scored (`score_withheld_reason`, see `logic/reports/score.py`).
- a stop is completed when it was left (or reached, if no departure is known) in the window; it
  is on time when it was reached at or before the end of its appointment window (its start when
  there is no end) — the boundary itself is on time; late minutes add up how late the others were.
- drive hours: `driving` log time inside the window; on-duty hours: driving + on duty + yard
  moves. A log still open counts up to `as_of` (now, for today).
- speeding minutes: the duration of safety events labelled speeding (one minute if no end).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlmodel import Session

from config import Settings, get_settings
from db.types import UTCDateTime
from db.upsert import bulk_upsert
from helpers.time_utils import utc_now
from logic.reports import call_metrics, reach
from logic.reports import score as scoring
from logic.reports.detention import primary_visit
from logic.reports.sql import (
    as_float,
    greatest,
    json_array_elements,
    least,
    minutes_between,
    zone_windows_cte,
)
from models.alert import Alert
from models.driver import Driver, DriverStatus
from models.hos import DutyStatus, HosLog, HosViolation
from models.location import VehicleLocation
from models.report import DriverReport, ReportRecipients
from models.safety_event import SafetyEvent
from models.stop_visit import StopVisit
from models.trip import Trip, TripStatus, TripStop

ON_DUTY = (DutyStatus.DRIVING, DutyStatus.ON_DUTY, DutyStatus.YARD_MOVE)
SPEEDING_LABELS = ("speeding", "severespeeding")


@dataclass
class BuildResult:
    report_date: date
    drivers: int
    inserted: int
    updated: int
    unchanged: int


def driver_zone_expr(settings: Settings) -> Any:
    return func.coalesce(
        ReportRecipients.timezone, Driver.timezone, settings.REPORT_DEFAULT_TIMEZONE
    )


def driver_zone(session: Session, driver_id: int, settings: Settings) -> str:
    """The zone a driver's report days are counted in (as `driver_zone_expr`)."""
    return (
        session.scalar(
            select(driver_zone_expr(settings))
            .select_from(Driver)
            .outerjoin(ReportRecipients, ReportRecipients.terminal == Driver.terminal)
            .where(Driver.id == driver_id)
        )
        or settings.REPORT_DEFAULT_TIMEZONE
    )


def driver_day_cte(session: Session, day: date, settings: Settings, driver_ids=None) -> Any:
    """CTE (driver_id, terminal, fleet_manager, zone, start_at, end_at) for active drivers."""
    zone = driver_zone_expr(settings)
    base = (
        select(Driver.id.label("driver_id"), zone.label("zone"))
        .select_from(Driver)
        .outerjoin(ReportRecipients, ReportRecipients.terminal == Driver.terminal)
        .where(Driver.status == DriverStatus.ACTIVE)
    )
    if driver_ids is not None:
        base = base.where(Driver.id.in_(list(driver_ids)))
    zones = list(session.scalars(select(base.subquery().c.zone).distinct()))
    window = zone_windows_cte(day, zones, default=settings.REPORT_DEFAULT_TIMEZONE)
    stmt = (
        select(
            Driver.id.label("driver_id"),
            Driver.terminal.label("terminal"),
            Driver.fleet_manager.label("fleet_manager"),
            window.c.zone,
            window.c.start_at,
            window.c.end_at,
        )
        .select_from(Driver)
        .outerjoin(ReportRecipients, ReportRecipients.terminal == Driver.terminal)
        .join(window, window.c.zone == zone)
        .where(Driver.status == DriverStatus.ACTIVE)
    )
    if driver_ids is not None:
        stmt = stmt.where(Driver.id.in_(list(driver_ids)))
    return stmt.cte("driver_day")


def compute_metrics(
    session: Session,
    day: date,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
    driver_ids=None,
) -> list[dict[str, Any]]:
    """Every active driver's metrics for `day` (no score yet), one dict per driver."""
    settings = settings or get_settings()
    now = now or utc_now()
    dialect = session.get_bind().dialect.name
    dd = driver_day_cte(session, day, settings, driver_ids)
    rows: dict[int, dict[str, Any]] = {}
    for r in session.execute(select(dd)):
        rows[r.driver_id] = _empty(r)
    if not rows:
        return []

    def in_window(column):
        return and_(column >= dd.c.start_at, column < dd.c.end_at)

    # Trips delivered in the window, and their planned miles (the miles fallback).
    trips = (
        select(dd.c.driver_id, func.count(Trip.id), func.sum(Trip.planned_miles))
        .join(Trip, Trip.driver_id == dd.c.driver_id)
        .where(Trip.status == TripStatus.DELIVERED, in_window(Trip.actual_end))
        .group_by(dd.c.driver_id)
    )
    for driver_id, count, planned in session.execute(trips):
        rows[driver_id]["trips_completed"] = int(count)
        rows[driver_id]["_planned_miles"] = float(planned or 0.0)

    # Stops: completed, and punctuality of those reached in the window.
    deadline = func.coalesce(TripStop.appointment_end, TripStop.appointment_start)
    done_at = func.coalesce(TripStop.departed_at, TripStop.arrived_at)
    late_by = minutes_between(dialect, TripStop.arrived_at, deadline)
    reached = and_(in_window(TripStop.arrived_at), deadline.is_not(None))
    stops = (
        select(
            dd.c.driver_id,
            func.sum(case((in_window(done_at), 1), else_=0)),
            func.sum(case((reached, 1), else_=0)),
            func.sum(case((and_(reached, TripStop.arrived_at <= deadline), 1), else_=0)),
            func.sum(case((and_(reached, TripStop.arrived_at > deadline), late_by), else_=0.0)),
        )
        .join(Trip, Trip.driver_id == dd.c.driver_id)
        .join(TripStop, TripStop.trip_id == Trip.id)
        .where(or_(in_window(done_at), in_window(TripStop.arrived_at)))
        .group_by(dd.c.driver_id)
    )
    for driver_id, completed, with_appt, on_time, late in session.execute(stops):
        row = rows[driver_id]
        row["stops_completed"] = int(completed or 0)
        row["stops_with_appointment"] = int(with_appt or 0)
        row["stops_on_time"] = int(on_time or 0)
        row["late_minutes"] = round(float(late or 0.0), 2)

    # Detention billed at stops the driver left in the window (logic/reports/detention.py).
    held = (
        select(dd.c.driver_id, func.sum(StopVisit.detention_minutes))
        .join(Trip, Trip.driver_id == dd.c.driver_id)
        .join(StopVisit, StopVisit.trip_id == Trip.id)
        .where(in_window(StopVisit.departed_at), primary_visit())
        .group_by(dd.c.driver_id)
    )
    for driver_id, minutes in session.execute(held):
        rows[driver_id]["detention_hours"] = round(float(minutes or 0) / 60, 2)

    as_of = literal(now, UTCDateTime())
    for driver_id, driven in driven_miles(session, dd, as_of, dialect).items():
        rows[driver_id]["_gps"] = driven

    # Duty time clipped to the window; an open log runs to `as_of`.
    log_end = least(dialect, func.coalesce(HosLog.end_at, as_of), dd.c.end_at)
    log_start = greatest(dialect, HosLog.start_at, dd.c.start_at)
    duty = (
        select(
            dd.c.driver_id,
            HosLog.duty_status,
            func.sum(minutes_between(dialect, log_end, log_start)),
        )
        .join(HosLog, HosLog.driver_id == dd.c.driver_id)
        .where(
            HosLog.start_at < dd.c.end_at,
            func.coalesce(HosLog.end_at, as_of) > dd.c.start_at,
            HosLog.duty_status.in_([s.value for s in ON_DUTY]),
        )
        .group_by(dd.c.driver_id, HosLog.duty_status)
    )
    for driver_id, status, minutes in session.execute(duty):
        hours = max(float(minutes or 0.0), 0.0) / 60.0
        rows[driver_id]["on_duty_hours"] += hours
        if status == DutyStatus.DRIVING:
            rows[driver_id]["drive_hours"] += hours

    violations = (
        select(dd.c.driver_id, HosViolation.violation_type, func.count())
        .join(HosViolation, HosViolation.driver_id == dd.c.driver_id)
        .where(in_window(HosViolation.started_at))
        .group_by(dd.c.driver_id, HosViolation.violation_type)
    )
    for driver_id, kind, count in session.execute(violations):
        rows[driver_id]["hos_violations_by_type"][kind] = int(count)

    by_severity = (
        select(dd.c.driver_id, SafetyEvent.severity, func.count())
        .join(SafetyEvent, SafetyEvent.driver_id == dd.c.driver_id)
        .where(in_window(SafetyEvent.occurred_at))
        .group_by(dd.c.driver_id, SafetyEvent.severity)
    )
    for driver_id, severity, count in session.execute(by_severity):
        rows[driver_id]["safety_events_by_severity"][severity] = int(count)

    label = json_array_elements(dialect, SafetyEvent.behavior_labels)
    by_label = (
        select(dd.c.driver_id, cast(label.c.value, String), func.count())
        .select_from(dd)
        .join(SafetyEvent, SafetyEvent.driver_id == dd.c.driver_id)
        .join(label, true())
        .where(in_window(SafetyEvent.occurred_at))
        .group_by(dd.c.driver_id, cast(label.c.value, String))
    )
    for driver_id, name, count in session.execute(by_label):
        rows[driver_id]["safety_events_by_type"][str(name)] = int(count)

    labels_text = func.lower(cast(SafetyEvent.behavior_labels, String))
    speeding = or_(*(labels_text.like(f'%"{name}"%') for name in SPEEDING_LABELS))
    duration = func.coalesce(
        minutes_between(dialect, SafetyEvent.ended_at, SafetyEvent.occurred_at), 1.0
    )
    speed = (
        select(dd.c.driver_id, func.sum(duration))
        .join(SafetyEvent, SafetyEvent.driver_id == dd.c.driver_id)
        .where(in_window(SafetyEvent.occurred_at), speeding)
        .group_by(dd.c.driver_id)
    )
    for driver_id, minutes in session.execute(speed):
        rows[driver_id]["speeding_minutes"] = round(max(float(minutes or 0.0), 0.0), 2)

    alerts = (
        select(dd.c.driver_id, Alert.type, func.count())
        .join(Alert, Alert.driver_id == dd.c.driver_id)
        .where(in_window(Alert.first_seen_at))
        .group_by(dd.c.driver_id, Alert.type)
    )
    for driver_id, kind, count in session.execute(alerts):
        rows[driver_id]["alerts_by_type"][kind] = int(count)

    call_metrics.add_driver_call_metrics(session, dd, rows, in_window)
    joined = partial(_on_day, dd)
    for driver_id, counts in reach.reach_by_driver(session, in_window, scope=joined).items():
        rows[driver_id]["reach"] = reach.with_rates(counts)
    return [_finish(row) for row in rows.values()]


def _on_day(dd: Any, query: Any, driver_column: Any) -> Any:
    return query.join(dd, dd.c.driver_id == driver_column)


def drive_segments(dd: Any, as_of: Any, dialect: str) -> Any:
    """CTE (seg_id, driver_id, vehicle_id, seg_start, seg_end): when each driver drove which
    truck inside their day. The driver's `driving` HOS logs name the truck they actually drove;
    a driver without such logs gets their trips' trucks over the trips' time in the day."""
    log_end = func.coalesce(HosLog.end_at, as_of)
    logged = and_(
        HosLog.driver_id == dd.c.driver_id,
        HosLog.duty_status == DutyStatus.DRIVING,
        HosLog.vehicle_id.is_not(None),
        HosLog.start_at < dd.c.end_at,
        log_end > dd.c.start_at,
    )
    from_logs = select(
        dd.c.driver_id,
        HosLog.vehicle_id,
        greatest(dialect, HosLog.start_at, dd.c.start_at).label("seg_start"),
        least(dialect, log_end, dd.c.end_at).label("seg_end"),
    ).join(HosLog, logged)
    trip_start = func.coalesce(Trip.actual_start, Trip.scheduled_start)
    trip_end = func.coalesce(Trip.actual_end, as_of)
    from_trips = (
        select(
            dd.c.driver_id,
            Trip.vehicle_id,
            greatest(dialect, trip_start, dd.c.start_at).label("seg_start"),
            least(dialect, trip_end, dd.c.end_at).label("seg_end"),
        )
        .join(Trip, Trip.driver_id == dd.c.driver_id)
        .where(
            Trip.vehicle_id.is_not(None),
            Trip.status.not_in([TripStatus.PLANNED.value, TripStatus.CANCELLED.value]),
            trip_start < dd.c.end_at,
            trip_end > dd.c.start_at,
            ~exists(select(HosLog.id).where(logged)),
        )
    )
    both = union_all(from_logs, from_trips).subquery()
    # A total order, so the numbering is the same in every query that reads this CTE (rows
    # equal in all four are the same segment twice and interchangeable).
    order = (both.c.driver_id, both.c.seg_start, both.c.vehicle_id, both.c.seg_end)
    numbered = select(
        func.row_number().over(order_by=order).label("seg_id"),
        both.c.driver_id,
        both.c.vehicle_id,
        type_coerce(both.c.seg_start, UTCDateTime()).label("seg_start"),
        type_coerce(both.c.seg_end, UTCDateTime()).label("seg_end"),
    )
    return numbered.cte("drive_segment")


def driven_miles(
    session: Session, dd: Any, as_of: Any, dialect: str
) -> dict[int, tuple[float, float]]:
    """(miles, coverage) each driver drove in their day, over `drive_segments`: the truck's
    odometer span in each segment, else the length of its GPS track there (great-circle hops
    between consecutive positions; a hop faster than `MAX_HOP_MPH` is a GPS glitch and not
    counted). Coverage is the share of the segments' time the track spans (an odometer span
    counts as whole): positions ingested for only part of the day give a partial distance."""
    segments = drive_segments(dd, as_of, dialect)

    # First and last odometer reading of each segment: two index probes on the location key
    # (vehicle_id, recorded_at) per segment, instead of aggregating every point in between.
    def odometer(first: bool):
        point = aliased(VehicleLocation)
        return (
            select(point.odometer_miles)
            .where(
                point.vehicle_id == segments.c.vehicle_id,
                point.recorded_at >= segments.c.seg_start,
                point.recorded_at <= segments.c.seg_end,
                point.odometer_miles.is_not(None),
            )
            .order_by(point.recorded_at.asc() if first else point.recorded_at.desc())
            .limit(1)
            .correlate(segments)
            .scalar_subquery()
        )

    spans = select(
        segments.c.seg_id,
        segments.c.driver_id,
        odometer(False) - odometer(True),
        minutes_between(dialect, segments.c.seg_end, segments.c.seg_start),
    )
    by_segment: dict[int, tuple[int, float | None, float]] = {
        seg_id: (driver_id, None if span is None else float(span), max(float(length or 0), 0))
        for seg_id, driver_id, span, length in session.execute(spans)
    }
    # Track lengths only when some segment has no odometer reading (the Samsara location feed
    # carries none; a fleet whose positions have odometers never pays for the window query).
    missing = any(span is None for _, span, _ in by_segment.values())
    tracks = _track_miles(session, segments, dialect) if missing else {}
    totals: dict[int, list[float]] = {}  # driver → [miles, minutes covered, minutes driven]
    for seg_id, (driver_id, span, minutes) in by_segment.items():
        value, covered = (span, minutes) if span is not None else tracks.get(seg_id, (0.0, 0.0))
        total = totals.setdefault(driver_id, [0.0, 0.0, 0.0])
        total[0] += max(value, 0.0)
        total[1] += min(covered, minutes)
        total[2] += minutes
    return {
        driver_id: (miles, covered / minutes if minutes > 0 else 1.0)
        for driver_id, (miles, covered, minutes) in totals.items()
    }


EARTH_RADIUS_MILES = 3958.8
MAX_HOP_MPH = 120.0
MIN_TRACK_COVERAGE = 0.8  # share of the driving time the positions must span to be preferred


def _track_miles(session: Session, segments: Any, dialect: str) -> dict[int, tuple[float, float]]:
    """(GPS track length, minutes it spans) of each segment: the hops between positions
    inside it."""
    wanted = segments
    point = VehicleLocation
    ordered = {"partition_by": point.vehicle_id, "order_by": point.recorded_at}
    hops = (
        select(
            point.vehicle_id,
            point.recorded_at,
            point.latitude,
            point.longitude,
            func.lag(point.recorded_at).over(**ordered).label("prev_at"),
            func.lag(point.latitude).over(**ordered).label("prev_lat"),
            func.lag(point.longitude).over(**ordered).label("prev_lon"),
        )
        .where(
            point.vehicle_id.in_(select(wanted.c.vehicle_id)),
            point.recorded_at >= select(func.min(wanted.c.seg_start)).scalar_subquery(),
            point.recorded_at <= select(func.max(wanted.c.seg_end)).scalar_subquery(),
        )
        .subquery()
    )
    lat1, lat2 = func.radians(hops.c.prev_lat), func.radians(hops.c.latitude)
    half_dlat = func.sin((lat2 - lat1) / 2.0)
    half_dlon = func.sin(func.radians(hops.c.longitude - hops.c.prev_lon) / 2.0)
    a = half_dlat * half_dlat + func.cos(lat1) * func.cos(lat2) * half_dlon * half_dlon
    hop_miles = 2.0 * EARTH_RADIUS_MILES * func.asin(func.sqrt(least(dialect, a, 1.0)))
    hop_minutes = minutes_between(dialect, hops.c.recorded_at, hops.c.prev_at)
    stmt = (
        select(wanted.c.seg_id, func.sum(hop_miles), func.sum(hop_minutes))
        .join(
            hops,
            and_(
                hops.c.vehicle_id == wanted.c.vehicle_id,
                hops.c.prev_at >= wanted.c.seg_start,
                hops.c.recorded_at <= wanted.c.seg_end,
            ),
        )
        .where(hop_miles <= MAX_HOP_MPH / 60.0 * hop_minutes)
        .group_by(wanted.c.seg_id)
    )
    return {
        seg_id: (float(miles or 0.0), float(minutes or 0.0))
        for seg_id, miles, minutes in session.execute(stmt)
    }


def _empty(r: Any) -> dict[str, Any]:
    return {
        "driver_id": r.driver_id,
        "timezone": r.zone,
        "terminal": r.terminal,
        "fleet_manager": r.fleet_manager,
        "window_start": r.start_at,
        "window_end": r.end_at,
        "trips_completed": 0,
        "stops_completed": 0,
        "stops_with_appointment": 0,
        "stops_on_time": 0,
        "late_minutes": 0.0,
        "detention_hours": 0.0,
        "drive_hours": 0.0,
        "on_duty_hours": 0.0,
        "hos_violations_by_type": {},
        "safety_events_by_type": {},
        "safety_events_by_severity": {},
        "speeding_minutes": 0.0,
        "alerts_by_type": {},
        "calls": 0,
        "call_outcomes": {},
        "call_issues": {},
        "follow_ups": 0,
        "reach": {},
        "_planned_miles": 0.0,
        "_gps": None,
    }


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    (gps, coverage), planned = row.pop("_gps") or (0.0, 0.0), row.pop("_planned_miles")
    # A track that spans little of the driving time (positions ingested for part of the day)
    # is a lower bound; the planned miles of the day's delivered trips then say more.
    if gps > 0 and (coverage >= MIN_TRACK_COVERAGE or gps >= planned):
        row["miles"], row["miles_source"] = round(gps, 2), "positions"
    elif planned > 0:
        row["miles"], row["miles_source"] = round(planned, 2), "trips"
    else:
        row["miles"], row["miles_source"] = 0.0, "none"
    with_appt = row["stops_with_appointment"]
    row["on_time_pct"] = round(100.0 * row["stops_on_time"] / with_appt, 1) if with_appt else None
    row["drive_hours"] = round(row["drive_hours"], 2)
    row["on_duty_hours"] = round(row["on_duty_hours"], 2)
    row["hos_violations"] = sum(row["hos_violations_by_type"].values())
    row["safety_events"] = sum(row["safety_events_by_severity"].values())
    row["alerts"] = sum(row["alerts_by_type"].values())
    return row


def _trend_averages(session: Session, day: date, days: int) -> dict[int, float]:
    stmt = (
        select(DriverReport.driver_id, func.avg(as_float(DriverReport.safety_score)))
        .where(
            DriverReport.report_date.between(day - timedelta(days=days), day - timedelta(days=1))
        )
        .group_by(DriverReport.driver_id)
    )
    # A driver whose earlier days were all unscored (no mileage basis) has no average.
    return {
        driver_id: round(float(avg), 1)
        for driver_id, avg in session.execute(stmt)
        if avg is not None
    }


def build_driver_reports(
    session: Session,
    day: date,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> BuildResult:
    """Compute and upsert every active driver's report for `day`; flushes, never commits."""
    settings = settings or get_settings()
    now = now or utc_now()
    metrics = compute_metrics(session, day, now=now, settings=settings)
    avg7, avg30 = _trend_averages(session, day, 7), _trend_averages(session, day, 30)
    for row in metrics:
        result = scoring.safety_score(row, settings)
        row["report_date"] = day
        row["safety_score"] = result.score
        row["score_withheld_reason"] = result.withheld_reason
        row["score_components"] = result.components
        row["score_avg_7d"] = avg7.get(row["driver_id"])
        row["score_avg_30d"] = avg30.get(row["driver_id"])
        row["trend_7d"] = _delta(result.score, row["score_avg_7d"])
        row["trend_30d"] = _delta(result.score, row["score_avg_30d"])
        row["generated_at"] = now
    # `generated_at` is an ordinary column: every build stamps it (the nightly rebuild reads it
    # to know it ran), while every metric column comes out the same for the same facts.
    upserted = bulk_upsert(
        session, DriverReport, metrics, conflict_columns=["driver_id", "report_date"]
    )
    return BuildResult(
        report_date=day,
        drivers=len(metrics),
        inserted=upserted.inserted,
        updated=upserted.updated,
        unchanged=upserted.unchanged,
    )


def _delta(score: float | None, average: float | None) -> float | None:
    return None if score is None or average is None else round(score - average, 1)
