"""Trailers: list and detail (read-only; Ditat and Samsara own them)."""

from __future__ import annotations

from fastapi import APIRouter

from logic.fleet import vehicles as ops
from logic.listing import Page
from models.vehicle import TrailerPublic
from services.deps import SessionDep, VehiclesRead
from services.pagination import PageDep
from services.vehicles import UnitFiltersDep

router = APIRouter(prefix="/trailers", tags=["trailers"])


@router.get("")
def list_trailers(
    session: SessionDep, _: VehiclesRead, page: PageDep, filters: UnitFiltersDep
) -> Page[TrailerPublic]:
    """Trailers filtered by status/terminal or searched by unit number, VIN or plate."""
    return ops.list_trailers(session, filters, page)


@router.get("/{trailer_id}")
def get_trailer(trailer_id: int, session: SessionDep, _: VehiclesRead) -> TrailerPublic:
    """One trailer."""
    return TrailerPublic.model_validate(ops.get_trailer(session, trailer_id))
