"""Scorecards read from stored `DriverReport` rows: the fleet table for a day, one driver's
daily series with totals, and fleet KPIs over a date range — aggregated in SQL.

The morning report takes its KPI numbers from `fleet_kpis`, so its body and
`GET /reports/fleet` always agree.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import Float, Integer, String, cast, func, select, true
from sqlmodel import Session

from config import get_settings
from logic.listing import Page, PageRequest, driver_name_key, order_by_clause
from logic.reports import score as scoring
from logic.reports.sql import as_float, json_object_items
from models.driver import Driver
from models.report import DriverReport

PER_THOUSAND = 1000.0


class DriverReportPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    driver_id: int
    driver_name: str
    report_date: date
    timezone: str
    terminal: str | None
    fleet_manager: str | None
    miles: float
    miles_source: str
    trips_completed: int
    stops_completed: int
    stops_with_appointment: int
    stops_on_time: int
    on_time_pct: float | None
    late_minutes: float
    detention_hours: float = 0.0
    drive_hours: float
    on_duty_hours: float
    hos_violations: int
    hos_violations_by_type: dict[str, int]
    safety_events: int
    safety_events_by_type: dict[str, int]
    safety_events_by_severity: dict[str, int]
    speeding_minutes: float
    alerts: int
    alerts_by_type: dict[str, int]
    calls: int
    call_outcomes: dict[str, int]
    call_issues: dict[str, int]
    follow_ups: int
    reach: dict[str, Any] = PField(
        default_factory=dict,
        description="per channel (in_cab, sms, call) and per contact-plan step, with reach_rate %",
    )
    safety_score: float | None = PField(
        description="0-100; null when the day has no mileage basis (see score_withheld_reason)"
    )
    score_withheld_reason: str | None
    score_components: dict[str, float]
    score_avg_7d: float | None
    score_avg_30d: float | None
    trend_7d: float | None
    trend_30d: float | None


class ScorecardPage(Page[DriverReportPublic]):
    report_date: date
    score_formula: str


class Totals(BaseModel):
    days: int
    miles: float
    trips_completed: int
    stops_completed: int
    stops_with_appointment: int
    stops_on_time: int
    on_time_pct: float | None
    late_minutes: float
    drive_hours: float
    on_duty_hours: float
    hos_violations: int
    safety_events: int
    speeding_minutes: float
    alerts: int
    calls: int
    follow_ups: int
    average_score: float | None
    violations_per_1000_miles: float | None
    events_per_1000_miles: float | None


class DriverSeries(BaseModel):
    driver_id: int
    driver_name: str
    start: date
    end: date
    days: list[DriverReportPublic]
    totals: Totals
    score_formula: str


class FleetKpis(BaseModel):
    start: date
    end: date
    terminal: str | None
    drivers: int
    totals: Totals
    call_outcomes: dict[str, int]
    score_formula: str


SORTS = {
    "safety_score": DriverReport.safety_score,
    "miles": DriverReport.miles,
    "on_time_pct": DriverReport.on_time_pct,
    "hos_violations": DriverReport.hos_violations,
    "safety_events": DriverReport.safety_events,
    "trend_7d": DriverReport.trend_7d,
    "driver_id": DriverReport.driver_id,
    "last_name": Driver.last_name,
    # The console's columns.
    "driver": driver_name_key(DriverReport.driver_id),
    "terminal": DriverReport.terminal,
    "calls": DriverReport.calls,
}


def _public(report: DriverReport, driver: Driver) -> DriverReportPublic:
    data = report.model_dump()
    return DriverReportPublic(**data, driver_name=driver.full_name)


def fleet_table(
    session: Session,
    day: date,
    page: PageRequest,
    *,
    terminal: str | None = None,
    fleet_manager: str | None = None,
) -> ScorecardPage:
    """One day's reports for every driver (filters: terminal, fleet manager), lowest score
    first unless `sort` says otherwise."""
    stmt = (
        select(DriverReport, Driver)
        .join(Driver, Driver.id == DriverReport.driver_id)
        .where(DriverReport.report_date == day)
    )
    if terminal is not None:
        stmt = stmt.where(DriverReport.terminal == terminal)
    if fleet_manager is not None:
        stmt = stmt.where(DriverReport.fleet_manager == fleet_manager)
    order = order_by_clause(
        page.sort, SORTS, default="safety_score", tie_breaker=DriverReport.driver_id
    )
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.execute(stmt.order_by(*order).limit(page.limit).offset(page.offset)).all()
    return ScorecardPage(
        items=[_public(report, driver) for report, driver in rows],
        total=int(total or 0),
        limit=page.limit,
        offset=page.offset,
        report_date=day,
        score_formula=scoring.formula(get_settings()),
    )


def _totals_columns() -> list[Any]:
    r = DriverReport
    return [
        func.count(r.id),
        func.coalesce(func.sum(r.miles), 0.0),
        func.coalesce(func.sum(r.trips_completed), 0),
        func.coalesce(func.sum(r.stops_completed), 0),
        func.coalesce(func.sum(r.stops_with_appointment), 0),
        func.coalesce(func.sum(r.stops_on_time), 0),
        func.coalesce(func.sum(r.late_minutes), 0.0),
        func.coalesce(func.sum(r.drive_hours), 0.0),
        func.coalesce(func.sum(r.on_duty_hours), 0.0),
        func.coalesce(func.sum(r.hos_violations), 0),
        func.coalesce(func.sum(r.safety_events), 0),
        func.coalesce(func.sum(r.speeding_minutes), 0.0),
        func.coalesce(func.sum(r.alerts), 0),
        func.coalesce(func.sum(r.calls), 0),
        func.coalesce(func.sum(r.follow_ups), 0),
        func.avg(as_float(r.safety_score)),
        func.count(func.distinct(r.driver_id)),
    ]


def _totals(row: Any) -> tuple[Totals, int]:
    (days, miles, trips, stops, with_appt, on_time, late, drive, duty, violations, events,
     speeding, alerts, calls, follow_ups, avg_score, drivers) = row  # fmt: skip
    miles = float(miles)

    def per_thousand(count: int) -> float | None:
        return round(PER_THOUSAND * count / miles, 2) if miles > 0 else None

    totals = Totals(
        days=int(days),
        miles=round(miles, 2),
        trips_completed=int(trips),
        stops_completed=int(stops),
        stops_with_appointment=int(with_appt),
        stops_on_time=int(on_time),
        on_time_pct=round(100.0 * int(on_time) / int(with_appt), 1) if with_appt else None,
        late_minutes=round(float(late), 2),
        drive_hours=round(float(drive), 2),
        on_duty_hours=round(float(duty), 2),
        hos_violations=int(violations),
        safety_events=int(events),
        speeding_minutes=round(float(speeding), 2),
        alerts=int(alerts),
        calls=int(calls),
        follow_ups=int(follow_ups),
        average_score=None if avg_score is None else round(float(avg_score), 1),
        violations_per_1000_miles=per_thousand(int(violations)),
        events_per_1000_miles=per_thousand(int(events)),
    )
    return totals, int(drivers)


def driver_series(session: Session, driver: Driver, start: date, end: date) -> DriverSeries:
    """The driver's daily reports between two dates (inclusive) and their totals."""
    reports = DriverReport.for_driver(session, driver.id, start, end)
    where = (DriverReport.driver_id == driver.id, DriverReport.report_date.between(start, end))
    totals, _ = _totals(session.execute(select(*_totals_columns()).where(*where)).one())
    return DriverSeries(
        driver_id=driver.id,
        driver_name=driver.full_name,
        start=start,
        end=end,
        days=[_public(report, driver) for report in reports],
        totals=totals,
        score_formula=scoring.formula(get_settings()),
    )


