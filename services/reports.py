"""Fleet KPIs over stored driver reports, report recipients per terminal, the scheduler tick."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from config import get_settings
from helpers.errors import NotFound
from helpers.time_utils import utc_now
from logic.listing import check_range
from logic.reports import jobs, recipients, scorecards
from logic.reports.days import check_not_future
from models.api_fields import ApiDate
from models.report import ReportRecipientsPublic, ReportRecipientsUpdate
from services.deps import ReportsGenerate, ReportsGenerateCaller, ReportsRead, SessionDep
from services.openapi import error_responses
from services.pagination import LabelQuery

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get("/fleet")
def get_fleet_kpis(
    session: SessionDep,
    _: ReportsRead,
    start: Annotated[ApiDate | None, Query(alias="from")] = None,
    end: Annotated[ApiDate | None, Query(alias="to")] = None,
    terminal: LabelQuery = None,
) -> scorecards.FleetKpis:
    """Fleet KPIs between two dates: on-time %, miles, violations and events per 1,000 miles,
    call outcomes (default: yesterday)."""
    yesterday = jobs.local_today(get_settings().REPORT_DEFAULT_TIMEZONE, utc_now()) - timedelta(1)
    start, end = start or end or yesterday, end or start or yesterday
    check_range(start, end, what="from/to", loc=("query", "to"))
    check_not_future(end, what="to")
    return scorecards.fleet_kpis(session, start, end, terminal=terminal)


@router.get("/recipients")
def list_report_recipients(session: SessionDep, _: ReportsRead) -> list[ReportRecipientsPublic]:
    """Who receives each scope's morning report, where and at what local time."""
    return [ReportRecipientsPublic.model_validate(r) for r in recipients.list_all(session)]


@router.put("/recipients")
def put_report_recipients(
    body: ReportRecipientsUpdate, session: SessionDep, _: ReportsGenerate
) -> ReportRecipientsPublic:
    """Create or replace one scope's recipients (`terminal` "" is the fleet-wide report)."""
    return ReportRecipientsPublic.model_validate(recipients.put(session, body))


@router.delete(
    "/recipients", status_code=204, response_class=Response, responses=error_responses(404)
)
def delete_report_recipients(
    session: SessionDep, _: ReportsGenerate, terminal: LabelQuery = ""
) -> Response:
    """Stop sending one scope's morning report."""
    if not recipients.delete(session, terminal or ""):
        raise NotFound(f"no recipients for terminal {terminal!r}")
    return Response(status_code=204)


class ReportTickPublic(BaseModel):
    """What one scheduler pass generated, rebuilt and delivered."""

    morning_reports: list[dict[str, Any]]
    rebuilt_driver_reports: str | None
    delivery: dict[str, Any] | None


@router.post("/tick")
def run_report_tick(_: ReportsGenerateCaller) -> ReportTickPublic:
    """Scheduler pass: morning reports whose local send time has come, the nightly rebuild of
    yesterday's driver reports, and delivery of the report outbox."""
    return ReportTickPublic(**jobs.tick().__dict__)
