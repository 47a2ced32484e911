"""Routing API: truck road miles and drive time between two points or two trip stops."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from logic.routing import mileage_between, resolve_endpoints
from models.vendor_cache import MileagePublic
from services.deps import RoutingRead, SessionDep
from services.openapi import error_responses
from services.vendor_deps import PcmilerDep, SettingsDep

router = APIRouter(prefix="/routing", tags=["routing"])

Lat = Annotated[float | None, Query(ge=-90, le=90)]
Lon = Annotated[float | None, Query(ge=-180, le=180)]


@router.get("/mileage", responses=error_responses(400, 404))
def get_mileage(
    _: RoutingRead,
    session: SessionDep,
    client: PcmilerDep,
    settings: SettingsDep,
    from_lat: Lat = None,
    from_lon: Lon = None,
    to_lat: Lat = None,
    to_lon: Lon = None,
    from_stop_id: int | None = None,
    to_stop_id: int | None = None,
) -> MileagePublic:
    """Practical truck miles and drive time (PC*MILER, cached) between points or trip stops."""
    origin, destination = resolve_endpoints(
        session,
        from_lat=from_lat,
        from_lon=from_lon,
        to_lat=to_lat,
        to_lon=to_lon,
        from_stop_id=from_stop_id,
        to_stop_id=to_stop_id,
    )
    result = mileage_between(
        session,
        client,
        origin,
        destination,
        data_version=settings.PCMILER_DATA_VERSION,
        cache_days=settings.MILEAGE_CACHE_DAYS,
    )
    return result.model_copy(update={"from_stop_id": from_stop_id, "to_stop_id": to_stop_id})
