"""Trips (Ditat loads) with their ordered stops, and their API schemas.

Ditat owns the trip's identity, assignment, schedule and stops (ingest upserts trips on
`ditat_id` and stops on (trip_id, sequence)). People own `notes` and may correct `status`; a
correction sets `status_corrected_at`, which ingest should respect rather than overwrite. The
ETA columns (`eta_next_stop`, `eta_final`, `late_risk_minutes`, `eta_updated_at`) are filled by
the ETA job (logic/trips/eta.py), the legal ETA columns by logic/trips/legal_eta.py.
"""

# No `from __future__ import annotations`: SQLModel resolves Relationship annotations at
# class creation and cannot read them as strings.
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import Index, String, UniqueConstraint, and_, func, select, text
from sqlmodel import Field, Relationship, Session, SQLModel

from db.types import UTCDateTime
from models.columns import created_at_field, updated_at_field
from models.driver import Driver, DriverSummary
from models.location import LocationPublic
from models.stop_visit import StopVisitPublic
from models.vehicle import Trailer, TrailerSummary, Vehicle, VehicleSummary


class TripStatus(StrEnum):
    PLANNED = "planned"
    DISPATCHED = "dispatched"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


ACTIVE_TRIP_STATUSES = (TripStatus.DISPATCHED, TripStatus.IN_TRANSIT)


class StopType(StrEnum):
    PICKUP = "pickup"
    DELIVERY = "delivery"
    OTHER = "other"


class StopStatus(StrEnum):
    PENDING = "pending"
    ARRIVED = "arrived"
    DEPARTED = "departed"
    SKIPPED = "skipped"


class Trip(SQLModel, table=True):
    __tablename__ = "trip"
    __table_args__ = (
        # The list's default order (newest scheduled first, unscheduled last, id tie-break):
        # with a matching index PostgreSQL walks 50 rows instead of sorting every trip.
        Index(
            "ix_trip_schedule_desc",
            text("scheduled_start DESC NULLS LAST"),
            text("id DESC"),
        ).ddl_if(dialect="postgresql"),
        Index("ix_trip_schedule_asc", "scheduled_start", "id"),
        # Every evaluation pass rewrites ETA columns (none indexed): free space on each page
        # lets PostgreSQL update them in place (HOT) instead of touching all ten indexes.
        {"postgresql_with": {"fillfactor": 85}},
    )

    id: int | None = Field(default=None, primary_key=True)
    ditat_id: str | None = Field(default=None, max_length=64, unique=True)
    load_number: str | None = Field(default=None, max_length=64, index=True)
    customer: str | None = Field(default=None, max_length=200)
    # The normalised customer (models/customer.py); `customer` keeps Ditat's text as sent.
    customer_id: int | None = Field(
        default=None, foreign_key="customer.id", ondelete="SET NULL", index=True
    )
    status: str = Field(
        default=TripStatus.PLANNED,
        sa_type=String(20),
        index=True,
        sa_column_kwargs={"server_default": TripStatus.PLANNED.value},
    )
    driver_id: int | None = Field(default=None, foreign_key="driver.id", index=True)
    vehicle_id: int | None = Field(default=None, foreign_key="vehicle.id", index=True)
    trailer_id: int | None = Field(default=None, foreign_key="trailer.id", index=True)
    terminal: str | None = Field(default=None, max_length=100, index=True)
    scheduled_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    scheduled_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    actual_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    actual_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    planned_miles: float | None = None
    eta_next_stop: datetime | None = Field(default=None, sa_type=UTCDateTime)
    eta_final: datetime | None = Field(default=None, sa_type=UTCDateTime)
    late_risk_minutes: int | None = Field(default=None, description="> 0: expected late by")
    eta_updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The legal ETA (logic/trips/legal_eta.py): the physical one plus every rest the driver's
    # HOS clocks require; the binding clock is the first that runs out, at `hos_binds_at`.
    eta_next_stop_legal: datetime | None = Field(default=None, sa_type=UTCDateTime)
    eta_final_legal: datetime | None = Field(default=None, sa_type=UTCDateTime)
    hos_binding_clock: str | None = Field(default=None, max_length=10)
    hos_binds_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # What the driver told an AI call (logic/calls/insights.py), kept apart from the ETA job's
    # estimate so a recomputation never erases it.
    driver_reported_delay_minutes: int | None = None
    driver_reported_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    notes: str | None = Field(default=None, max_length=4000)
    status_corrected_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    driver: Driver | None = Relationship()
    vehicle: Vehicle | None = Relationship()
    trailer: Trailer | None = Relationship()
    stops: list["TripStop"] = Relationship(
        back_populates="trip",
        sa_relationship_kwargs={"order_by": "TripStop.sequence", "cascade": "all, delete-orphan"},
    )

    @classmethod
    def get_by_ditat_id(cls, session: Session, ditat_id: str) -> "Trip | None":
        return session.scalars(select(cls).where(cls.ditat_id == ditat_id)).first()

    @classmethod
    def current_for_driver(cls, session: Session, driver_id: int) -> "Trip | None":
        """The driver's trip under way (in transit first, then dispatched), else None."""
        stmt = (
            select(cls)
            .where(cls.driver_id == driver_id, cls.status.in_(list(ACTIVE_TRIP_STATUSES)))
            .order_by(
                (cls.status == TripStatus.IN_TRANSIT).desc(),
                cls.scheduled_start.desc(),
                cls.id.desc(),
            )
            .limit(1)
        )
        return session.scalars(stmt).first()


