"""The morning report: yesterday's loads and calls, today's risks — per terminal and fleet-wide.

Built only from stored facts (trips, stops, alerts, driver reports, HOS clocks, call insights,
ingest runs, the weather cache): never a vendor call. `report_date` is the day the report is read;
"yesterday" is the local day before it in the scope's zone (the terminal's recipients row, else
`REPORT_DEFAULT_TIMEZONE`). Generating a date again rebuilds yesterday's driver reports and
overwrites the stored body (one row per date and scope).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlmodel import Session

from config import Settings, get_settings
from db.types import UTCDateTime
from db.upsert import bulk_upsert
from helpers.time_utils import format_duration, utc_now
from logic.ingest.status import freshness
from logic.reports import detention, reach, scorecards
from logic.reports.call_metrics import outcome_of
from logic.reports.driver_reports import build_driver_reports
from logic.reports.sql import greatest, local_day_window, minutes_between
from logic.weather import area_of
from models.alert import ACTIVE_STATUSES, Alert, AlertType, Severity
from models.call import Call, CallInsight
from models.driver import Driver, DriverStatus
from models.hos import HosClock, HosViolation
from models.report import FLEET, DriverReport, MorningReport, ReportRecipients
from models.trip import ACTIVE_TRIP_STATUSES, StopStatus, Trip, TripStatus, TripStop
from models.vendor_cache import WeatherCache

# An ingest entity whose last success is older than this is flagged in "integration health".
STALE_AFTER = {"locations": 15 * 60, "hos-clocks": 30 * 60}
DEFAULT_STALE_SECONDS = 3 * 3600


def scope_timezone(session: Session, terminal: str, settings: Settings) -> str:
    row = ReportRecipients.get_for(session, terminal)
    if row is None and terminal != FLEET:
        row = ReportRecipients.get_for(session, FLEET)
    return row.timezone if row is not None else settings.REPORT_DEFAULT_TIMEZONE


def scopes(session: Session) -> list[str]:
    """The fleet plus every terminal that has drivers or recipients."""
    terminals = set(
        session.scalars(
            select(Driver.terminal)
            .where(Driver.terminal.is_not(None), Driver.status == DriverStatus.ACTIVE)
            .distinct()
        )
    )
    terminals |= {r.terminal for r in ReportRecipients.all(session)}
    return [FLEET, *sorted(t for t in terminals if t)]


def generate(
    session: Session,
    report_date: date,
    *,
    terminal: str | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
    rebuild_driver_reports: bool = True,
) -> list[MorningReport]:
    """Build and store the morning report of `report_date` for one scope (`terminal`; "" is
    the fleet) or for every scope, first rebuilding yesterday's driver reports from the facts
    (unless told not to: the benchmark times the body alone); flushes, never commits."""
    settings = settings or get_settings()
    now = now or utc_now()
    if rebuild_driver_reports:
        build_driver_reports(session, report_date - timedelta(days=1), now=now, settings=settings)
    wanted = scopes(session) if terminal is None else [terminal]
    health = _integration_health(session, now)
    rows = []
    for scope in wanted:
        zone = scope_timezone(session, scope, settings)
        body = build_body(session, report_date, scope, zone, now=now, settings=settings)
        body["integration_health"] = health
        rows.append(
            {
                "report_date": report_date,
                "terminal": scope,
                "timezone": zone,
                "body": body,
                "generated_at": now,
            }
        )
    bulk_upsert(
        session,
        MorningReport,
        rows,
        conflict_columns=["report_date", "terminal"],
        touch_columns=["generated_at"],
    )
    session.expire_all()
    stmt = select(MorningReport).where(
        MorningReport.report_date == report_date, MorningReport.terminal.in_(wanted)
    )
    return list(session.scalars(stmt.order_by(MorningReport.terminal)))


def build_body(
    session: Session,
    report_date: date,
    terminal: str,
    zone: str,
    *,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    yesterday = report_date - timedelta(days=1)
    start, end = local_day_window(yesterday, zone)
    scope = terminal or None
    kpis = scorecards.fleet_kpis(session, yesterday, yesterday, terminal=scope)
    loads, late_loads = _loads(session, start, end, scope)
    calls, follow_ups = _calls(session, start, end, now, scope)
    return {
        "report_date": report_date.isoformat(),
        "yesterday": yesterday.isoformat(),
        "terminal": terminal,
        "timezone": zone,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "kpis": kpis.totals.model_dump(mode="json") | {"drivers": kpis.drivers},
        "score_bands": _score_bands(session, yesterday, scope),
        "scores_withheld": _scores_withheld(session, yesterday, scope),
        "loads": loads,
        "late_loads": late_loads,
        "critical_alerts": _critical_alerts(session, scope),
        "drivers_at_risk": _drivers_at_risk(session, yesterday, end, now, scope, settings),
        "calls": calls,
        "follow_ups": follow_ups,
        "reach": _reach(session, start, end, scope),
        "weather_watch": _weather_watch(session, now, scope),
        **_detention(session, start, end, now, zone, scope),
        "score_formula": kpis.score_formula,
    }


def _detention(
    session: Session,
    start: datetime,
    end: datetime,
    now: datetime,
    zone: str,
    terminal: str | None,
) -> dict[str, Any]:
    """Yesterday's billable detention by customer, and the trucks held at a stop right now."""
    rows = detention.visit_rows(session, start, end, now)
    if terminal:
        trips = {r["trip_id"] for r in rows}
        mine = set(
            session.scalars(select(Trip.id).where(Trip.id.in_(trips), Trip.terminal == terminal))
        )
        rows = [r for r in rows if r["trip_id"] in mine]
    by_customer = [g for g in detention.group_rows(rows, "customer") if g["billable_minutes"] > 0]
    held = [
        {
            "trip_id": r["trip_id"],
            "load_number": r["load_number"],
            "unit_number": r["unit_number"],
            "facility": r["facility"],
            "customer": r["customer"],
            "arrived_at": r["arrived_at"].isoformat(),
            "held_minutes": r["dwell_minutes"],
            "billable_minutes": r["billable_minutes"],
        }
        for r in detention.held_now(session, now, terminal)
    ]
    return {"detention_by_customer": by_customer, "held_now": held}


