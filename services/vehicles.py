"""Trucks: list and detail, each with its last known GPS position."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from logic.fleet import vehicles as ops
from logic.listing import Page
from models.location import VehicleWithPosition
from models.vehicle import UnitStatus
from services.deps import SessionDep, VehiclesRead
from services.pagination import LabelQuery, PageDep, SearchQuery

router = APIRouter(prefix="/vehicles", tags=["vehicles"])


def unit_filters(
    status: UnitStatus | None = None, terminal: LabelQuery = None, q: SearchQuery = None
) -> ops.UnitFilters:
    return ops.UnitFilters(status=status, terminal=terminal, q=q)


UnitFiltersDep = Annotated[ops.UnitFilters, Depends(unit_filters)]


@router.get("")
def list_vehicles(
    session: SessionDep, _: VehiclesRead, page: PageDep, filters: UnitFiltersDep
) -> Page[VehicleWithPosition]:
    """Trucks filtered by status/terminal or searched by unit number, name, VIN or plate."""
    return ops.list_vehicles(session, filters, page)


@router.get("/{vehicle_id}")
def get_vehicle(vehicle_id: int, session: SessionDep, _: VehiclesRead) -> VehicleWithPosition:
    """One truck with its last known position."""
    return ops.vehicle_detail(session, vehicle_id)
