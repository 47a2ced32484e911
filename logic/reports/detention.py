"""Detention and dwell from stored stop visits: the per-visit list a carrier attaches to an
invoice, totals by customer and facility, trucks held right now, and the `GET /stop-visits` list.

Each stop counts once: its GPS visit, else the TMS's (else a driver's call). An open visit's
figures run to `now`. Derived from the `stop_visit` rows only (never a vendor call), so any day
can be rebuilt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from helpers import pandas_utils
from logic.listing import Page, PageRequest, fetch_page, order_by_clause
from logic.reports.sql import local_day_window
from logic.trips.stop_visits import detention_minutes, visit_public
from models.driver import Driver
from models.stop_visit import StopVisit, StopVisitPublic, VisitSource
from models.trip import ACTIVE_TRIP_STATUSES, Trip, TripStop
from models.vehicle import Vehicle

VISIT_COLUMNS = (
    "visit_id",
    "load_number",
    "customer",
    "facility",
    "city",
    "state",
    "stop_type",
    "driver_name",
    "unit_number",
    "source",
    "appointment_start",
    "appointment_end",
    "arrived_at",
    "departed_at",
    "late_minutes",
    "dwell_minutes",
    "free_minutes",
    "detention_started_at",
    "billable_minutes",
    "billable_hours",
    "still_held",
)
GROUP_COLUMNS = (
    "visits",
    "detained_visits",
    "billable_minutes",
    "billable_hours",
    "average_dwell_minutes",
)


def primary_visit() -> Any:
    """SQL: the visit that counts for its stop (GPS, else TMS, else a driver's call)."""
    better = aliased(StopVisit)
    return ~(
        select(better.id)
        .where(better.stop_id == StopVisit.stop_id, better.id != StopVisit.id)
        .where(
            or_(
                better.source == VisitSource.GPS.value,
                and_(
                    better.source == VisitSource.TMS.value,
                    StopVisit.source == VisitSource.DRIVER_CALL.value,
                ),
            )
        )
        .exists()
    )


def _visit_query() -> Any:
    return (
        select(
            StopVisit,
            Trip.load_number,
            TripStop.city,
            TripStop.state,
            TripStop.stop_type,
            TripStop.appointment_start,
            TripStop.appointment_end,
            Driver.first_name,
            Driver.last_name,
            Vehicle.unit_number,
        )
        .join(Trip, Trip.id == StopVisit.trip_id)
        .join(TripStop, TripStop.id == StopVisit.stop_id)
        .outerjoin(Driver, Driver.id == Trip.driver_id)
        .outerjoin(Vehicle, Vehicle.id == Trip.vehicle_id)
        .where(primary_visit())
    )


def _row(r: Any, now: datetime) -> dict[str, Any]:
    v: StopVisit = r[0]
    end = v.departed_at or now
    billable = (
        v.detention_minutes
        if v.departed_at is not None
        else detention_minutes(v.detention_started_at, v.free_minutes, now)
    )
    dwell = v.dwell_minutes
    if dwell is None:
        dwell = max(0, math.floor((end - v.arrived_at).total_seconds() / 60))
    name = f"{r.first_name or ''} {r.last_name or ''}".strip() or None
    return {
        "visit_id": v.id,
        "trip_id": v.trip_id,
        "stop_id": v.stop_id,
        "load_number": r.load_number,
        "customer": v.customer,
        "facility": v.facility,
        "city": r.city,
        "state": r.state,
        "stop_type": r.stop_type,
        "driver_name": name,
        "unit_number": r.unit_number,
        "source": v.source,
        "appointment_start": r.appointment_start,
        "appointment_end": r.appointment_end,
        "arrived_at": v.arrived_at,
        "departed_at": v.departed_at,
        "late_minutes": v.late_minutes,
        "dwell_minutes": dwell,
        "free_minutes": v.free_minutes,
        "detention_started_at": v.detention_started_at,
        "billable_minutes": billable,
        "billable_hours": round(billable / 60, 2),
        "still_held": v.departed_at is None,
    }


def visit_rows(
    session: Session,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    customer: str | None = None,
    facility: str | None = None,
) -> list[dict[str, Any]]:
    """Every counted visit that arrived in [start, end), oldest first, figures to `now`."""
    query = _visit_query().where(StopVisit.arrived_at >= start, StopVisit.arrived_at < end)
    if customer:
        query = query.where(StopVisit.customer == customer)
    if facility:
        query = query.where(StopVisit.facility == facility)
    rows = session.execute(query.order_by(StopVisit.arrived_at, StopVisit.id)).all()
    return [_row(r, now) for r in rows]


def group_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[key] or "(unknown)", []).append(row)
    out = []
    for name, members in groups.items():
        billable = sum(m["billable_minutes"] for m in members)
        out.append(
            {
                key: name,
                "visits": len(members),
                "detained_visits": sum(1 for m in members if m["billable_minutes"] > 0),
                "billable_minutes": billable,
                "billable_hours": round(billable / 60, 2),
                "average_dwell_minutes": round(
                    sum(m["dwell_minutes"] for m in members) / len(members), 1
                ),
            }
        )
    return sorted(out, key=lambda g: (-g["billable_minutes"], g[key]))


