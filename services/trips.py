"""Trips: list (assignment and truck position embedded), detail with stops, notes, and the
manual status correction (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import TypeAdapter

from logic.fleet import trips as ops
from logic.listing import Page, as_utc, check_range
from models.api_fields import ApiDateTime
from models.driver import Driver
from models.location import VehicleLocation
from models.trip import (
    Trip,
    TripDetail,
    TripFacets,
    TripPublic,
    TripStatus,
    TripStatusCorrection,
    TripStop,
    TripUpdate,
)
from models.vehicle import Trailer, Vehicle
from services.deps import ClientDep, SessionDep, TripsRead, TripsWrite
from services.http.etag import Poll, PolledList, not_modified
from services.openapi import error_responses
from services.pagination import LabelQuery, PageDep, SearchQuery

router = APIRouter(prefix="/trips", tags=["trips"])


def trip_filters(
    status: Annotated[list[TripStatus] | None, Query(description="repeatable")] = None,
    driver_id: int | None = None,
    vehicle_id: int | None = None,
    trailer_id: int | None = None,
    terminal: LabelQuery = None,
    customer: LabelQuery = None,
    fleet_manager: Annotated[str | None, Query(max_length=100, description="the driver's")] = None,
    scheduled_from: Annotated[ApiDateTime | None, Query(description="UTC if no offset")] = None,
    scheduled_to: ApiDateTime | None = None,
    late_only: bool = False,
    q: SearchQuery = None,
) -> ops.TripFilters:
    start, end = as_utc(scheduled_from), as_utc(scheduled_to)
    check_range(start, end, what="scheduled_from/scheduled_to", loc=("query", "scheduled_to"))
    return ops.TripFilters(
        statuses=tuple(status or ()),
        driver_id=driver_id,
        vehicle_id=vehicle_id,
        trailer_id=trailer_id,
        terminal=terminal,
        customer=customer,
        fleet_manager=fleet_manager,
        scheduled_from=start,
        scheduled_to=end,
        late_only=late_only,
        q=q,
    )


_TRIP_PAGE = TypeAdapter(Page[TripPublic])


# Polled by the dispatch board: everything a trips page shows, and the page's shape; a change in
# either changes its ETag (services/http/etag.py).
TripsPoll = Annotated[
    Poll,
    Depends(
        PolledList(
            [m.__table__ for m in (Trip, TripStop, Driver, Vehicle, Trailer, VehicleLocation)],
            _TRIP_PAGE,
        )
    ),
]


@router.get(
    "",
    response_model=Page[TripPublic],
    responses={304: {"description": "Nothing changed since the ETag sent in If-None-Match"}},
)
def list_trips(
    session: SessionDep,
    _: TripsRead,
    poll: TripsPoll,
    page: PageDep,
    filters: Annotated[ops.TripFilters, Depends(trip_filters)],
) -> Response:
    """Trips with driver, truck, trailer and the truck's last position; newest scheduled first."""
    # On PostgreSQL an unchanged poll is answered from the tables' change counters, usually before
    # routing (services/http/not_modified.py), here when that shortcut passed it on; the tag was
    # read first, so a write during the query is seen by the next poll.
    if poll.unchanged:
        return not_modified(poll.etag)
    # Serialize the already-validated page once, instead of letting FastAPI validate it again.
    body = _TRIP_PAGE.dump_json(ops.list_trips(session, filters, page))
    return Response(body, media_type="application/json", headers=poll.headers)


@router.get("/facets")
def get_trip_facets(session: SessionDep, _: TripsRead) -> TripFacets:
    """Terminals, customers and fleet managers to filter the board by."""
    return ops.trip_facets(session)


@router.get("/{trip_id}")
def get_trip(trip_id: int, session: SessionDep, _: TripsRead) -> TripDetail:
    """One trip with its stops in order, the next stop and the truck's last position."""
    return ops.trip_detail(session, ops.get_trip(session, trip_id, with_relations=True))


@router.patch("/{trip_id}")
def update_trip(
    trip_id: int, body: TripUpdate, session: SessionDep, user: TripsWrite, client: ClientDep
) -> TripDetail:
    """Edit the trip's notes (everything else is Ditat's)."""
    trip = ops.get_trip(session, trip_id, with_relations=True)
    ops.update_trip(session, trip, body, actor=user, client=client)
    return ops.trip_detail(session, trip)


@router.post("/{trip_id}/status", responses=error_responses(409))
def correct_trip_status(
    trip_id: int,
    body: TripStatusCorrection,
    session: SessionDep,
    user: TripsWrite,
    client: ClientDep,
) -> TripDetail:
    """Correct a trip's status by hand, with a reason; recorded in the audit log."""
    trip = ops.get_trip(session, trip_id, with_relations=True)
    ops.correct_trip_status(session, trip, body, actor=user, client=client)
    return ops.trip_detail(session, trip)
