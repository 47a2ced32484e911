"""Hours of service: current clocks (filter by time left), a driver's logs by day, violations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from helpers.errors import NotFound
from logic.fleet import hos as ops
from logic.listing import Page, as_utc, check_range
from models.api_fields import ApiDate, ApiDateTime
from models.hos import DutyStatus, HosClock, HosClockPublic, HosLogPublic, HosViolationPublic
from services.deps import HosRead, SessionDep
from services.openapi import error_responses
from services.pagination import LabelQuery, PageDep, SearchQuery

router = APIRouter(prefix="/hos", tags=["hos"])

Minutes = Annotated[int | None, Query(ge=0, le=100_000)]


def clock_filters(
    duty_status: Annotated[list[DutyStatus] | None, Query(description="repeatable")] = None,
    driver_id: int | None = None,
    terminal: LabelQuery = None,
    drive_remaining_below: Minutes = None,
    shift_remaining_below: Minutes = None,
    cycle_remaining_below: Minutes = None,
    break_due_within: Minutes = None,
    q: SearchQuery = None,
) -> ops.ClockFilters:
    return ops.ClockFilters(
        duty_statuses=tuple(duty_status or ()),
        driver_id=driver_id,
        terminal=terminal,
        drive_remaining_below=drive_remaining_below,
        shift_remaining_below=shift_remaining_below,
        cycle_remaining_below=cycle_remaining_below,
        break_due_within=break_due_within,
        q=q,
    )


def violation_filters(
    driver_id: int | None = None,
    violation_type: LabelQuery = None,
    terminal: LabelQuery = None,
    start: ApiDateTime | None = None,
    end: ApiDateTime | None = None,
) -> ops.ViolationFilters:
    start_at, end_at = as_utc(start), as_utc(end)
    check_range(start_at, end_at, what="start/end", loc=("query", "end"))
    return ops.ViolationFilters(
        driver_id=driver_id,
        violation_type=violation_type,
        terminal=terminal,
        start=start_at,
        end=end_at,
    )


@router.get("/clocks")
def list_clocks(
    session: SessionDep,
    _: HosRead,
    page: PageDep,
    filters: Annotated[ops.ClockFilters, Depends(clock_filters)],
) -> Page[HosClockPublic]:
    """Current HOS clocks, least drive time first; filter e.g. `drive_remaining_below=60`."""
    return ops.list_clocks(session, filters, page)


@router.get("/clocks/{driver_id}")
def get_clock(driver_id: int, session: SessionDep, _: HosRead) -> HosClockPublic:
    """One driver's current HOS clock."""
    clock = HosClock.for_driver(session, driver_id)
    if clock is None:
        raise NotFound(f"no HOS clock for driver {driver_id}")
    return HosClockPublic.model_validate(clock)


@router.get("/logs", responses=error_responses(404))
def driver_logs(
    session: SessionDep,
    _: HosRead,
    driver_id: int,
    start_date: ApiDate,
    end_date: ApiDate | None = None,
) -> list[HosLogPublic]:
    """A driver's duty-status segments for a range of days in the driver's time zone."""
    return ops.driver_logs(session, driver_id, start_day=start_date, end_day=end_date or start_date)


@router.get("/violations")
def list_violations(
    session: SessionDep,
    _: HosRead,
    page: PageDep,
    filters: Annotated[ops.ViolationFilters, Depends(violation_filters)],
) -> Page[HosViolationPublic]:
    """HOS violations, newest first, by driver, type, terminal or time range."""
    return ops.list_violations(session, filters, page)
