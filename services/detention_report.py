"""The detention report: billable minutes per stop visit for a day, by customer and facility,
as JSON or as the CSV/XLSX a carrier attaches to an invoice."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from config import get_settings
from helpers.errors import Unprocessable
from helpers.time_utils import is_valid_timezone, utc_now
from logic.reports import detention
from logic.reports.days import check_not_future
from models.api_fields import ApiDate
from models.stop_visit import DetentionReportPublic
from services.deps import ReportsRead, SessionDep
from services.pagination import LabelQuery

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

router = APIRouter(prefix="/reports/detention", tags=["reports"])


class DetentionFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


@router.get(
    "",
    response_model=None,
    responses={
        200: {
            "description": "The day's detention as JSON, CSV or XLSX",
            "model": DetentionReportPublic,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
def get_detention_report(
    session: SessionDep,
    _: ReportsRead,
    day: Annotated[ApiDate, Query(alias="date", description="local day (YYYY-MM-DD)")],
    format: DetentionFormat = DetentionFormat.JSON,
    timezone: Annotated[str | None, Query(max_length=64)] = None,
    customer: LabelQuery = None,
    facility: LabelQuery = None,
) -> Any:
    """Visits that arrived on the day (in `timezone`, default the report zone) and billed
    detention, with totals and average dwell by customer and by facility."""
    check_not_future(day)
    zone = timezone or get_settings().REPORT_DEFAULT_TIMEZONE
    if not is_valid_timezone(zone):
        raise Unprocessable(f"unknown timezone {zone!r}", loc=("query", "timezone"), input=zone)
    report = detention.detention_report(
        session, day, zone, utc_now(), customer=customer, facility=facility
    )
    if format == DetentionFormat.JSON:
        return DetentionReportPublic.model_validate(report.as_dict())
    name = f"detention-{day.isoformat()}.{format.value}"
    if format == DetentionFormat.CSV:
        content, media = detention.report_csv(report), "text/csv; charset=utf-8"
    else:
        content, media = detention.report_xlsx(report), XLSX_MEDIA_TYPE
    return Response(
        content=content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