def _score_bands(session: Session, day: date, terminal: str | None) -> dict[str, int]:
    score = DriverReport.safety_score
    band = case(
        (score.is_(None), "not scored"),
        (score < 50, "<50"),
        (score < 70, "50-69"),
        (score < 90, "70-89"),
        else_="90-100",
    )
    stmt = select(band, func.count()).where(DriverReport.report_date == day).group_by(band)
    if terminal is not None:
        stmt = stmt.where(DriverReport.terminal == terminal)
    return {str(name): int(n) for name, n in session.execute(stmt)}


def _scores_withheld(session: Session, day: date, terminal: str | None) -> list[dict[str, Any]]:
    """Drivers who drove yesterday but whose day could not be scored (no mileage basis): missing
    data someone should look at, not a clean day."""
    stmt = (
        select(Driver.id, Driver.first_name, Driver.last_name, DriverReport.drive_hours)
        .join(DriverReport, DriverReport.driver_id == Driver.id)
        .where(
            DriverReport.report_date == day,
            DriverReport.safety_score.is_(None),
            DriverReport.drive_hours > 0,
        )
        .order_by(DriverReport.drive_hours.desc(), Driver.id)
    )
    if terminal is not None:
        stmt = stmt.where(DriverReport.terminal == terminal)
    return [
        {
            "driver_id": driver_id,
            "driver": f"{first} {last}".strip(),
            "drive_hours": round(float(hours), 2),
        }
        for driver_id, first, last, hours in session.execute(stmt)
    ]


