"""Stop visits (GPS, TMS, driver call) across trips: arrival, departure, dwell and detention."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from helpers.time_utils import utc_now
from logic.listing import Page, as_utc, check_range
from logic.reports import detention
from models.api_fields import ApiDateTime
from models.stop_visit import StopVisitPublic, VisitSource
from services.deps import SessionDep, TripsRead
from services.pagination import LabelQuery, PageDep

router = APIRouter(prefix="/stop-visits", tags=["trips"])


def visit_filters(
    facility: LabelQuery = None,
    customer: LabelQuery = None,
    trip_id: int | None = None,
    source: VisitSource | None = None,
    arrived_from: ApiDateTime | None = None,
    arrived_to: ApiDateTime | None = None,
    detention_only: bool = False,
    open_only: bool = False,
) -> detention.VisitFilters:
    start, end = as_utc(arrived_from), as_utc(arrived_to)
    check_range(start, end, what="arrived_from/arrived_to", loc=("query", "arrived_to"))
    return detention.VisitFilters(
        facility=facility,
        customer=customer,
        trip_id=trip_id,
        source=source.value if source else None,
        arrived_from=start,
        arrived_to=end,
        detention_only=detention_only,
        open_only=open_only,
    )


@router.get("")
def list_stop_visits(
    session: SessionDep,
    _: TripsRead,
    page: PageDep,
    filters: Annotated[detention.VisitFilters, Depends(visit_filters)],
) -> Page[StopVisitPublic]:
    """Visits by facility, customer, trip, source or arrival time; detained or still open only.
    Open visits show their dwell and billable minutes so far."""
    return detention.list_visits(session, filters, page, utc_now())
