"""Trips and stops: lists with assignment and last truck position, detail, notes, and the
manual status correction (audited; marks the trip so ingest knows a person overrode Ditat)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.orm import aliased, joinedload, selectinload
from sqlmodel import Session

from helpers.errors import Conflict, NotFound
from helpers.time_utils import format_duration, utc_now
from logic.auth import audit
from logic.auth.audit import ClientInfo
from logic.listing import (
    Page,
    PageRequest,
    driver_name_key,
    fetch_page,
    fetch_row_page,
    order_by_clause,
    text_search,
)
from logic.trips.stop_visits import visit_figures
from models.driver import Driver, DriverSummary
from models.location import LocationPublic, VehicleLocation
from models.trip import (
    StopStatus,
    StopType,
    Trip,
    TripDetail,
    TripFacets,
    TripPublic,
    TripStatus,
    TripStatusCorrection,
    TripStop,
    TripStopPublic,
    TripUpdate,
    next_stop,
)
from models.user import User
from models.vehicle import Trailer, TrailerSummary, Vehicle, VehicleSummary

# The board's columns that live in other tables sort by a correlated subquery on the trip's
# key (one index probe per trip), so the key-first page pick in `fetch_row_page` needs no join.
_TRUCK_UNIT = (
    select(Vehicle.unit_number)
    .where(Vehicle.id == Trip.vehicle_id)
    .correlate(Trip)
    .scalar_subquery()
)
_LAST_POSITION_AT = (
    select(func.max(VehicleLocation.recorded_at))
    .where(VehicleLocation.vehicle_id == Trip.vehicle_id)
    .correlate(Trip)
    .scalar_subquery()
)
TRIP_SORTABLE = {
    "id": Trip.id,
    "scheduled_start": Trip.scheduled_start,
    "scheduled_end": Trip.scheduled_end,
    "status": Trip.status,
    "load_number": Trip.load_number,
    "customer": Trip.customer,
    "late_risk_minutes": Trip.late_risk_minutes,
    "eta_final": Trip.eta_final,
    "eta_next_stop": Trip.eta_next_stop,
    "terminal": Trip.terminal,
    "updated_at": Trip.updated_at,
    "driver": driver_name_key(Trip.driver_id),
    "truck": _TRUCK_UNIT,
    "last_position_at": _LAST_POSITION_AT,  # the truck's newest GPS point
}
STOP_SORTABLE = {
    "id": TripStop.id,
    "appointment_start": TripStop.appointment_start,
    "sequence": TripStop.sequence,
    "state": TripStop.state,
    "city": TripStop.city,
}


@dataclass(frozen=True)
class TripFilters:
    statuses: Sequence[TripStatus] = ()
    driver_id: int | None = None
    vehicle_id: int | None = None
    trailer_id: int | None = None
    terminal: str | None = None
    customer: str | None = None
    fleet_manager: str | None = None
    scheduled_from: datetime | None = None
    scheduled_to: datetime | None = None
    late_only: bool = False
    q: str | None = None


def _trip_query(filters: TripFilters, *columns: Any):
    """SELECT `columns` (default: the Trip entity) FROM trip with the filters applied."""
    stmt = select(*columns) if columns else select(Trip)
    if columns:
        stmt = stmt.select_from(Trip)
    if filters.statuses:
        stmt = stmt.where(Trip.status.in_([str(s) for s in filters.statuses]))
    if filters.driver_id is not None:
        stmt = stmt.where(Trip.driver_id == filters.driver_id)
    if filters.vehicle_id is not None:
        stmt = stmt.where(Trip.vehicle_id == filters.vehicle_id)
    if filters.trailer_id is not None:
        stmt = stmt.where(Trip.trailer_id == filters.trailer_id)
    if filters.terminal:
        stmt = stmt.where(Trip.terminal == filters.terminal)
    if filters.customer:
        stmt = stmt.where(Trip.customer == filters.customer)
    if filters.fleet_manager:
        managed = select(Driver.id).where(Driver.fleet_manager == filters.fleet_manager)
        stmt = stmt.where(Trip.driver_id.in_(managed))  # type: ignore[union-attr]
    if filters.scheduled_from is not None:
        stmt = stmt.where(Trip.scheduled_start >= filters.scheduled_from)
    if filters.scheduled_to is not None:
        stmt = stmt.where(Trip.scheduled_start < filters.scheduled_to)
    if filters.late_only:
        stmt = stmt.where(Trip.late_risk_minutes > 0)
    if filters.q and filters.q.strip():
        by_driver = select(Driver.id).where(
            text_search(filters.q, Driver.first_name, Driver.last_name)  # type: ignore[arg-type]
        )
        stmt = stmt.where(
            text_search(filters.q, Trip.load_number, Trip.customer, Trip.ditat_id)
            | Trip.driver_id.in_(by_driver)  # type: ignore[operator]
        )
    return stmt


# The list reads plain columns, not entities: building ~200 ORM objects (trip, driver, truck,
# trailer) per page cost more than the three statements. Aliases keep the joined tables apart
# from the `q` filter's subquery on `driver`, which must not correlate to the join.
_list_driver = aliased(Driver, name="list_driver")
_list_vehicle = aliased(Vehicle, name="list_vehicle")
_list_trailer = aliased(Trailer, name="list_trailer")
_EMBEDDED = {"driver", "vehicle", "trailer", "last_position"}
_TRIP_FIELDS = [name for name in TripPublic.model_fields if name not in _EMBEDDED]
_DRIVER_FIELDS = [name for name in DriverSummary.model_fields if name != "full_name"]
_VEHICLE_FIELDS = list(VehicleSummary.model_fields)
_TRAILER_FIELDS = list(TrailerSummary.model_fields)
_LIST_COLUMNS = (
    *(getattr(Trip, name) for name in _TRIP_FIELDS),
    Trip.vehicle_id,
    *(getattr(_list_driver, name).label(f"driver__{name}") for name in _DRIVER_FIELDS),
    *(getattr(_list_vehicle, name).label(f"vehicle__{name}") for name in _VEHICLE_FIELDS),
    *(getattr(_list_trailer, name).label(f"trailer__{name}") for name in _TRAILER_FIELDS),
)
_PAGE = TypeAdapter(Page[TripPublic])


def list_trips(session: Session, filters: TripFilters, page: PageRequest) -> Page[TripPublic]:
    """Three statements whatever the page size: count, page (assignment joined), positions."""
    stmt = (
        _trip_query(filters, *_LIST_COLUMNS)
        .outerjoin(_list_driver, _list_driver.id == Trip.driver_id)
        .outerjoin(_list_vehicle, _list_vehicle.id == Trip.vehicle_id)
        .outerjoin(_list_trailer, _list_trailer.id == Trip.trailer_id)
    )
    order = order_by_clause(
        page.sort, TRIP_SORTABLE, default="-scheduled_start", tie_breaker=Trip.id
    )
    rows, total = fetch_row_page(session, stmt, _trip_query(filters, Trip.id), Trip.id, page, order)
    positions = VehicleLocation.latest_rows_for_vehicles(
        session, sorted({row.vehicle_id for row in rows if row.vehicle_id is not None})
    )
    items = []
    for row in rows:
        m = row._mapping
        item = {name: m[name] for name in _TRIP_FIELDS}
        if m["driver__id"] is None:
            item["driver"] = None
        else:
            driver = {name: m[f"driver__{name}"] for name in _DRIVER_FIELDS}
            driver["full_name"] = f"{driver['first_name']} {driver['last_name']}".strip()
            item["driver"] = driver
        item["vehicle"] = (
            None
            if m["vehicle__id"] is None
            else {name: m[f"vehicle__{name}"] for name in _VEHICLE_FIELDS}
        )
        item["trailer"] = (
            None
            if m["trailer__id"] is None
            else {name: m[f"trailer__{name}"] for name in _TRAILER_FIELDS}
        )
        location = positions.get(row.vehicle_id) if row.vehicle_id is not None else None
        item["last_position"] = location._asdict() if location is not None else None
        items.append(item)
    # One validator call for the page, from plain dicts.
    return _PAGE.validate_python(
        {"items": items, "total": total, "limit": page.limit, "offset": page.offset}
    )


FACET_LIMIT = 500


def trip_facets(session: Session) -> TripFacets:
    """The values the board's filters offer: terminals (of trips and drivers), customers,
    fleet managers; each sorted and capped at FACET_LIMIT."""

    def distinct(*columns: Any) -> list[str]:
        values: set[str] = set()
        for column in columns:
            stmt = select(column).where(column.is_not(None), column != "").distinct()
            values.update(session.scalars(stmt.limit(FACET_LIMIT)))
        return sorted(values)[:FACET_LIMIT]

    return TripFacets(
        terminals=distinct(Trip.terminal, Driver.terminal),
        customers=distinct(Trip.customer),
        fleet_managers=distinct(Driver.fleet_manager),
    )


def get_trip(session: Session, trip_id: int, *, with_relations: bool = False) -> Trip:
    if with_relations:
        stmt = (
            select(Trip)
            .where(Trip.id == trip_id)
            .options(
                joinedload(Trip.driver),
                joinedload(Trip.vehicle),
                joinedload(Trip.trailer),
                selectinload(Trip.stops),
            )
        )
        trip = session.scalars(stmt).first()
    else:
        trip = session.get(Trip, trip_id)
    if trip is None:
        raise NotFound(f"trip {trip_id} not found")
    return trip


def trip_detail(session: Session, trip: Trip) -> TripDetail:
    """A trip with its stops in sequence, the next stop to reach and the truck's position."""
    detail = TripDetail.model_validate(trip)
    if trip.vehicle_id is not None:
        location = VehicleLocation.latest_for_vehicle(session, trip.vehicle_id)
        detail.last_position = LocationPublic.model_validate(location) if location else None
    upcoming = next_stop(list(trip.stops))
    detail.next_stop = TripStopPublic.model_validate(upcoming) if upcoming else None
    _attach_visits(session, trip, detail)
    return detail