def _loads(session: Session, start: datetime, end: datetime, terminal: str | None):
    """Trips delivered in the window, on time or late, by customer; the late ones listed.

    A load is late when any stop was reached after its appointment window (the same rule as
    the driver reports) or it finished after its scheduled end.
    """
    dialect = session.get_bind().dialect.name
    deadline = func.coalesce(TripStop.appointment_end, TripStop.appointment_start)
    stop_late = func.max(
        case(
            (
                TripStop.arrived_at > deadline,
                minutes_between(dialect, TripStop.arrived_at, deadline),
            ),
            else_=0.0,
        )
    )
    per_trip = (
        select(Trip.id.label("trip_id"), stop_late.label("stop_late"))
        .outerjoin(TripStop, TripStop.trip_id == Trip.id)
        .where(Trip.status == TripStatus.DELIVERED, Trip.actual_end >= start, Trip.actual_end < end)
        .group_by(Trip.id)
    )
    if terminal is not None:
        per_trip = per_trip.where(Trip.terminal == terminal)
    per_trip = per_trip.subquery()
    end_late = case(
        (
            Trip.actual_end > Trip.scheduled_end,
            minutes_between(dialect, Trip.actual_end, Trip.scheduled_end),
        ),
        else_=0.0,
    )
    late_minutes = greatest(dialect, func.coalesce(per_trip.c.stop_late, 0.0), end_late)
    stmt = (
        select(
            Trip.id,
            Trip.load_number,
            Trip.customer,
            Trip.driver_id,
            Driver.first_name,
            Driver.last_name,
            late_minutes.label("late"),
        )
        .join(per_trip, per_trip.c.trip_id == Trip.id)
        .outerjoin(Driver, Driver.id == Trip.driver_id)
        .order_by(Trip.id)
    )
    by_customer: dict[str, dict[str, Any]] = {}
    late: list[dict[str, Any]] = []
    for row in session.execute(stmt):
        customer = row.customer or "(no customer)"
        entry = by_customer.setdefault(customer, {"customer": customer, "on_time": 0, "late": 0})
        minutes = round(float(row.late or 0.0), 1)
        if minutes > 0:
            entry["late"] += 1
            late.append(
                {
                    "trip_id": row.id,
                    "load_number": row.load_number,
                    "customer": customer,
                    "driver_id": row.driver_id,
                    "driver": f"{row.first_name or ''} {row.last_name or ''}".strip() or None,
                    "late_minutes": minutes,
                    "reasons": [],
                }
            )
        else:
            entry["on_time"] += 1
    _attach_reasons(session, late)
    customers = sorted(by_customer.values(), key=lambda e: (-e["late"], e["customer"]))
    return {
        "on_time": sum(e["on_time"] for e in customers),
        "late": sum(e["late"] for e in customers),
        "by_customer": customers,
    }, sorted(late, key=lambda e: -e["late_minutes"])


def _attach_reasons(session: Session, late: list[dict[str, Any]]) -> None:
    """Reasons the drivers gave on calls about these trips (issues, delay, follow-up note)."""
    if not late:
        return
    by_trip = {entry["trip_id"]: entry for entry in late}
    stmt = (
        select(CallInsight)
        .where(CallInsight.trip_id.in_(list(by_trip)))
        .order_by(CallInsight.created_at, CallInsight.id)
    )
    for insight in session.scalars(stmt):
        entry = by_trip[insight.trip_id]
        reason = {
            "call_id": insight.call_id,
            "issues": list(insight.issues or []),
            "reported_delay_minutes": insight.reported_delay_minutes,
            "note": insight.follow_up_reason,
        }
        entry["reasons"].append(reason)


def _critical_alerts(session: Session, terminal: str | None) -> list[dict[str, Any]]:
    stmt = (
        select(Alert)
        .where(
            Alert.severity == Severity.CRITICAL,
            Alert.status.in_([s.value for s in ACTIVE_STATUSES if s != "pending"]),
        )
        .order_by(Alert.first_seen_at, Alert.id)
    )
    if terminal is not None:
        stmt = stmt.outerjoin(Driver, Driver.id == Alert.driver_id).outerjoin(
            Trip, Trip.id == Alert.trip_id
        )
        stmt = stmt.where(or_(Driver.terminal == terminal, Trip.terminal == terminal))
    return [
        {
            "id": a.id,
            "type": a.type,
            "title": a.title,
            "status": a.status,
            "driver_id": a.driver_id,
            "trip_id": a.trip_id,
            "first_seen_at": a.first_seen_at.isoformat(),
        }
        for a in session.scalars(stmt)
    ]


