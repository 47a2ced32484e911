"""Trip stops across trips (e.g. today's appointments in a state) and one stop's detail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from logic.fleet import trips as ops
from logic.listing import Page, as_utc, check_range
from models.api_fields import ApiDateTime
from models.trip import StopStatus, StopType, TripStopPublic
from services.deps import SessionDep, TripsRead
from services.pagination import LabelQuery, PageDep, SearchQuery

router = APIRouter(prefix="/trip_stops", tags=["trips"])


def stop_filters(
    trip_id: int | None = None,
    status: StopStatus | None = None,
    stop_type: StopType | None = None,
    state: LabelQuery = None,
    appointment_from: ApiDateTime | None = None,
    appointment_to: ApiDateTime | None = None,
    q: SearchQuery = None,
) -> ops.StopFilters:
    start, end = as_utc(appointment_from), as_utc(appointment_to)
    check_range(start, end, what="appointment_from/appointment_to", loc=("query", "appointment_to"))
    return ops.StopFilters(
        trip_id=trip_id,
        status=status,
        stop_type=stop_type,
        state=state,
        appointment_from=start,
        appointment_to=end,
        q=q,
    )


@router.get("")
def list_trip_stops(
    session: SessionDep,
    _: TripsRead,
    page: PageDep,
    filters: Annotated[ops.StopFilters, Depends(stop_filters)],
) -> Page[TripStopPublic]:
    """Stops filtered by trip, status, type, state or appointment window, or searched by place."""
    return ops.list_stops(session, filters, page)


@router.get("/{stop_id}")
def get_trip_stop(stop_id: int, session: SessionDep, _: TripsRead) -> TripStopPublic:
    """One stop."""
    return TripStopPublic.model_validate(ops.get_stop(session, stop_id))