@dataclass
class DetentionReport:
    day: date
    timezone: str
    visits: list[dict[str, Any]]  # detained visits only (billable > 0)
    by_customer: list[dict[str, Any]]
    by_facility: list[dict[str, Any]]  # with average dwell over every visit

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "timezone": self.timezone,
            "billable_minutes": sum(v["billable_minutes"] for v in self.visits),
            "visits": self.visits,
            "by_customer": self.by_customer,
            "by_facility": self.by_facility,
        }


def detention_report(
    session: Session,
    day: date,
    zone: str,
    now: datetime,
    *,
    customer: str | None = None,
    facility: str | None = None,
) -> DetentionReport:
    """Visits that arrived on the local `day` in `zone`: detained ones, totals per customer
    and per facility (average dwell over all visits, detained or not)."""
    start, end = local_day_window(day, zone)
    rows = visit_rows(session, start, end, now, customer=customer, facility=facility)
    detained = [r for r in rows if r["billable_minutes"] > 0]
    return DetentionReport(
        day, zone, detained, group_rows(rows, "customer"), group_rows(rows, "facility")
    )


def _local(rows: list[dict[str, Any]], zone: str) -> list[dict[str, Any]]:
    """Times as the report zone's wall clock ("2026-03-10 14:05"): what an invoice shows, and
    spreadsheets hold no zones."""
    tz = ZoneInfo(zone)
    return [
        {
            k: v.astimezone(tz).strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else v
            for k, v in row.items()
        }
        for row in rows
    ]


def report_csv(report: DetentionReport) -> bytes:
    """One row per detained visit, times in the report's zone."""
    rows = _local(report.visits, report.timezone)
    return pandas_utils.to_csv_bytes(pandas_utils.frame(rows, VISIT_COLUMNS))


def report_xlsx(report: DetentionReport) -> bytes:
    """Sheets: Detention (one row per detained visit), By customer, By facility."""
    return pandas_utils.to_xlsx_bytes(
        {
            "Detention": pandas_utils.frame(_local(report.visits, report.timezone), VISIT_COLUMNS),
            "By customer": pandas_utils.frame(report.by_customer, ("customer", *GROUP_COLUMNS)),
            "By facility": pandas_utils.frame(report.by_facility, ("facility", *GROUP_COLUMNS)),
        }
    )


def held_now(session: Session, now: datetime, terminal: str | None = None) -> list[dict]:
    """Trucks at a stop right now (open counted visits of active trips), longest held first."""
    query = _visit_query().where(
        StopVisit.departed_at.is_(None),
        Trip.status.in_([s.value for s in ACTIVE_TRIP_STATUSES]),
        TripStop.visit_departed_at.is_(None),
    )
    if terminal:
        query = query.where(Trip.terminal == terminal)
    rows = [_row(r, now) for r in session.execute(query)]
    return sorted(rows, key=lambda r: -r["dwell_minutes"])


@dataclass(frozen=True)
class VisitFilters:
    facility: str | None = None
    customer: str | None = None
    trip_id: int | None = None
    source: str | None = None
    arrived_from: datetime | None = None
    arrived_to: datetime | None = None
    detention_only: bool = False
    open_only: bool = False


VISIT_SORTABLE = {
    "arrived_at": StopVisit.arrived_at,
    "departed_at": StopVisit.departed_at,
    "detention_minutes": StopVisit.detention_minutes,
    "dwell_minutes": StopVisit.dwell_minutes,
    "customer": StopVisit.customer,
    "facility": StopVisit.facility,
}


def list_visits(
    session: Session, filters: VisitFilters, page: PageRequest, now: datetime
) -> Page[StopVisitPublic]:
    """Visits (every source) filtered; `detention_only` keeps those billing now or finally
    (an open visit bills once `billable_from` has passed)."""
    stmt = select(StopVisit)
    for column, value in (
        (StopVisit.facility, filters.facility),
        (StopVisit.customer, filters.customer),
        (StopVisit.trip_id, filters.trip_id),
        (StopVisit.source, filters.source),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.arrived_from is not None:
        stmt = stmt.where(StopVisit.arrived_at >= filters.arrived_from)
    if filters.arrived_to is not None:
        stmt = stmt.where(StopVisit.arrived_at < filters.arrived_to)
    if filters.open_only:
        stmt = stmt.where(StopVisit.departed_at.is_(None))
    if filters.detention_only:
        stmt = stmt.where(
            or_(
                StopVisit.detention_minutes > 0,
                and_(StopVisit.departed_at.is_(None), StopVisit.billable_from < now),
            )
        )
    order = order_by_clause(
        page.sort, VISIT_SORTABLE, default="-arrived_at", tie_breaker=StopVisit.id
    )
    rows, total = fetch_page(session, stmt, page, order)
    items = [visit_public(v, now) for v in rows]
    return Page[StopVisitPublic](items=items, total=total, limit=page.limit, offset=page.offset)
