"""Per-source freshness for the dashboard: last success, records held and lag per entity."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.sql import Select
from sqlmodel import Session, col

from helpers.time_utils import utc_now
from models.driver import Driver
from models.hos import HosClock, HosLog, HosViolation
from models.ingest import IngestCursor, IngestRun, IngestStatus
from models.location import VehicleLocation
from models.safety_event import SafetyEvent
from models.stop_visit import FacilityGeofence
from models.trip import Trip
from models.vehicle import Trailer, Vehicle


def _count(model, *where) -> Select:
    return select(func.count()).select_from(model).where(*where)


# What "records" means for each source+entity: the rows that source feeds.
RECORDS: dict[tuple[str, str], Select] = {
    ("samsara", "vehicles"): _count(Vehicle, col(Vehicle.samsara_id).is_not(None)),
    ("samsara", "drivers"): _count(Driver, col(Driver.samsara_id).is_not(None)),
    ("samsara", "locations"): _count(VehicleLocation),
    ("samsara", "hos-clocks"): _count(HosClock),
    ("samsara", "hos-logs"): _count(HosLog),
    ("samsara", "hos-violations"): _count(HosViolation),
    ("samsara", "safety-events"): _count(SafetyEvent),
    ("samsara", "addresses"): _count(FacilityGeofence),
    ("ditat", "drivers"): _count(Driver, col(Driver.ditat_id).is_not(None)),
    ("ditat", "trucks"): _count(Vehicle, col(Vehicle.ditat_id).is_not(None)),
    ("ditat", "trailers"): _count(Trailer, col(Trailer.ditat_id).is_not(None)),
    ("ditat", "trips"): _count(Trip, col(Trip.ditat_id).is_not(None)),
}


class EntityFreshness(BaseModel):
    source: str
    entity: str
    records: int
    last_success_run_id: int | None
    last_success_at: datetime | None
    lag_seconds: int | None
    last_run_id: int | None
    last_run_status: str | None
    last_run_error: str | None
    running_run_id: int | None
    cursor: str | None


class IngestFreshness(BaseModel):
    as_of: datetime
    entities: list[EntityFreshness]


def freshness(session: Session) -> IngestFreshness:
    """A constant number of queries: newest runs, newest successes, cursors, one count each."""
    now = utc_now()
    last_any = {(r.source, r.entity): r for r in IngestRun.last_per_source_entity(session)}
    last_ok = {
        (r.source, r.entity): r
        for r in IngestRun.last_per_source_entity(session, IngestStatus.SUCCEEDED.value)
    }
    cursors = {(c.source, c.entity): c.cursor for c in session.scalars(select(IngestCursor))}
    keys = list(RECORDS) + sorted(set(last_any) - set(RECORDS))
    entities = []
    for key in keys:
        ok, last = last_ok.get(key), last_any.get(key)
        success_at = ok.finished_at if ok else None
        statement = RECORDS.get(key)
        entities.append(
            EntityFreshness(
                source=key[0],
                entity=key[1],
                records=int(session.scalar(statement) or 0) if statement is not None else 0,
                last_success_run_id=ok.id if ok else None,
                last_success_at=success_at,
                lag_seconds=int((now - success_at).total_seconds()) if success_at else None,
                last_run_id=last.id if last else None,
                last_run_status=last.status if last else None,
                last_run_error=last.error if last else None,
                running_run_id=last.id if last and last.status == IngestStatus.RUNNING else None,
                cursor=cursors.get(key),
            )
        )
    return IngestFreshness(as_of=now, entities=entities)
