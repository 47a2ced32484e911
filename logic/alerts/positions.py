"""The newest position of every truck on an active trip, computed once per evaluation pass.

The ETA refresh and four detectors need it; each used to probe the location index once per
truck (10k probes apiece at fleet size). One statement fills a temporary table they all join
instead. It lives in the pass's connection: dropped at commit on PostgreSQL, replaced by the
next pass on SQLite (whose temp tables last as long as the connection).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, Table, func, insert, select, text, true
from sqlalchemy.schema import CreateTable
from sqlmodel import Session

from db.types import UTCDateTime
from models.location import VehicleLocation
from models.trip import ACTIVE_TRIP_STATUSES, Trip

LATEST_POSITIONS = Table(
    "alert_pass_position",
    MetaData(),
    Column("vehicle_id", Integer, primary_key=True),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("speed_mph", Float),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def build_latest_positions(session: Session) -> Table:
    """(Re)fill the snapshot in the caller's transaction and return the table to join.

    Call it outside a savepoint that may roll back: the table would vanish with it.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    # Qualified so that a real table of the same name could never be the one dropped.
    temp_schema = "pg_temp" if postgres else "temp"
    session.execute(text(f"DROP TABLE IF EXISTS {temp_schema}.{LATEST_POSITIONS.name}"))
    session.execute(CreateTable(LATEST_POSITIONS))
    loc = VehicleLocation
    trucks = (
        select(Trip.vehicle_id)
        .where(Trip.status.in_([s.value for s in ACTIVE_TRIP_STATUSES]))
        .where(Trip.vehicle_id.is_not(None))
        .distinct()
        .subquery("trucks")
    )
    if postgres:
        # One backward index probe per truck.
        newest = (
            select(loc.recorded_at, loc.latitude, loc.longitude, loc.speed_mph)
            .where(loc.vehicle_id == trucks.c.vehicle_id)
            .order_by(loc.recorded_at.desc())
            .limit(1)
            .lateral("newest")
        )
        source = select(
            trucks.c.vehicle_id,
            newest.c.recorded_at,
            newest.c.latitude,
            newest.c.longitude,
            newest.c.speed_mph,
        ).select_from(trucks.join(newest, true()))
    else:
        newest_at = (
            select(func.max(loc.recorded_at))
            .where(loc.vehicle_id == trucks.c.vehicle_id)
            .correlate(trucks)
            .scalar_subquery()
        )
        source = (
            select(loc.vehicle_id, loc.recorded_at, loc.latitude, loc.longitude, loc.speed_mph)
            .join(trucks, trucks.c.vehicle_id == loc.vehicle_id)
            .where(loc.recorded_at == newest_at)
        )
    session.execute(
        insert(LATEST_POSITIONS).from_select(
            ["vehicle_id", "recorded_at", "latitude", "longitude", "speed_mph"], source
        )
    )
    if postgres:
        # Temp tables get no autovacuum statistics; without them joins are planned blind.
        session.execute(text(f"ANALYZE {LATEST_POSITIONS.name}"))
    return LATEST_POSITIONS
