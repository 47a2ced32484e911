"""Road mileage between two points or two trip stops: PC*MILER behind a database cache.

Points are rounded to 4 decimals (about 11 m) for the cache key, so repeated lookups for the same
yard or stop hit the cache; entries live `MILEAGE_CACHE_DAYS`. Vendor trouble becomes a 503
(`upstream_unavailable`); a stop PC*MILER cannot place on its road network is a 422.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from db.upsert import bulk_upsert
from helpers.errors import BadRequest, NotFound, Unprocessable, UpstreamUnavailable
from helpers.time_utils import utc_now
from models.trip import TripStop
from models.vendor_cache import MileageCache, MileagePublic, PointPublic
from utils.http import VendorAuthError, VendorError, VendorTransientError
from utils.pcmiler_client import GeoPoint, PcmilerClient, PcmilerStopError

DEFAULT_CACHE_DAYS = 30


def route_key(origin: GeoPoint, destination: GeoPoint, data_version: str) -> str:
    return (
        f"{origin.lat:.4f},{origin.lon:.4f}|{destination.lat:.4f},{destination.lon:.4f}"
        f"|truck-practical|{data_version}"
    )


def stop_point(session: Session, stop_id: int, param: str = "from_stop_id") -> GeoPoint:
    stop = session.get(TripStop, stop_id)
    if stop is None:
        raise NotFound(f"trip stop {stop_id} not found")
    if stop.latitude is None or stop.longitude is None:
        raise Unprocessable(
            f"trip stop {stop_id} has no coordinates", loc=("query", param), input=stop_id
        )
    return GeoPoint(stop.latitude, stop.longitude)


def resolve_endpoints(
    session: Session,
    *,
    from_lat: float | None = None,
    from_lon: float | None = None,
    to_lat: float | None = None,
    to_lon: float | None = None,
    from_stop_id: int | None = None,
    to_stop_id: int | None = None,
) -> tuple[GeoPoint, GeoPoint]:
    """Origin and destination from four coordinates or from two trip stops (not a mix)."""
    coords = (from_lat, from_lon, to_lat, to_lon)
    stops = (from_stop_id, to_stop_id)
    if all(c is not None for c in coords) and all(s is None for s in stops):
        return GeoPoint(from_lat, from_lon), GeoPoint(to_lat, to_lon)  # type: ignore[arg-type]
    if all(s is not None for s in stops) and all(c is None for c in coords):
        return stop_point(session, from_stop_id), stop_point(session, to_stop_id, "to_stop_id")  # type: ignore[arg-type]
    raise BadRequest("give from_lat, from_lon, to_lat and to_lon, or from_stop_id and to_stop_id")


def upstream_error(vendor_label: str, exc: VendorError) -> UpstreamUnavailable:
    """The 503 a router shows for a vendor failure (never the vendor's raw credentials)."""
    if isinstance(exc, VendorAuthError):
        return UpstreamUnavailable(f"{vendor_label} refused our credentials: {exc}")
    retry_after = exc.retry_after if isinstance(exc, VendorTransientError) else None
    return UpstreamUnavailable(
        f"{vendor_label} is unavailable: {exc}",
        retry_after=max(1, round(retry_after)) if retry_after else 5,
    )


def mileage_between(
    session: Session,
    client: PcmilerClient,
    origin: GeoPoint,
    destination: GeoPoint,
    *,
    data_version: str = "Current",
    cache_days: int = DEFAULT_CACHE_DAYS,
    now: datetime | None = None,
) -> MileagePublic:
    """Truck miles and drive time, from the cache when fresh, else from PC*MILER (then cached)."""
    now = now or utc_now()
    origin = GeoPoint(round(origin.lat, 4), round(origin.lon, 4))
    destination = GeoPoint(round(destination.lat, 4), round(destination.lon, 4))
    key = route_key(origin, destination, data_version)
    cached = MileageCache.fresh(session, key, now)
    if cached is not None:
        return _public(cached, cached=True)
    try:
        report = client.mileage([origin, destination])
    except PcmilerStopError as exc:
        raise Unprocessable(
            f"PC*MILER could not route between these points: {exc}", loc=("query",)
        ) from None
    except VendorError as exc:
        raise upstream_error("PC*MILER", exc) from None
    row = {
        "route_key": key,
        "origin_lat": origin.lat,
        "origin_lon": origin.lon,
        "dest_lat": destination.lat,
        "dest_lon": destination.lon,
        "miles": report.miles,
        "drive_minutes": report.drive_minutes,
        "data_version": report.data_version,
        "fetched_at": now,
        "expires_at": now + timedelta(days=cache_days),
    }
    bulk_upsert(session, MileageCache, [row], conflict_columns=["route_key"])
    return _public(MileageCache(**row), cached=False)


def _public(row: MileageCache, *, cached: bool) -> MileagePublic:
    return MileagePublic(
        origin=PointPublic(lat=row.origin_lat, lon=row.origin_lon),
        destination=PointPublic(lat=row.dest_lat, lon=row.dest_lon),
        miles=round(row.miles, 3),
        drive_minutes=round(row.drive_minutes, 1),
        drive_hours=round(row.drive_minutes / 60, 2),
        data_version=row.data_version,
        cached=cached,
        fetched_at=row.fetched_at,
    )
