"""Drivers: list, detail, and the contact/preference edits dispatchers make (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from helpers.time_utils import utc_now
from logic.fleet import drivers as ops
from logic.listing import Page
from logic.trips.hos_plan import driver_projection
from models.driver import DriverPublic, DriverStatus, DriverUpdate
from models.hos import HosProjectionPublic
from services.deps import ClientDep, DriversRead, DriversWrite, HosRead, SessionDep
from services.pagination import LabelQuery, PageDep, SearchQuery

router = APIRouter(prefix="/drivers", tags=["drivers"])


def driver_filters(
    status: DriverStatus | None = None,
    terminal: LabelQuery = None,
    fleet_manager: LabelQuery = None,
    do_not_call: bool | None = None,
    q: SearchQuery = None,
) -> ops.DriverFilters:
    return ops.DriverFilters(
        status=status, terminal=terminal, fleet_manager=fleet_manager, do_not_call=do_not_call, q=q
    )


@router.get("")
def list_drivers(
    session: SessionDep,
    _: DriversRead,
    page: PageDep,
    filters: Annotated[ops.DriverFilters, Depends(driver_filters)],
) -> Page[DriverPublic]:
    """Drivers by status, terminal, fleet manager or do-not-call; search name, phone, email, ids."""
    return ops.list_drivers(session, filters, page)


@router.get("/{driver_id}/hos-projection")
def get_hos_projection(driver_id: int, session: SessionDep, _: HosRead) -> HosProjectionPublic:
    """Clocks now, when each runs out on the current trip, its rests, the legal ETA per stop."""
    return driver_projection(session, driver_id, utc_now())


@router.get("/{driver_id}")
def get_driver(driver_id: int, session: SessionDep, _: DriversRead) -> DriverPublic:
    """One driver's profile."""
    return DriverPublic.model_validate(ops.get_driver(session, driver_id))


@router.patch("/{driver_id}")
def update_driver(
    driver_id: int,
    body: DriverUpdate,
    session: SessionDep,
    user: DriversWrite,
    client: ClientDep,
) -> DriverPublic:
    """Edit contact, time zone, language, do-not-call or notes (vendor fields are read-only)."""
    driver = ops.get_driver(session, driver_id)
    driver = ops.update_driver(session, driver, body, actor=user, client=client)
    return DriverPublic.model_validate(driver)
