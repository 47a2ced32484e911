"""GPS positions: every truck's latest position (JSON or GeoJSON) and one truck's breadcrumb."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, TypeAdapter
from pydantic_core import to_json

from helpers.time_utils import utc_now
from logic.fleet import locations as ops
from logic.listing import as_utc
from models.api_fields import ApiDateTime
from models.location import Breadcrumb, LatestPosition
from models.vehicle import UnitStatus
from services.deps import LocationsRead, SessionDep
from services.http.etag import PolledList
from services.pagination import LabelQuery

router = APIRouter(prefix="/locations", tags=["locations"])


class UnplacedTruck(BaseModel):
    vehicle_id: int
    unit_number: str


class LatestPositions(BaseModel):
    items: list[LatestPosition]
    total: int
    unplaced: list[UnplacedTruck] = Field(
        default_factory=list, description="Trucks (same filters) that never reported a position."
    )


_LATEST = TypeAdapter(LatestPositions)


class PointGeometry(BaseModel):
    type: Literal["Point"]
    coordinates: list[float]  # [longitude, latitude]


class PositionFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: PointGeometry
    properties: dict[str, Any]


class PositionFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[PositionFeature]


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


@router.get("/latest", response_model=LatestPositions, dependencies=[Depends(PolledList())])
def latest_positions(
    session: SessionDep,
    _: LocationsRead,
    terminal: LabelQuery = None,
    status: UnitStatus | None = None,
) -> Response:
    """The latest known position of every truck; trucks never seen are listed in `unplaced`."""
    items = ops.latest_positions(session, terminal=terminal, status=status)
    unplaced = ops.unplaced_trucks(session, items, terminal=terminal, status=status)
    # Serialized here, once, from the validated items: the whole fleet is hundreds of rows,
    # and letting FastAPI re-validate what we just built would double the cost of the busiest
    # map call. `model_construct` skips re-checking items that were validated a line above.
    body = _LATEST.dump_json(
        LatestPositions.model_construct(
            items=items,
            total=len(items),
            unplaced=[UnplacedTruck.model_construct(**u) for u in unplaced],
        )
    )
    return Response(body, media_type="application/json")


@router.get(
    "/latest.geojson",
    dependencies=[Depends(PolledList())],
    response_class=GeoJSONResponse,
    responses={200: {"model": PositionFeatureCollection}},
)
def latest_positions_geojson(
    session: SessionDep,
    _: LocationsRead,
    terminal: LabelQuery = None,
    status: UnitStatus | None = None,
) -> Response:
    """The same positions as a GeoJSON FeatureCollection of Points ([lon, lat])."""
    items = ops.latest_positions(session, terminal=terminal, status=status)
    body = to_json(ops.as_feature_collection(items))
    return Response(body, media_type="application/geo+json")


@router.get("/vehicles/{vehicle_id}/breadcrumb")
def vehicle_breadcrumb(
    vehicle_id: int,
    session: SessionDep,
    _: LocationsRead,
    start: Annotated[
        ApiDateTime | None, Query(description="default: end - 24 h; UTC if no offset")
    ] = None,
    end: Annotated[ApiDateTime | None, Query(description="default: now")] = None,
    max_points: Annotated[int, Query(ge=2, le=ops.HARD_MAX_POINTS)] = ops.DEFAULT_MAX_POINTS,
) -> Breadcrumb:
    """One truck's track over a time range, evenly thinned to at most `max_points`."""
    end_at = as_utc(end) or utc_now()
    start_at = as_utc(start) or end_at - timedelta(hours=24)
    return ops.breadcrumb(session, vehicle_id, start=start_at, end=end_at, max_points=max_points)