class TripStop(SQLModel, table=True):
    __tablename__ = "trip_stop"
    __table_args__ = (
        UniqueConstraint("trip_id", "sequence", name="uq_trip_stop_sequence"),
        # Stop ETAs are rewritten each pass: room for in-place (HOT) updates, as on `trip`.
        {"postgresql_with": {"fillfactor": 85}},
    )

    id: int | None = Field(default=None, primary_key=True)
    trip_id: int = Field(foreign_key="trip.id", ondelete="CASCADE", index=True)
    ditat_id: str | None = Field(default=None, max_length=64, unique=True)
    sequence: int
    stop_type: str = Field(
        default=StopType.OTHER,
        sa_type=String(20),
        sa_column_kwargs={"server_default": StopType.OTHER.value},
    )
    status: str = Field(
        default=StopStatus.PENDING,
        sa_type=String(20),
        index=True,
        sa_column_kwargs={"server_default": StopStatus.PENDING.value},
    )
    name: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=300)
    city: str | None = Field(default=None, max_length=100)
    state: str | None = Field(default=None, max_length=50, index=True)
    postal_code: str | None = Field(default=None, max_length=20)
    latitude: float | None = None
    longitude: float | None = None
    appointment_start: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    appointment_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    arrived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    departed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Arrival and departure seen by GPS (logic/trips/stop_visits.py), never written by TMS
    # ingest, so a Ditat re-sync that is silent about the stop cannot erase them.
    visit_arrived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    visit_departed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    eta: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Refreshed by ingest when Ditat's stop changes and by the ETA pass: the export watermark.
    updated_at: datetime = updated_at_field()

    trip: Trip | None = Relationship(back_populates="stops")

    @property
    def is_done(self) -> bool:
        """Left (by the TMS or GPS) or skipped."""
        return (
            self.departed_at is not None
            or self.visit_departed_at is not None
            or self.status in (StopStatus.DEPARTED, StopStatus.SKIPPED)
        )

    @property
    def is_reached(self) -> bool:
        """Arrived (by the TMS or GPS), left or skipped."""
        return (
            self.is_done
            or self.arrived_at is not None
            or self.visit_arrived_at is not None
            or self.status == StopStatus.ARRIVED
        )


_REACHED_STATUSES = [StopStatus.ARRIVED.value, StopStatus.DEPARTED.value, StopStatus.SKIPPED.value]
_DONE_STATUSES = [StopStatus.DEPARTED.value, StopStatus.SKIPPED.value]


