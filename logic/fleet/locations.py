"""Fleet map data: every truck's latest position (JSON rows or a GeoJSON FeatureCollection)
and one truck's breadcrumb over a time range, thinned evenly when it has too many points."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import func, or_, select
from sqlmodel import Session

from helpers.errors import Unprocessable
from logic.fleet.vehicles import get_vehicle
from logic.listing import check_range
from models.location import (
    Breadcrumb,
    BreadcrumbPoint,
    LatestPosition,
    VehicleLocation,
)
from models.vehicle import UnitStatus, Vehicle

MAX_BREADCRUMB_RANGE = timedelta(days=31)
DEFAULT_MAX_POINTS = 500
HARD_MAX_POINTS = 5_000


_POSITIONS = TypeAdapter(list[LatestPosition])


def latest_positions(
    session: Session, *, terminal: str | None = None, status: UnitStatus | None = None
) -> list[LatestPosition]:
    rows = VehicleLocation.latest_positions(session, terminal=terminal, status=status)
    if not rows:
        return []
    # One validator call for the whole fleet, from plain dicts: validating Row objects by
    # attribute (or one model per row) costs several times more for the same result.
    keys = rows[0]._fields
    return _POSITIONS.validate_python([dict(zip(keys, row, strict=True)) for row in rows])


def unplaced_trucks(
    session: Session,
    placed: list[LatestPosition],
    *,
    terminal: str | None = None,
    status: UnitStatus | None = None,
) -> list[dict[str, Any]]:
    """Trucks matching the same filters that have no position yet, so the map can name them."""
    stmt = select(Vehicle.id, Vehicle.unit_number).order_by(Vehicle.unit_number, Vehicle.id)
    if terminal:
        stmt = stmt.where(Vehicle.terminal == terminal)
    if status:
        stmt = stmt.where(Vehicle.status == status)
    seen = {p.vehicle_id for p in placed}
    return [
        {"vehicle_id": vid, "unit_number": unit}
        for vid, unit in session.execute(stmt)
        if vid not in seen
    ]


def as_feature_collection(positions: list[LatestPosition]) -> dict[str, Any]:
    """GeoJSON (RFC 7946): coordinates are [longitude, latitude], in that order.

    Properties are the validated fields as they are (datetimes included): serialize the result
    with pydantic (`pydantic_core.to_json`), which writes them as `model_dump_json` would.
    """
    features = []
    for position in positions:
        properties = dict(position.__dict__)
        latitude, longitude = properties.pop("latitude"), properties.pop("longitude")
        features.append(
            {
                "type": "Feature",
                "id": position.vehicle_id,
                "geometry": {"type": "Point", "coordinates": [longitude, latitude]},
                "properties": properties,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def breadcrumb(
    session: Session,
    vehicle_id: int,
    *,
    start: datetime,
    end: datetime,
    max_points: int = DEFAULT_MAX_POINTS,
) -> Breadcrumb:
    """Points in [start, end] in time order; above `max_points`, every k-th point is kept.

    Thinning keeps the first and the last point so the line still starts and ends where the
    truck did, and runs in SQL (row_number over the index range) so a long range never
    travels to Python whole.
    """
    get_vehicle(session, vehicle_id)
    check_range(start, end, what="breadcrumb", loc=("query", "end"))
    if end - start > MAX_BREADCRUMB_RANGE:
        raise Unprocessable(
            f"breadcrumb range is limited to {MAX_BREADCRUMB_RANGE.days} days",
            loc=("query", "start"),
        )
    if not 2 <= max_points <= HARD_MAX_POINTS:
        raise Unprocessable(
            f"max_points must be between 2 and {HARD_MAX_POINTS}",
            loc=("query", "max_points"),
            input=max_points,
        )
    in_range = (
        VehicleLocation.vehicle_id == vehicle_id,
        VehicleLocation.recorded_at >= start,
        VehicleLocation.recorded_at <= end,
    )
    total = int(
        session.scalar(select(func.count()).select_from(VehicleLocation).where(*in_range)) or 0
    )
    columns = (
        VehicleLocation.recorded_at,
        VehicleLocation.latitude,
        VehicleLocation.longitude,
        VehicleLocation.speed_mph,
        VehicleLocation.heading_degrees,
    )
    if total <= max_points:
        rows = session.execute(
            select(*columns).where(*in_range).order_by(VehicleLocation.recorded_at)
        ).all()
    else:
        step = math.ceil((total - 1) / (max_points - 1))
        numbered = (
            select(
                *columns,
                func.row_number().over(order_by=VehicleLocation.recorded_at).label("rn"),
            )
            .where(*in_range)
            .subquery()
        )
        rows = session.execute(
            select(
                numbered.c.recorded_at,
                numbered.c.latitude,
                numbered.c.longitude,
                numbered.c.speed_mph,
                numbered.c.heading_degrees,
            )
            .where(or_((numbered.c.rn - 1) % step == 0, numbered.c.rn == total))
            .order_by(numbered.c.rn)
        ).all()
    points = [BreadcrumbPoint.model_validate(row) for row in rows]
    return Breadcrumb(
        vehicle_id=vehicle_id,
        start=start,
        end=end,
        total_points=total,
        downsampled=total > max_points,
        points=points,
    )