def fleet_kpis(
    session: Session, start: date, end: date, *, terminal: str | None = None
) -> FleetKpis:
    """Fleet (or one terminal's) KPIs over stored reports: two grouped queries."""
    where = [DriverReport.report_date.between(start, end)]
    if terminal is not None:
        where.append(DriverReport.terminal == terminal)
    totals, drivers = _totals(session.execute(select(*_totals_columns()).where(*where)).one())
    dialect = session.get_bind().dialect.name
    item = json_object_items(dialect, DriverReport.call_outcomes)
    outcomes = (
        select(cast(item.c.key, String), func.sum(cast(cast(item.c.value, Float), Integer)))
        .select_from(DriverReport)
        .join(item, true())
        .where(*where)
        .group_by(cast(item.c.key, String))
    )
    return FleetKpis(
        start=start,
        end=end,
        terminal=terminal,
        drivers=drivers,
        totals=totals,
        call_outcomes={str(k): int(v) for k, v in session.execute(outcomes)},
        score_formula=scoring.formula(get_settings()),
    )


def rows_for_day(
    session: Session, day: date, *, terminal: str | None = None, fleet_manager: str | None = None
) -> list[dict[str, Any]]:
    """Every driver's report for `day` as plain dicts (exports), lowest score first."""
    stmt = (
        select(DriverReport, Driver)
        .join(Driver, Driver.id == DriverReport.driver_id)
        .where(DriverReport.report_date == day)
        .order_by(DriverReport.safety_score.asc().nulls_last(), DriverReport.driver_id)
    )
    if terminal is not None:
        stmt = stmt.where(DriverReport.terminal == terminal)
    if fleet_manager is not None:
        stmt = stmt.where(DriverReport.fleet_manager == fleet_manager)
    return [_public(r, d).model_dump(mode="json") for r, d in session.execute(stmt)]