def _drivers_at_risk(
    session: Session,
    yesterday: date,
    window_end: datetime,
    now: datetime,
    terminal: str | None,
    settings: Settings,
) -> list[dict[str, Any]]:
    """Low score yesterday, repeated HOS violations over 7 days, or little drive time left."""
    since = window_end - timedelta(days=7)
    violations = (
        select(HosViolation.driver_id, func.count().label("n"))
        .where(HosViolation.started_at >= since, HosViolation.started_at < window_end)
        .group_by(HosViolation.driver_id)
        .subquery()
    )
    near = settings.REPORT_NEAR_HOS_MINUTES
    stmt = (
        select(
            Driver.id,
            Driver.first_name,
            Driver.last_name,
            DriverReport.safety_score,
            func.coalesce(violations.c.n, 0),
            HosClock.drive_remaining_minutes,
        )
        .select_from(Driver)
        .outerjoin(
            DriverReport,
            and_(DriverReport.driver_id == Driver.id, DriverReport.report_date == yesterday),
        )
        .outerjoin(violations, violations.c.driver_id == Driver.id)
        .outerjoin(HosClock, HosClock.driver_id == Driver.id)
        .where(
            Driver.status == DriverStatus.ACTIVE,
            or_(
                DriverReport.safety_score < settings.REPORT_AT_RISK_SCORE,
                violations.c.n >= settings.REPORT_AT_RISK_VIOLATIONS_7D,
                HosClock.drive_remaining_minutes <= near,
            ),
        )
        .order_by(DriverReport.safety_score.asc().nulls_last(), Driver.id)
    )
    if terminal is not None:
        stmt = stmt.where(Driver.terminal == terminal)
    at_risk = []
    for driver_id, first, last, score, count, remaining in session.execute(stmt):
        reasons = []
        if score is not None and score < settings.REPORT_AT_RISK_SCORE:
            reasons.append(f"safety score {score:g} yesterday")
        if count >= settings.REPORT_AT_RISK_VIOLATIONS_7D:
            reasons.append(f"{count} HOS violations in 7 days")
        if remaining is not None and remaining <= near:
            reasons.append(f"{format_duration(remaining)} of drive time left")
        at_risk.append(
            {
                "driver_id": driver_id,
                "driver": f"{first} {last}".strip(),
                "safety_score": score,
                "violations_7d": int(count),
                "drive_remaining_minutes": remaining,
                "reasons": reasons,
            }
        )
    return at_risk


