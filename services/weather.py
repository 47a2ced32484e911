"""Weather API: current conditions and active NWS alerts at a point or at a truck's position."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from helpers.errors import BadRequest
from logic.weather import weather_at, weather_for_vehicle
from models.vendor_cache import WeatherPublic
from services.deps import SessionDep, WeatherRead
from services.openapi import error_responses
from services.vendor_deps import SettingsDep, WeatherDep

router = APIRouter(prefix="/weather", tags=["weather"])


@router.get("", responses=error_responses(400, 404))
def get_weather(
    _: WeatherRead,
    session: SessionDep,
    client: WeatherDep,
    settings: SettingsDep,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    vehicle_id: int | None = None,
) -> WeatherPublic:
    """Conditions and active alerts at `lat`/`lon`, or where `vehicle_id` last reported."""
    ttl = settings.WEATHER_CACHE_SECONDS
    if vehicle_id is not None and lat is None and lon is None:
        return weather_for_vehicle(session, client, vehicle_id, ttl_seconds=ttl)
    if lat is not None and lon is not None and vehicle_id is None:
        return weather_at(session, client, lat, lon, ttl_seconds=ttl)
    raise BadRequest("give lat and lon, or vehicle_id")
