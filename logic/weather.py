"""Weather at a point or at a truck's last position: current conditions plus active NWS alerts.

Lookups are cached per area — a 0.1° grid cell (about 7 miles) — for `WEATHER_CACHE_SECONDS`,
and the vendors are asked about the cell's centre so every point in it shares one answer.
Conditions are required (weatherapi.com down → 503); alerts are best effort: when NWS fails the
answer says `alerts_available: false` and is not cached, so the next request asks again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from db.upsert import bulk_upsert
from helpers.errors import NotFound, Unprocessable
from helpers.time_utils import utc_now
from logic.routing import upstream_error
from models.location import VehicleLocation
from models.vehicle import Vehicle
from models.vendor_cache import (
    ConditionsPublic,
    WeatherAlertPublic,
    WeatherCache,
    WeatherPublic,
)
from utils.http import VendorError
from utils.weather_api import WeatherClient, WeatherLocationNotFound, WeatherQuotaExceeded

log = logging.getLogger(__name__)

GRID_DEGREES = 0.1
DEFAULT_TTL_SECONDS = 300


def area_of(lat: float, lon: float) -> tuple[str, float, float]:
    """(key, centre lat, centre lon) of the grid cell holding the point."""
    cell_lat = round(round(lat / GRID_DEGREES) * GRID_DEGREES, 4)
    cell_lon = round(round(lon / GRID_DEGREES) * GRID_DEGREES, 4)
    return f"{cell_lat:.1f},{cell_lon:.1f}", cell_lat, cell_lon


def weather_at(
    session: Session,
    client: WeatherClient,
    lat: float,
    lon: float,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: datetime | None = None,
) -> WeatherPublic:
    now = now or utc_now()
    key, cell_lat, cell_lon = area_of(lat, lon)
    cached = WeatherCache.fresh(session, key, now)
    if cached is not None:
        return _public(cached, cached=True, alerts_available=True)
    try:
        conditions = client.current(cell_lat, cell_lon)
    except WeatherLocationNotFound as exc:
        raise Unprocessable(f"no weather for this location: {exc}", loc=("query",)) from None
    except WeatherQuotaExceeded as exc:
        raise upstream_error("weatherapi.com (monthly quota)", exc) from None
    except VendorError as exc:
        raise upstream_error("weatherapi.com", exc) from None
    alerts_available = True
    try:
        alerts = [_jsonable(asdict(a)) for a in client.active_alerts(cell_lat, cell_lon)]
    except VendorError as exc:
        log.warning("NWS alerts unavailable for %s: %s", key, exc)
        alerts, alerts_available = [], False
    row = WeatherCache(
        area_key=key,
        lat=cell_lat,
        lon=cell_lon,
        conditions=_jsonable(asdict(conditions)),
        alerts=alerts,
        fetched_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    if alerts_available:
        values = row.model_dump(exclude={"id"})
        bulk_upsert(session, WeatherCache, [values], conflict_columns=["area_key"])
    return _public(row, cached=False, alerts_available=alerts_available)


def weather_for_vehicle(
    session: Session,
    client: WeatherClient,
    vehicle_id: int,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: datetime | None = None,
) -> WeatherPublic:
    """Weather where the truck last reported its position."""
    if session.get(Vehicle, vehicle_id) is None:
        raise NotFound(f"vehicle {vehicle_id} not found")
    position = VehicleLocation.latest_for_vehicle(session, vehicle_id)
    if position is None:
        raise Unprocessable(
            f"vehicle {vehicle_id} has no known position yet", loc=("path", "vehicle_id")
        )
    report = weather_at(
        session, client, position.latitude, position.longitude, ttl_seconds=ttl_seconds, now=now
    )
    return report.model_copy(
        update={"vehicle_id": vehicle_id, "position_recorded_at": position.recorded_at}
    )


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in values.items()}


def _public(row: WeatherCache, *, cached: bool, alerts_available: bool) -> WeatherPublic:
    return WeatherPublic(
        area=row.area_key,
        lat=row.lat,
        lon=row.lon,
        conditions=ConditionsPublic.model_validate(row.conditions),
        alerts=[WeatherAlertPublic.model_validate(a) for a in row.alerts],
        alerts_available=alerts_available,
        cached=cached,
        fetched_at=row.fetched_at,
        expires_at=row.expires_at,
    )