def stop_not_reached(stop: Any = None) -> Any:
    """SQL: the stop (TripStop or an alias) is not arrived by any source, left or skipped.

    The next stop for ETAs and every detector is the first such stop: a truck held at the dock
    has reached its stop, whatever the clock says now.
    """
    s = stop if stop is not None else TripStop
    return and_(
        s.arrived_at.is_(None),
        s.departed_at.is_(None),
        s.visit_arrived_at.is_(None),
        s.visit_departed_at.is_(None),
        s.status.notin_(_REACHED_STATUSES),
    )


def stop_not_done(stop: Any = None) -> Any:
    """SQL: the stop is neither left (by any source) nor skipped."""
    s = stop if stop is not None else TripStop
    return and_(
        s.departed_at.is_(None), s.visit_departed_at.is_(None), s.status.notin_(_DONE_STATUSES)
    )


def next_stop_sequences(*trip_filters: Any) -> Any:
    """SQL subquery (trip_id, seq): each trip's next stop, the first in sequence not reached;
    `trip_filters` (on `Trip`) narrow the trips looked at before the stops are grouped."""
    stmt = select(TripStop.trip_id, func.min(TripStop.sequence).label("seq")).where(
        stop_not_reached()
    )
    if trip_filters:
        stmt = stmt.join(Trip, Trip.id == TripStop.trip_id).where(*trip_filters)
    return stmt.group_by(TripStop.trip_id).subquery()


def next_stop(stops: list[TripStop]) -> TripStop | None:
    """First stop in sequence the truck has not reached yet."""
    return next((s for s in sorted(stops, key=lambda s: s.sequence) if not s.is_reached), None)


class TripStopPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    trip_id: int
    ditat_id: str | None
    sequence: int
    stop_type: StopType
    status: StopStatus
    name: str | None
    address: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    latitude: float | None
    longitude: float | None
    appointment_start: datetime | None
    appointment_end: datetime | None
    arrived_at: datetime | None
    departed_at: datetime | None
    visit_arrived_at: datetime | None = None
    visit_departed_at: datetime | None = None
    eta: datetime | None
    visits: list[StopVisitPublic] = []


class TripPublic(BaseModel):
    """A trip in lists: assignment embedded, plus the truck's last known position."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ditat_id: str | None
    load_number: str | None
    customer: str | None
    customer_id: int | None = None
    status: TripStatus
    terminal: str | None
    driver: DriverSummary | None
    vehicle: VehicleSummary | None
    trailer: TrailerSummary | None
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    actual_start: datetime | None
    actual_end: datetime | None
    planned_miles: float | None
    eta_next_stop: datetime | None
    eta_final: datetime | None
    late_risk_minutes: int | None
    eta_updated_at: datetime | None
    eta_next_stop_legal: datetime | None = None
    eta_final_legal: datetime | None = None
    hos_binding_clock: str | None = None
    hos_binds_at: datetime | None = None
    driver_reported_delay_minutes: int | None = None
    driver_reported_at: datetime | None = None
    notes: str | None
    status_corrected_at: datetime | None
    last_position: LocationPublic | None = None


class TripDetail(TripPublic):
    stops: list[TripStopPublic]
    next_stop: TripStopPublic | None = None
    # The stop the truck has reached and not left (held at the dock), and one line saying so:
    # "at receiver Walmart DC 6094, held 2 h 40 min, detained 40 min".
    current_stop: TripStopPublic | None = None
    at_stop: str | None = None


class TripFacets(BaseModel):
    """Distinct filter values for the dispatch board (`GET /trips/facets`)."""

    terminals: list[str]
    customers: list[str]
    fleet_managers: list[str]


class TripUpdate(BaseModel):
    """People may only change notes; everything else comes from Ditat."""

    model_config = ConfigDict(extra="forbid")

    notes: str | None = PydanticField(default=None, max_length=4000)

    @model_validator(mode="before")
    @classmethod
    def _refuse_vendor_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            owned = sorted(set(data) - {"notes"})
            if "status" in owned:
                raise ValueError(
                    "status is set by Ditat; use POST /trips/{id}/status to correct it (audited)"
                )
            if owned:
                raise ValueError(
                    f"{', '.join(owned)}: owned by Ditat and read-only here; only notes may change"
                )
        return data


class TripStatusCorrection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: TripStatus
    reason: str = PydanticField(min_length=3, max_length=500)
