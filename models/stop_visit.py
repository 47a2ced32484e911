"""Stop visits (a truck's arrival at and departure from a stop, per source) and the geofence
tracking state the stop-visit pass keeps per active trip (logic/trips/stop_visits.py).

A stop has at most one visit per source (`gps`, `tms`, `driver_call`): GPS and the TMS are kept
side by side so their difference can be shown. Detention figures live on the visit: the clock
starts at the later of arrival and appointment start, `free_minutes` after it billing begins.
`FacilityGeofence` rows are Samsara addresses (`GET /addresses`): a stop inside one is fenced
by its circle or polygon instead of the default radius.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Index, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from db.types import JSONType, UTCDateTime
from models.columns import created_at_field, updated_at_field


class VisitSource(StrEnum):
    GPS = "gps"
    TMS = "tms"
    DRIVER_CALL = "driver_call"


class StopVisit(SQLModel, table=True):
    __tablename__ = "stop_visit"
    __table_args__ = (
        UniqueConstraint("stop_id", "source", name="uq_stop_visit_stop_source"),
        # Trucks held right now: the detention detector and the morning report read only these.
        Index(
            "ix_stop_visit_open",
            "trip_id",
            postgresql_where=text("departed_at IS NULL"),
            sqlite_where=text("departed_at IS NULL"),
        ),
        Index("ix_stop_visit_arrived_at", "arrived_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    trip_id: int = Field(foreign_key="trip.id", ondelete="CASCADE", index=True)
    stop_id: int = Field(foreign_key="trip_stop.id", ondelete="CASCADE")
    source: str = Field(sa_type=String(20))
    # Copied from the trip and stop at arrival so reports group without joining history.
    customer: str | None = Field(default=None, max_length=200)
    facility: str | None = Field(default=None, max_length=200)
    arrived_at: datetime = Field(sa_type=UTCDateTime)
    departed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # > 0: reached that many minutes after the appointment window ended; <= 0: on time.
    late_minutes: int | None = None
    free_minutes: int
    detention_started_at: datetime = Field(sa_type=UTCDateTime)
    # detention_started_at + free_minutes: an open visit bills once now is past it.
    billable_from: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Billable minutes past free time: running while held, final once departed.
    detention_minutes: int = 0
    dwell_minutes: int | None = None
    geofence: str | None = Field(default=None, max_length=80)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class StopTrack(SQLModel, table=True):
    """Hysteresis state of one active trip against the stop it is heading to or sitting at."""

    __tablename__ = "stop_track"

    trip_id: int = Field(foreign_key="trip.id", primary_key=True, ondelete="CASCADE")
    stop_id: int = Field(foreign_key="trip_stop.id", ondelete="CASCADE")
    inside: bool = False
    # Consecutive points on the other side of the fence, and when the first of them was taken.
    streak: int = 0
    streak_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The newest position already consumed: the next pass reads only points after it.
    watermark: datetime = Field(sa_type=UTCDateTime)
    # Around the stop's point: within `inner_miles` is surely inside the fence, and the fence
    # lies within `outer_miles` (the pass skips trucks that cannot have crossed in SQL).
    inner_miles: float = 0.0
    outer_miles: float = 0.0
    updated_at: datetime = Field(sa_type=UTCDateTime)


class FacilityGeofence(SQLModel, table=True):
    """A Samsara address with its geofence (circle in metres, or polygon vertices)."""

    __tablename__ = "facility_geofence"

    id: int | None = Field(default=None, primary_key=True)
    samsara_id: str = Field(max_length=64, unique=True)
    name: str | None = Field(default=None, max_length=200)
    formatted_address: str | None = Field(default=None, max_length=1024)
    latitude: float | None = None
    longitude: float | None = None
    radius_meters: float | None = None
    vertices: list[Any] | None = Field(default=None, sa_type=JSONType)
    updated_at: datetime = updated_at_field()


class StopVisitPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    trip_id: int
    stop_id: int
    source: VisitSource
    customer: str | None
    facility: str | None
    arrived_at: datetime
    departed_at: datetime | None
    late_minutes: int | None
    free_minutes: int
    detention_started_at: datetime
    billable_from: datetime | None = None
    detention_minutes: int
    dwell_minutes: int | None
    geofence: str | None


class DetentionVisitRow(BaseModel):
    """One stop visit in the detention report (times UTC; billable = past free time)."""

    visit_id: int
    trip_id: int
    stop_id: int
    load_number: str | None
    customer: str | None
    facility: str | None
    city: str | None
    state: str | None
    stop_type: str | None
    driver_name: str | None
    unit_number: str | None
    source: VisitSource
    appointment_start: datetime | None
    appointment_end: datetime | None
    arrived_at: datetime
    departed_at: datetime | None
    late_minutes: int | None
    dwell_minutes: int
    free_minutes: int
    detention_started_at: datetime
    billable_minutes: int
    billable_hours: float
    still_held: bool


class DetentionGroup(BaseModel):
    """Totals for one customer or facility (average dwell over every visit)."""

    customer: str | None = None
    facility: str | None = None
    visits: int
    detained_visits: int
    billable_minutes: int
    billable_hours: float
    average_dwell_minutes: float


class DetentionReportPublic(BaseModel):
    date: str
    timezone: str
    billable_minutes: int
    visits: list[DetentionVisitRow]
    by_customer: list[DetentionGroup]
    by_facility: list[DetentionGroup]
