"""Truck and trailer listing and detail; trucks carry their last known position."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from helpers.errors import NotFound
from logic.listing import Page, PageRequest, fetch_page, order_by_clause, text_search
from models.location import LocationPublic, VehicleLocation, VehicleWithPosition
from models.vehicle import Trailer, TrailerPublic, UnitStatus, Vehicle

VEHICLE_SORTABLE = {
    "id": Vehicle.id,
    "unit_number": Vehicle.unit_number,
    "status": Vehicle.status,
    "terminal": Vehicle.terminal,
    "year": Vehicle.year,
    "updated_at": Vehicle.updated_at,
}
TRAILER_SORTABLE = {
    "id": Trailer.id,
    "unit_number": Trailer.unit_number,
    "status": Trailer.status,
    "terminal": Trailer.terminal,
    "updated_at": Trailer.updated_at,
}


@dataclass(frozen=True)
class UnitFilters:
    status: UnitStatus | None = None
    terminal: str | None = None
    q: str | None = None


def list_vehicles(
    session: Session, filters: UnitFilters, page: PageRequest
) -> Page[VehicleWithPosition]:
    stmt = select(Vehicle)
    if filters.status:
        stmt = stmt.where(Vehicle.status == filters.status)
    if filters.terminal:
        stmt = stmt.where(Vehicle.terminal == filters.terminal)
    search = text_search(
        filters.q, Vehicle.unit_number, Vehicle.name, Vehicle.vin, Vehicle.license_plate
    )
    if search is not None:
        stmt = stmt.where(search)
    order = order_by_clause(
        page.sort, VEHICLE_SORTABLE, default="unit_number", tie_breaker=Vehicle.id
    )
    rows, total = fetch_page(session, stmt, page, order)
    positions = VehicleLocation.latest_for_vehicles(session, [v.id for v in rows])
    return Page[VehicleWithPosition](
        items=[with_position(v, positions.get(v.id)) for v in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def with_position(vehicle: Vehicle, location: VehicleLocation | None) -> VehicleWithPosition:
    item = VehicleWithPosition.model_validate(vehicle)
    if location is not None:
        item.last_position = LocationPublic.model_validate(location)
    return item


def get_vehicle(session: Session, vehicle_id: int) -> Vehicle:
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None:
        raise NotFound(f"vehicle {vehicle_id} not found")
    return vehicle


def vehicle_detail(session: Session, vehicle_id: int) -> VehicleWithPosition:
    vehicle = get_vehicle(session, vehicle_id)
    return with_position(vehicle, VehicleLocation.latest_for_vehicle(session, vehicle_id))


def list_trailers(session: Session, filters: UnitFilters, page: PageRequest) -> Page[TrailerPublic]:
    stmt = select(Trailer)
    if filters.status:
        stmt = stmt.where(Trailer.status == filters.status)
    if filters.terminal:
        stmt = stmt.where(Trailer.terminal == filters.terminal)
    search = text_search(filters.q, Trailer.unit_number, Trailer.vin, Trailer.license_plate)
    if search is not None:
        stmt = stmt.where(search)
    order = order_by_clause(
        page.sort, TRAILER_SORTABLE, default="unit_number", tie_breaker=Trailer.id
    )
    rows, total = fetch_page(session, stmt, page, order)
    return Page[TrailerPublic](
        items=[TrailerPublic.model_validate(t) for t in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def get_trailer(session: Session, trailer_id: int) -> Trailer:
    trailer = session.get(Trailer, trailer_id)
    if trailer is None:
        raise NotFound(f"trailer {trailer_id} not found")
    return trailer
