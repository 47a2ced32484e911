"""Hours-of-service reads: current clocks (e.g. "drive time below N minutes"), a driver's
duty-status logs for a range of days in the driver's zone, and violations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload
from sqlmodel import Session

from helpers.errors import Unprocessable
from logic.fleet.drivers import get_driver
from logic.listing import Page, PageRequest, check_range, fetch_page, order_by_clause, text_search
from models.driver import Driver
from models.hos import (
    DutyStatus,
    HosClock,
    HosClockPublic,
    HosLog,
    HosLogPublic,
    HosViolation,
    HosViolationPublic,
)

MAX_LOG_DAYS = 31

CLOCK_SORTABLE = {
    "drive_remaining_minutes": HosClock.drive_remaining_minutes,
    "shift_remaining_minutes": HosClock.shift_remaining_minutes,
    "cycle_remaining_minutes": HosClock.cycle_remaining_minutes,
    "time_until_break_minutes": HosClock.time_until_break_minutes,
    "as_of": HosClock.as_of,
    "driver_id": HosClock.driver_id,
}
VIOLATION_SORTABLE = {
    "started_at": HosViolation.started_at,
    "duration_minutes": HosViolation.duration_minutes,
    "violation_type": HosViolation.violation_type,
}


@dataclass(frozen=True)
class ClockFilters:
    duty_statuses: Sequence[DutyStatus] = ()
    driver_id: int | None = None
    terminal: str | None = None
    drive_remaining_below: int | None = None
    shift_remaining_below: int | None = None
    cycle_remaining_below: int | None = None
    break_due_within: int | None = None
    q: str | None = None


def _drivers_matching(terminal: str | None, q: str | None):
    stmt = select(Driver.id)
    if terminal:
        stmt = stmt.where(Driver.terminal == terminal)
    search = text_search(q, Driver.first_name, Driver.last_name)
    if search is not None:
        stmt = stmt.where(search)
    return stmt


def list_clocks(session: Session, filters: ClockFilters, page: PageRequest) -> Page[HosClockPublic]:
    """Unknown (NULL) remaining time never matches a "below N" filter."""
    stmt = select(HosClock).options(joinedload(HosClock.driver))
    if filters.duty_statuses:
        stmt = stmt.where(HosClock.duty_status.in_([str(s) for s in filters.duty_statuses]))
    if filters.driver_id is not None:
        stmt = stmt.where(HosClock.driver_id == filters.driver_id)
    if filters.drive_remaining_below is not None:
        stmt = stmt.where(HosClock.drive_remaining_minutes < filters.drive_remaining_below)
    if filters.shift_remaining_below is not None:
        stmt = stmt.where(HosClock.shift_remaining_minutes < filters.shift_remaining_below)
    if filters.cycle_remaining_below is not None:
        stmt = stmt.where(HosClock.cycle_remaining_minutes < filters.cycle_remaining_below)
    if filters.break_due_within is not None:
        stmt = stmt.where(HosClock.time_until_break_minutes <= filters.break_due_within)
    if filters.terminal or (filters.q and filters.q.strip()):
        stmt = stmt.where(HosClock.driver_id.in_(_drivers_matching(filters.terminal, filters.q)))
    order = order_by_clause(
        page.sort, CLOCK_SORTABLE, default="drive_remaining_minutes", tie_breaker=HosClock.id
    )
    rows, total = fetch_page(session, stmt, page, order)
    return Page[HosClockPublic](
        items=[HosClockPublic.model_validate(c) for c in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def day_window(start_day: date, end_day: date, zone: str | None) -> tuple[datetime, datetime]:
    """[start of `start_day`, start of the day after `end_day`) in the driver's zone, as UTC."""
    tz = ZoneInfo(zone or "UTC")
    begin = datetime.combine(start_day, time.min, tzinfo=tz)
    finish = datetime.combine(end_day + timedelta(days=1), time.min, tzinfo=tz)
    return begin, finish


def driver_logs(
    session: Session, driver_id: int, *, start_day: date, end_day: date
) -> list[HosLogPublic]:
    """Segments overlapping the days, in the driver's zone (UTC when unknown), oldest first."""
    driver = get_driver(session, driver_id)
    if start_day > end_day:
        raise Unprocessable(
            f"start_date {start_day} is after end_date {end_day}", loc=("query", "end_date")
        )
    if (end_day - start_day).days + 1 > MAX_LOG_DAYS:
        raise Unprocessable(
            f"log range is limited to {MAX_LOG_DAYS} days", loc=("query", "end_date")
        )
    begin, finish = day_window(start_day, end_day, driver.timezone)
    stmt = (
        select(HosLog)
        .where(
            HosLog.driver_id == driver_id,
            HosLog.start_at < finish,
            or_(HosLog.end_at.is_(None), HosLog.end_at > begin),  # type: ignore[union-attr]
        )
        .order_by(HosLog.start_at)
    )
    return [HosLogPublic.model_validate(row) for row in session.scalars(stmt)]


@dataclass(frozen=True)
class ViolationFilters:
    driver_id: int | None = None
    violation_type: str | None = None
    terminal: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def list_violations(
    session: Session, filters: ViolationFilters, page: PageRequest
) -> Page[HosViolationPublic]:
    check_range(filters.start, filters.end, what="violations", loc=("query", "end"))
    stmt = select(HosViolation).options(joinedload(HosViolation.driver))
    if filters.driver_id is not None:
        stmt = stmt.where(HosViolation.driver_id == filters.driver_id)
    if filters.violation_type:
        stmt = stmt.where(HosViolation.violation_type == filters.violation_type)
    if filters.terminal:
        stmt = stmt.where(HosViolation.driver_id.in_(_drivers_matching(filters.terminal, None)))
    if filters.start is not None:
        stmt = stmt.where(HosViolation.started_at >= filters.start)
    if filters.end is not None:
        stmt = stmt.where(HosViolation.started_at < filters.end)
    order = order_by_clause(
        page.sort, VIOLATION_SORTABLE, default="-started_at", tie_breaker=HosViolation.id
    )
    rows, total = fetch_page(session, stmt, page, order)
    return Page[HosViolationPublic](
        items=[HosViolationPublic.model_validate(v) for v in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