def _attach_visits(session: Session, trip: Trip, detail: TripDetail) -> None:
    """Each stop's visits (GPS first, then TMS, driver call), open ones with running figures,
    and the stop the truck is held at, if any."""
    visits = visit_figures(session, trip.id, utc_now())
    for stop in detail.stops:
        stop.visits = visits.get(stop.id, [])
    if detail.next_stop is not None:
        detail.next_stop.visits = visits.get(detail.next_stop.id, [])
    rows = {row.id: row for row in trip.stops}
    held = next(
        (
            stop
            for stop in detail.stops
            if rows[stop.id].is_reached and not rows[stop.id].is_done and stop.visits
        ),
        None,
    )
    detail.current_stop = held
    if held is not None:
        visit = held.visits[0]
        line = f"at {held.stop_type.value if held.stop_type != StopType.OTHER else 'stop'}"
        line += f" {held.name}" if held.name else ""
        line += f", held {format_duration(visit.dwell_minutes or 0)}"
        if visit.detention_minutes > 0:
            line += f", detained {format_duration(visit.detention_minutes)}"
        detail.at_stop = line


def update_trip(
    session: Session,
    trip: Trip,
    changes: TripUpdate,
    *,
    actor: User | None,
    client: ClientInfo | None = None,
) -> Trip:
    data = changes.model_dump(exclude_unset=True)
    if "notes" in data and data["notes"] != trip.notes:
        audit.record(
            session,
            "trip.update",
            actor=actor,
            resource_type="trip",
            resource_id=trip.id,
            details={"changes": {"notes": [trip.notes, data["notes"]]}},
            client=client,
        )
        trip.notes = data["notes"]
        session.add(trip)
        session.flush()
    return trip


