"""Driver scorecards: the fleet table for a day, one driver's series, exports and rebuilds.

Every response carries `score_formula`, the safety score's formula with the configured weights.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from config import get_settings
from helpers.errors import Unprocessable
from helpers.time_utils import utc_now
from logic.fleet import drivers as fleet_drivers
from logic.listing import check_range
from logic.reports import charts, render, scorecards
from logic.reports.days import check_not_future
from logic.reports.driver_reports import BuildResult, build_driver_reports, driver_zone
from logic.reports.jobs import local_today
from models.api_fields import ApiDate
from services.deps import ReportsGenerateCaller, ReportsRead, SessionDep
from services.pagination import LabelQuery, PageDep

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

router = APIRouter(prefix="/reports/drivers", tags=["reports"])

MAX_RANGE_DAYS = 366
DayQuery = Annotated[ApiDate, Query(alias="date", description="local day (YYYY-MM-DD)")]


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


@router.get("")
def list_driver_reports(
    session: SessionDep,
    _: ReportsRead,
    page: PageDep,
    day: DayQuery,
    terminal: LabelQuery = None,
    fleet_manager: LabelQuery = None,
) -> scorecards.ScorecardPage:
    """The fleet scorecard for a day: one row per driver, lowest safety score first."""
    check_not_future(day)
    return scorecards.fleet_table(
        session, day, page, terminal=terminal, fleet_manager=fleet_manager
    )


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "description": "The scorecard as CSV or XLSX",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
def export_driver_reports(
    session: SessionDep,
    _: ReportsRead,
    day: DayQuery,
    format: ExportFormat = ExportFormat.XLSX,
    terminal: LabelQuery = None,
    fleet_manager: LabelQuery = None,
) -> Response:
    """The day's scorecard as CSV, or XLSX with per-terminal and per-type sheets and totals."""
    check_not_future(day)
    rows = scorecards.rows_for_day(session, day, terminal=terminal, fleet_manager=fleet_manager)
    name = f"driver-scorecard-{day.isoformat()}.{format.value}"
    if format == ExportFormat.CSV:
        content, media = render.scorecard_csv(rows), "text/csv; charset=utf-8"
    else:
        kpis = scorecards.fleet_kpis(session, day, day, terminal=terminal)
        totals = kpis.totals.model_dump() | {"drivers": kpis.drivers}
        content = render.scorecard_xlsx(rows, totals)
        media = XLSX_MEDIA_TYPE
    return Response(
        content=content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/generate")
def generate_driver_reports(
    session: SessionDep, _: ReportsGenerateCaller, day: DayQuery
) -> BuildResult:
    """Rebuild every active driver's report for a local day from stored facts (idempotent)."""
    check_not_future(day)
    return build_driver_reports(session, day)


def _range(start: date | None, end: date | None, zone: str) -> tuple[date, date]:
    """`from`/`to` checked; by default the 30 days ending today in `zone`."""
    end = end or local_today(zone, utc_now())
    start = start or end - timedelta(days=29)
    check_range(start, end, what="from/to", loc=("query", "to"))
    check_not_future(end, what="to")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise Unprocessable(
            f"from/to may span at most {MAX_RANGE_DAYS} days", loc=("query", "from")
        )
    return start, end


@router.get("/{driver_id}")
def get_driver_scorecard(
    driver_id: int,
    session: SessionDep,
    _: ReportsRead,
    start: Annotated[ApiDate | None, Query(alias="from")] = None,
    end: Annotated[ApiDate | None, Query(alias="to")] = None,
) -> scorecards.DriverSeries:
    """One driver's daily reports between two dates (default: the last 30 days, ending today
    where the driver's days are counted) and totals."""
    driver = fleet_drivers.get_driver(session, driver_id)
    start, end = _range(start, end, driver_zone(session, driver.id, get_settings()))
    return scorecards.driver_series(session, driver, start, end)


@router.get(
    "/{driver_id}/chart.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def get_driver_score_chart(
    driver_id: int,
    session: SessionDep,
    _: ReportsRead,
    start: Annotated[ApiDate | None, Query(alias="from")] = None,
    end: Annotated[ApiDate | None, Query(alias="to")] = None,
) -> Response:
    """The driver's daily safety score as a PNG chart (1200 x 600)."""
    driver = fleet_drivers.get_driver(session, driver_id)
    start, end = _range(start, end, driver_zone(session, driver.id, get_settings()))
    series = scorecards.driver_series(session, driver, start, end)
    png = charts.score_series_chart(
        [d.report_date.isoformat() for d in series.days],
        [d.safety_score for d in series.days],
        f"{series.driver_name}: safety score {start} to {end}",
    )
    return Response(content=png, media_type="image/png")
