"""`/driver_data/{driver_id}`: everything a dispatcher or a call prompt needs about one driver."""

from __future__ import annotations

from fastapi import APIRouter

from logic.fleet.driver_data import DriverData, driver_data
from services.deps import DriversRead, SessionDep

router = APIRouter(prefix="/driver_data", tags=["drivers"])


@router.get("/{driver_id}")
def get_driver_data(driver_id: int, session: SessionDep, _: DriversRead) -> DriverData:
    """Profile, current trip and next stop, HOS clock, recent violations and safety events."""
    return driver_data(session, driver_id)