def _calls(
    session: Session, start: datetime, end: datetime, now: datetime, terminal: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Yesterday's calls by outcome, and the follow-ups asked for since yesterday began."""
    outcome = outcome_of()
    stmt = (
        select(outcome, func.count())
        .select_from(Call)
        .where(Call.created_at >= start, Call.created_at < end)
        .group_by(outcome)
    )
    pending = (
        select(CallInsight, Driver.first_name, Driver.last_name)
        .outerjoin(Driver, Driver.id == CallInsight.driver_id)
        .where(
            CallInsight.needs_follow_up.is_(True),
            CallInsight.created_at >= start,
            CallInsight.created_at < literal(now, UTCDateTime()),
        )
        .order_by(CallInsight.created_at, CallInsight.id)
    )
    if terminal is not None:
        stmt = stmt.join(Driver, Driver.id == Call.driver_id).where(Driver.terminal == terminal)
        pending = pending.where(Driver.terminal == terminal)
    outcomes = {str(name): int(n) for name, n in session.execute(stmt)}
    follow_ups = [
        {
            "call_id": insight.call_id,
            "driver_id": insight.driver_id,
            "driver": f"{first or ''} {last or ''}".strip() or None,
            "trip_id": insight.trip_id,
            "reason": insight.follow_up_reason,
            "issues": list(insight.issues or []),
        }
        for insight, first, last in session.execute(pending)
    ]
    return {"total": sum(outcomes.values()), "outcomes": outcomes}, follow_ups


def _reach(
    session: Session, start: datetime, end: datetime, terminal: str | None
) -> dict[str, Any]:
    """Yesterday's reach per channel and per contact-plan step, summed over the drivers."""

    def in_window(column: Any) -> Any:
        return and_(column >= start, column < end)

    def of_terminal(query: Any, driver_column: Any) -> Any:
        return query.join(Driver, Driver.id == driver_column).where(Driver.terminal == terminal)

    scope = of_terminal if terminal is not None else None
    return reach.total(reach.reach_by_driver(session, in_window, scope=scope).values())


def _integration_health(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Ingest freshness (logic/ingest/status.py), the lag measured at the report's `now`."""
    health = []
    for e in freshness(session).entities:
        limit = STALE_AFTER.get(e.entity, DEFAULT_STALE_SECONDS)
        lag = int((now - e.last_success_at).total_seconds()) if e.last_success_at else None
        ok = lag is not None and lag <= limit
        health.append(
            {
                "source": e.source,
                "entity": e.entity,
                "last_success_at": e.last_success_at.isoformat() if e.last_success_at else None,
                "lag_seconds": lag,
                "last_run_status": e.last_run_status,
                "status": "ok" if ok else ("never" if e.last_success_at is None else "stale"),
            }
        )
    return health


def _weather_watch(session: Session, now: datetime, terminal: str | None) -> list[dict[str, Any]]:
    """Weather alerts stored for the stops still ahead on active trips (the lanes run today):
    the weather cache's alerts for each stop's grid cell, plus open severe-weather alerts."""
    stmt = (
        select(
            Trip.id,
            Trip.load_number,
            TripStop.city,
            TripStop.state,
            TripStop.latitude,
            TripStop.longitude,
        )
        .join(TripStop, TripStop.trip_id == Trip.id)
        .where(
            Trip.status.in_([s.value for s in ACTIVE_TRIP_STATUSES]),
            TripStop.departed_at.is_(None),
            TripStop.status.not_in([StopStatus.DEPARTED.value, StopStatus.SKIPPED.value]),
            TripStop.latitude.is_not(None),
            TripStop.longitude.is_not(None),
        )
        .order_by(Trip.id, TripStop.sequence)
    )
    if terminal is not None:
        stmt = stmt.where(Trip.terminal == terminal)
    stops = session.execute(stmt).all()
    keys = {area_of(s.latitude, s.longitude)[0] for s in stops}
    cached = {}
    if keys:
        cache_rows = session.scalars(select(WeatherCache).where(WeatherCache.area_key.in_(keys)))
        cached = {c.area_key: c for c in cache_rows}
    watch: dict[int | None, dict[str, Any]] = {}
    for stop in stops:
        cell = cached.get(area_of(stop.latitude, stop.longitude)[0])
        alerts = [a for a in (cell.alerts if cell else []) if _still_in_force(a, now)]
        if not alerts:
            continue
        entry = watch.setdefault(stop.id, _watch_entry(stop.id, stop.load_number))
        entry["places"].append(
            {
                "city": stop.city,
                "state": stop.state,
                "alerts": [
                    {
                        "event": a.get("event"),
                        "severity": a.get("severity"),
                        "headline": a.get("headline"),
                    }
                    for a in alerts
                ],
                "as_of": cell.fetched_at.isoformat(),
            }
        )
    severe = (
        select(Alert, Trip.load_number)
        .outerjoin(Trip, Trip.id == Alert.trip_id)
        .where(
            Alert.type == AlertType.SEVERE_WEATHER,
            Alert.status.in_([s.value for s in ACTIVE_STATUSES if s != "pending"]),
        )
        .order_by(Alert.id)
    )
    if terminal is not None:
        severe = severe.where(Trip.terminal == terminal)
    for alert, load_number in session.execute(severe):
        entry = watch.setdefault(alert.trip_id, _watch_entry(alert.trip_id, load_number))
        entry["open_alerts"].append({"id": alert.id, "title": alert.title})
    return list(watch.values())


def _watch_entry(trip_id: int | None, load_number: str | None) -> dict[str, Any]:
    return {"trip_id": trip_id, "load_number": load_number, "places": [], "open_alerts": []}


def _still_in_force(alert: dict[str, Any], now: datetime) -> bool:
    ends = alert.get("ends") or alert.get("expires")
    if not ends:
        return True
    try:
        return datetime.fromisoformat(str(ends).replace("Z", "+00:00")) > now
    except ValueError:
        return True