def correct_trip_status(
    session: Session,
    trip: Trip,
    correction: TripStatusCorrection,
    *,
    actor: User | None,
    client: ClientInfo | None = None,
) -> Trip:
    """Override the Ditat status by hand; the reason and both statuses go to the audit log.

    Refuses a no-op (409) so an audit row always records a real change.
    """
    if trip.status == correction.status:
        raise Conflict(f"trip {trip.id} is already {correction.status}")
    audit.record(
        session,
        "trip.status_correct",
        actor=actor,
        resource_type="trip",
        resource_id=trip.id,
        details={"from": trip.status, "to": str(correction.status), "reason": correction.reason},
        client=client,
    )
    trip.status = correction.status
    trip.status_corrected_at = utc_now()
    session.add(trip)
    session.flush()
    return trip


@dataclass(frozen=True)
class StopFilters:
    trip_id: int | None = None
    status: StopStatus | None = None
    stop_type: StopType | None = None
    state: str | None = None
    appointment_from: datetime | None = None
    appointment_to: datetime | None = None
    q: str | None = None


def list_stops(session: Session, filters: StopFilters, page: PageRequest) -> Page[TripStopPublic]:
    stmt = select(TripStop)
    if filters.trip_id is not None:
        stmt = stmt.where(TripStop.trip_id == filters.trip_id)
    if filters.status:
        stmt = stmt.where(TripStop.status == filters.status)
    if filters.stop_type:
        stmt = stmt.where(TripStop.stop_type == filters.stop_type)
    if filters.state:
        stmt = stmt.where(TripStop.state == filters.state)
    if filters.appointment_from is not None:
        stmt = stmt.where(TripStop.appointment_start >= filters.appointment_from)
    if filters.appointment_to is not None:
        stmt = stmt.where(TripStop.appointment_start < filters.appointment_to)
    search = text_search(
        filters.q, TripStop.name, TripStop.address, TripStop.city, TripStop.postal_code
    )
    if search is not None:
        stmt = stmt.where(search)
    default = "sequence" if filters.trip_id is not None else "appointment_start"
    order = order_by_clause(page.sort, STOP_SORTABLE, default=default, tie_breaker=TripStop.id)
    rows, total = fetch_page(session, stmt, page, order)
    return Page[TripStopPublic](
        items=[TripStopPublic.model_validate(s) for s in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def get_stop(session: Session, stop_id: int) -> TripStop:
    stop = session.get(TripStop, stop_id)
    if stop is None:
        raise NotFound(f"trip stop {stop_id} not found")
    return stop
