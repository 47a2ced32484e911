"""GPS positions of trucks (`VehicleLocation`): one row per vehicle and timestamp.

The primary key is (vehicle_id, recorded_at): it makes re-ingested points idempotent and its
B-tree serves both a
vehicle's time range and "latest per vehicle" (a backward scan, LIMIT 1 per vehicle). We chose
that query over a denormalised pointer on `Vehicle`, so ingest has nothing extra to keep
current: `latest_for_vehicles` probes the index once per vehicle and never scans the table.
Units: speed mph, heading degrees, odometer miles (ingest converts Samsara's metres).

A point is an immutable fact: ingest inserts only keys it does not hold yet (`insert_new`, ON
CONFLICT DO NOTHING), so a re-sent point never overwrites the stored one and the merge runs no
per-row change test. `updated_at` is when the point was stored (a point never changes): the
database fills it (a Python default on SQLite, where CURRENT_TIMESTAMP has whole seconds), and a
BRIN index on PostgreSQL (rows arrive in that order) lets the warehouse export find new points
without a B-tree to maintain on every insert. The foreign key to `vehicle` stays (its per-row
check is the largest database cost of a bulk load, ~35%, but ingest meets its throughput target
with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Index, Row, Select, and_, select, true
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import now
from sqlmodel import Field, Session, SQLModel

from db.types import UTCDateTime
from helpers.time_utils import utc_now
from models.vehicle import Vehicle, VehiclePublic

# (dialect, with vehicle columns) -> the newest-point-per-truck SELECT; see `_with_newest`.
_NEWEST_SELECTS: dict[tuple[str, bool], Select[Any]] = {}


class VehicleLocation(SQLModel, table=True):
    __tablename__ = "vehicle_location"
    __table_args__ = (
        Index("ix_vehicle_location_updated_at", "updated_at", postgresql_using="brin"),
    )

    vehicle_id: int = Field(foreign_key="vehicle.id", primary_key=True, ondelete="CASCADE")
    recorded_at: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    latitude: float
    longitude: float
    speed_mph: float | None = None
    heading_degrees: float | None = None
    odometer_miles: float | None = None
    formatted_address: str | None = Field(default=None, max_length=300)
    updated_at: datetime = Field(
        default_factory=utc_now,
        sa_type=UTCDateTime,
        sa_column_kwargs={"default": utc_now, "server_default": now()},
    )

    @classmethod
    def latest_for_vehicles(
        cls, session: Session, vehicle_ids: Sequence[int] | None = None
    ) -> dict[int, VehicleLocation]:
        """The newest position of each vehicle (all vehicles, or `vehicle_ids`), in one query."""
        if vehicle_ids is not None and not vehicle_ids:
            return {}
        newest = aliased(cls)
        latest_time = (
            select(newest.recorded_at)
            .where(newest.vehicle_id == Vehicle.id)
            .order_by(newest.recorded_at.desc())
            .limit(1)
            .correlate(Vehicle)
            .scalar_subquery()
        )
        stmt = select(cls).join(
            Vehicle, and_(cls.vehicle_id == Vehicle.id, cls.recorded_at == latest_time)
        )
        if vehicle_ids is not None:
            stmt = stmt.where(Vehicle.id.in_(list(vehicle_ids)))
        return {loc.vehicle_id: loc for loc in session.scalars(stmt)}

    @classmethod
    def _with_newest(cls, session: Session, *, with_vehicle: bool = False) -> Select[Any]:
        """SELECT each truck's newest point (plus the truck's map fields), FROM vehicle.

        Columns in `LatestPosition` order. Trucks never seen drop out (inner join). One index
        probe per truck on the (vehicle_id, recorded_at) key, never a scan of the location
        table. On PostgreSQL a LATERAL subquery: one backward index scan LIMIT 1 per truck
        that also reads the row, half the buffer hits of joining on a correlated max time,
        which SQLite (no LATERAL) still uses. Built once per dialect: constructing it costs
        more Python than running it.
        """
        dialect = session.get_bind().dialect.name
        cached = _NEWEST_SELECTS.get((dialect, with_vehicle))
        if cached is not None:
            return cached
        vehicle_columns = (
            (Vehicle.unit_number, Vehicle.name, Vehicle.status, Vehicle.terminal)
            if with_vehicle
            else ()
        )
        if dialect == "postgresql":
            newest = (
                select(cls)
                .where(cls.vehicle_id == Vehicle.id)
                .order_by(cls.recorded_at.desc())
                .limit(1)
                .lateral("newest")
            )
            columns = [newest.c[name] for name in _POINT_COLUMNS]
            stmt = select(columns[0], *vehicle_columns, *columns[1:]).select_from(Vehicle)
            stmt = stmt.join(newest, true())
        else:
            newest_alias = aliased(cls)
            latest_time = (
                select(newest_alias.recorded_at)
                .where(newest_alias.vehicle_id == Vehicle.id)
                .order_by(newest_alias.recorded_at.desc())
                .limit(1)
                .correlate(Vehicle)
                .scalar_subquery()
            )
            columns = [getattr(cls, name) for name in _POINT_COLUMNS]
            stmt = select(columns[0], *vehicle_columns, *columns[1:]).select_from(Vehicle)
            stmt = stmt.join(
                cls, and_(cls.vehicle_id == Vehicle.id, cls.recorded_at == latest_time)
            )
        _NEWEST_SELECTS[(dialect, with_vehicle)] = stmt
        return stmt

    @classmethod
    def latest_rows_for_vehicles(
        cls, session: Session, vehicle_ids: Sequence[int]
    ) -> dict[int, Row[Any]]:
        """`latest_for_vehicles` as plain rows of the location columns (no ORM entities)."""
        if not vehicle_ids:
            return {}
        stmt = cls._with_newest(session).where(Vehicle.id.in_(list(vehicle_ids)))
        return {row.vehicle_id: row for row in session.execute(stmt)}

    @classmethod
    def latest_positions(
        cls, session: Session, *, terminal: str | None = None, status: str | None = None
    ) -> list[Row[Any]]:
        """Every (matching) truck with its newest position, as rows of plain columns.

        Trucks never seen are left out. Columns, not entities: the fleet map reads every
        truck, and building ORM objects would cost more than the query.
        """
        stmt = cls._with_newest(session, with_vehicle=True).order_by(
            Vehicle.unit_number, Vehicle.id
        )
        if terminal:
            stmt = stmt.where(Vehicle.terminal == terminal)
        if status:
            stmt = stmt.where(Vehicle.status == status)
        return list(session.execute(stmt).all())

    @classmethod
    def latest_for_vehicle(cls, session: Session, vehicle_id: int) -> VehicleLocation | None:
        stmt = (
            select(cls)
            .where(cls.vehicle_id == vehicle_id)
            .order_by(cls.recorded_at.desc())
            .limit(1)
        )
        return session.scalars(stmt).first()


# The point's own columns, in `LatestPosition` order (not its bookkeeping `updated_at`).
_POINT_COLUMNS = [
    c.name
    for c in VehicleLocation.__table__.columns  # type: ignore[attr-defined]
    if c.name != "updated_at"
]


class LocationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    vehicle_id: int
    recorded_at: datetime
    latitude: float
    longitude: float
    speed_mph: float | None
    heading_degrees: float | None
    odometer_miles: float | None
    formatted_address: str | None


class BreadcrumbPoint(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    recorded_at: datetime
    latitude: float
    longitude: float
    speed_mph: float | None
    heading_degrees: float | None


class Breadcrumb(BaseModel):
    vehicle_id: int
    start: datetime
    end: datetime
    total_points: int
    downsampled: bool
    points: list[BreadcrumbPoint]


class VehicleWithPosition(VehiclePublic):
    """A truck with its last known position (None until the first GPS point arrives)."""

    last_position: LocationPublic | None = None


class LatestPosition(BaseModel):
    """One row of the fleet map: the truck and where it was last seen."""

    model_config = ConfigDict(from_attributes=True)

    vehicle_id: int
    unit_number: str
    name: str | None
    status: str
    terminal: str | None
    recorded_at: datetime
    latitude: float
    longitude: float
    speed_mph: float | None
    heading_degrees: float | None
    odometer_miles: float | None
    formatted_address: str | None
