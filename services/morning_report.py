"""The morning report: generate (and deliver) for a date, read a stored one, its chart and
its deliveries."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from helpers.errors import NotFound
from logic.reports import charts, jobs, outbox, render
from logic.reports.days import check_not_future
from models.api_fields import ApiDate
from models.report import FLEET, MorningReport, ReportDeliveryPublic
from services.deps import ReportsGenerateCaller, ReportsRead, SessionDep
from services.openapi import error_responses
from services.pagination import LabelQuery

router = APIRouter(prefix="/reports/morning", tags=["reports"])

DayQuery = Annotated[
    ApiDate, Query(alias="date", description="the day the report is read (YYYY-MM-DD)")
]


class ReportSection(BaseModel):
    heading: str
    lines: list[str]


class MorningReportPublic(BaseModel):
    model_config = {"from_attributes": True}

    id: int
    report_date: date
    terminal: str
    timezone: str
    body: dict[str, Any]
    generated_at: datetime
    deliveries: list[ReportDeliveryPublic] = []
    # The same words as the Slack message and the email (logic/reports/render.py), for a page.
    title: str = ""
    summary: list[str] = []
    sections: list[ReportSection] = []


class MorningRunPublic(BaseModel):
    report_date: date
    reports: list[dict[str, Any]]
    queued: int
    delivery: dict[str, Any] | None


def _stored(session, day: date, terminal: str | None) -> MorningReport:
    check_not_future(day)
    report = MorningReport.get_for(session, day, terminal or FLEET)
    if report is None:
        scope = terminal or "the fleet"
        raise NotFound(f"no morning report for {scope} on {day.isoformat()}; generate it first")
    return report


@router.post("/generate")
def generate_morning_report(
    _: ReportsGenerateCaller,
    day: Annotated[
        ApiDate | None, Query(alias="date", description="YYYY-MM-DD; default today")
    ] = None,
    terminal: LabelQuery = None,
    deliver: bool = True,
) -> MorningRunPublic:
    """(Re)generate the morning report for a date (default today) — every scope, or one
    terminal ("" for the fleet) — queue it for its recipients and deliver it."""
    check_not_future(day)
    run = jobs.run_morning_report(day, terminal=terminal, deliver=deliver)
    return MorningRunPublic(**run.__dict__)


@router.get("", responses=error_responses(404))
def get_morning_report(
    session: SessionDep, _: ReportsRead, day: DayQuery, terminal: LabelQuery = None
) -> MorningReportPublic:
    """A stored morning report (fleet-wide unless `terminal`), with its deliveries."""
    report = _stored(session, day, terminal)
    deliveries = [
        ReportDeliveryPublic.model_validate(d) for d in outbox.for_report(session, report.id)
    ]
    rendered = {
        "deliveries": deliveries,
        "title": render.title(report.body),
        "summary": render.summary_lines(report.body),
        "sections": [
            ReportSection(heading=heading, lines=lines)
            for heading, lines in render.sections(report.body)
        ],
    }
    return MorningReportPublic.model_validate(report).model_copy(update=rendered)


@router.get(
    "/chart.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **error_responses(404)},
)
def get_morning_report_chart(
    session: SessionDep, _: ReportsRead, day: DayQuery, terminal: LabelQuery = None
) -> Response:
    """The report's chart (loads by customer, drivers by score band) as a 1200 x 600 PNG."""
    report = _stored(session, day, terminal)
    return Response(content=charts.morning_chart(report.body), media_type="image/png")
