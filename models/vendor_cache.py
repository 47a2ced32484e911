"""Database caches of vendor answers: road mileage between two points, a trip's cached route
(and the claim to refresh it), weather per area, and vendor access tokens shared by every run
and instance.

All are keyed by a string and carry `expires_at`; a stale row is simply overwritten by the next
lookup (an upsert, so two requests missing at once cannot clash).
The API schemas for `/routing/mileage` and `/weather` sit here too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Field, Session, SQLModel

from db.types import JSONType, UTCDateTime


class MileageCache(SQLModel, table=True):
    __tablename__ = "mileage_cache"

    id: int | None = Field(default=None, primary_key=True)
    route_key: str = Field(max_length=200, unique=True)
    origin_lat: float
    origin_lon: float
    dest_lat: float
    dest_lon: float
    miles: float
    drive_minutes: float
    data_version: str = Field(max_length=20)
    fetched_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)

    @classmethod
    def fresh(cls, session: Session, route_key: str, now: datetime) -> MileageCache | None:
        return session.scalars(
            select(cls).where(cls.route_key == route_key, cls.expires_at > now)
        ).first()


class TripRoute(SQLModel, table=True):
    """A trip's remaining legs as PC*MILER routed them from `origin` (logic/trips/route_cache.py).

    `stops_key` names the stops routed to (ids and rounded coordinates), so a changed stop list
    is a cache miss; leg lists run origin → next stop → … → last stop.
    """

    __tablename__ = "trip_route"

    id: int | None = Field(default=None, primary_key=True)
    trip_id: int = Field(foreign_key="trip.id", unique=True, ondelete="CASCADE")
    stops_key: str = Field(max_length=400)
    origin_lat: float
    origin_lon: float
    leg_miles: list[float] = Field(default_factory=list, sa_type=JSONType)
    leg_minutes: list[float] = Field(default_factory=list, sa_type=JSONType)
    fetched_at: datetime = Field(sa_type=UTCDateTime)


class RouteRefreshClaim(SQLModel, table=True):
    """Which pass may ask PC*MILER for a trip's route until `claimed_until`: two passes that
    judged the same route stale at once (the scheduler's and the ingest hook's) pay for it once."""

    __tablename__ = "route_refresh_claim"

    trip_id: int = Field(primary_key=True, foreign_key="trip.id", ondelete="CASCADE")
    claimed_until: datetime = Field(sa_type=UTCDateTime)


class WeatherCache(SQLModel, table=True):
    __tablename__ = "weather_cache"

    id: int | None = Field(default=None, primary_key=True)
    area_key: str = Field(max_length=40, unique=True)
    lat: float
    lon: float
    conditions: dict[str, Any] = Field(sa_type=JSONType)
    alerts: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    fetched_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)

    @classmethod
    def fresh(cls, session: Session, area_key: str, now: datetime) -> WeatherCache | None:
        return session.scalars(
            select(cls).where(cls.area_key == area_key, cls.expires_at > now)
        ).first()


class PointPublic(BaseModel):
    lat: float
    lon: float


class MileagePublic(BaseModel):
    origin: PointPublic
    destination: PointPublic
    miles: float
    drive_minutes: float
    drive_hours: float
    data_version: str
    cached: bool
    fetched_at: datetime
    from_stop_id: int | None = None
    to_stop_id: int | None = None


class ConditionsPublic(BaseModel):
    location_name: str
    region: str
    condition: str
    condition_code: int | None
    temp_f: float | None
    temp_c: float | None
    feelslike_f: float | None
    wind_mph: float | None
    gust_mph: float | None
    wind_dir: str | None
    precip_in: float | None
    humidity: int | None
    vis_miles: float | None
    is_day: bool
    observed_at: datetime | None


class WeatherAlertPublic(BaseModel):
    id: str
    event: str
    severity: str
    urgency: str
    certainty: str
    headline: str | None
    instruction: str | None
    area: str | None
    effective: datetime | None
    expires: datetime | None
    ends: datetime | None


class WeatherPublic(BaseModel):
    area: str
    lat: float
    lon: float
    vehicle_id: int | None = None
    position_recorded_at: datetime | None = None
    conditions: ConditionsPublic
    alerts: list[WeatherAlertPublic]
    alerts_available: bool
    cached: bool
    fetched_at: datetime
    expires_at: datetime


class VendorToken(SQLModel, table=True):
    """A vendor access token (Ditat OAuth2), reused until shortly before it expires. Never
    logged or served: `repr` leaves it out."""

    __tablename__ = "vendor_token"

    id: int | None = Field(default=None, primary_key=True)
    token_key: str = Field(max_length=200, unique=True)
    access_token: str = Field(max_length=4000, repr=False)
    fetched_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)

    @classmethod
    def valid_at(cls, session: Session, token_key: str, at: datetime) -> VendorToken | None:
        return session.scalars(
            select(cls).where(cls.token_key == token_key, cls.expires_at > at)
        ).first()
