"""Ditat → our tables: drivers, trucks, trailers and trips (with stops) from the TMS.

Ditat's contract is known only from third-party clients, so rows are read tolerantly (the
client's case-insensitive `CIDict`) and validated one by one: a bad row is skipped with a
counted reason, a response that is not the expected envelope fails the page and the run.
Trips link to our driver, truck and trailer rows by Ditat ids (a truck also by unit number);
a trip whose driver or truck we do not know is kept with the link empty and reported.
A dispatcher's status correction (`status_corrected_at`) survives re-ingest.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from config import Settings
from db.database import session_scope
from db.upsert import bulk_upsert
from helpers.phone import try_e164
from helpers.time_utils import utc_now
from logic.customers.directory import ensure_customers
from logic.ingest.matching import (
    DriverIndex,
    VehicleIndex,
    normalize_name,
    normalize_unit,
    upsert_with_matches,
)
from logic.ingest.runner import BadVendorData, PageWrite, RunHandle
from models.customer import customer_key
from models.driver import Driver, DriverStatus
from models.trip import StopStatus, StopType, Trip, TripStatus, TripStop
from models.vehicle import Trailer, UnitStatus, Vehicle
from models.vendor_cache import VendorToken

DRIVER_COLUMNS = ["first_name", "last_name", "status"]
TRUCK_COLUMNS = ["unit_number", "vin", "make", "model", "year", "license_plate", "status"]
TRAILER_COLUMNS = ["unit_number", "trailer_type", "license_plate", "year", "status"]
TRIP_COLUMNS = [
    "load_number",
    "customer",
    "customer_id",
    "terminal",
    "status",
    "driver_id",
    "vehicle_id",
    "trailer_id",
    "scheduled_start",
    "scheduled_end",
    "actual_start",
    "actual_end",
    "planned_miles",
]
STOP_COLUMNS = [
    "ditat_id",
    "stop_type",
    "status",
    "name",
    "address",
    "city",
    "state",
    "postal_code",
    "latitude",
    "longitude",
    "appointment_start",
    "appointment_end",
    "arrived_at",
    "departed_at",
]

_TRIP_STATUS = {
    "planned": TripStatus.PLANNED,
    "available": TripStatus.PLANNED,
    "pending": TripStatus.PLANNED,
    "dispatched": TripStatus.DISPATCHED,
    "assigned": TripStatus.DISPATCHED,
    "atpickup": TripStatus.DISPATCHED,
    "intransit": TripStatus.IN_TRANSIT,
    "loaded": TripStatus.IN_TRANSIT,
    "atdelivery": TripStatus.IN_TRANSIT,
    "delivered": TripStatus.DELIVERED,
    "completed": TripStatus.DELIVERED,
    "cancelled": TripStatus.CANCELLED,
    "canceled": TripStatus.CANCELLED,
}


class SkipRow(Exception):
    """This one row is bad; the message is the counted skip reason."""


def _text(value: Any, limit: int) -> str | None:
    if value is None or value == "":
        return None
    return str(value).strip()[:limit] or None


def _year(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and 1900 < int(text) < 2100 else None


def _coordinate(value: Any, what: str, limit: float) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SkipRow(f"invalid {what}") from None
    if not -limit <= number <= limit:
        raise SkipRow(f"{what} out of range")
    return number


def _parse(row: Any, parse) -> Any:
    """The client's typed view of a row; its parse errors become a counted skip."""
    try:
        return parse(row)
    except KeyError as exc:
        raise SkipRow(f"missing {exc.args[0]}") from None
    except (TypeError, ValueError, OverflowError):
        raise SkipRow("invalid value") from None


def _rows(page: Any) -> list[Any]:
    if not isinstance(page, list) or not all(hasattr(r, "get") for r in page):
        raise BadVendorData("ditat: lookup page is not a list of objects")
    return page


# ---- drivers ----------------------------------------------------------------------------------
def write_drivers(session: Session, rows: list[Any]) -> PageWrite:
    from utils.ditat_client import DitatDriver

    out = PageWrite(fetched=len(rows))
    now = utc_now()
    index = DriverIndex.load(session, "ditat")
    own, matched = [], []
    for raw in rows:
        try:
            driver = _parse(raw, DitatDriver.from_row)
            if not driver.driver_id.strip():
                raise SkipRow("missing driverId")
        except SkipRow as exc:
            out.skip(f"driver: {exc}")
            continue
        active = (driver.status or "active").strip().lower() == "active"
        row = {
            "ditat_id": driver.driver_id.strip()[:64],
            "first_name": (_text(driver.first_name, 100) or ""),
            "last_name": (_text(driver.last_name, 100) or ""),
            "phone": try_e164(driver.phone) if driver.phone else None,
            "email": _text(driver.email, 255),
            "status": (DriverStatus.ACTIVE if active else DriverStatus.INACTIVE).value,
            "language": "en",
            "do_not_call": False,
            "created_at": now,
            "updated_at": now,
        }
        if row["ditat_id"] in index.by_own_id:
            own.append(row)
            continue
        hit = index.match(
            phone=row["phone"], name=normalize_name(row["first_name"], row["last_name"])
        )
        if hit is None:
            own.append(row)
            if index.other_source_present:
                out.unmatched_ref("ditat_driver_without_samsara_driver", row["ditat_id"])
        else:
            matched.append({"id": hit.row_id, **row})
    out.result += upsert_with_matches(session, Driver, "ditat_id", own, matched, DRIVER_COLUMNS)
    return out


# ---- trucks and trailers ----------------------------------------------------------------------
def _unit_status(raw: Any, is_active: bool) -> str:
    status = str(raw.get("status") or "").strip().lower().replace(" ", "").replace("_", "")
    if not is_active or status in ("inactive", "terminated", "sold"):
        return UnitStatus.INACTIVE.value
    if status in ("outofservice", "oos", "shop"):
        return UnitStatus.OUT_OF_SERVICE.value
    return UnitStatus.ACTIVE.value


def write_trucks(session: Session, rows: list[Any]) -> PageWrite:
    from utils.ditat_client import DitatTruck

    out = PageWrite(fetched=len(rows))
    now = utc_now()
    index = VehicleIndex.load(session, "ditat")
    own, matched = [], []
    for raw in rows:
        try:
            truck = _parse(raw, DitatTruck.from_row)
            unit = truck.truck_id.strip()
            if not unit:
                raise SkipRow("missing truckId")
        except SkipRow as exc:
            out.skip(f"truck: {exc}")
            continue
        vin = _text(truck.vin, 17)
        row = {
            "ditat_id": unit[:64],
            "unit_number": unit[:50],
            "vin": vin.upper() if vin else None,
            "make": _text(raw.get("make"), 50),
            "model": _text(raw.get("model"), 50),
            "year": _year(raw.get("year")),
            "license_plate": _text(raw.get("licensePlate"), 20),
            "status": _unit_status(raw, truck.is_active),
            "created_at": now,
            "updated_at": now,
        }
        if row["ditat_id"] in index.by_own_id:
            own.append(row)
            continue
        hit = index.match(units=[unit], vin=row["vin"])
        if hit is None:
            own.append(row)
            if index.other_source_present:
                out.unmatched_ref("ditat_truck_without_samsara_vehicle", unit)
        else:
            matched.append({"id": hit.row_id, **row})
    out.result += upsert_with_matches(session, Vehicle, "ditat_id", own, matched, TRUCK_COLUMNS)
    return out


def write_trailers(session: Session, rows: list[Any]) -> PageWrite:
    from utils.ditat_client import DitatTrailer

    out = PageWrite(fetched=len(rows))
    now = utc_now()
    trailers = []
    for raw in rows:
        try:
            trailer = _parse(raw, DitatTrailer.from_row)
            unit = trailer.trailer_id.strip()
            if not unit:
                raise SkipRow("missing trailerId")
        except SkipRow as exc:
            out.skip(f"trailer: {exc}")
            continue
        trailers.append(
            {
                "ditat_id": unit[:64],
                "unit_number": unit[:50],
                "trailer_type": _text(trailer.trailer_type, 50),
                "license_plate": _text(raw.get("licensePlate"), 20),
                "year": _year(raw.get("year")),
                "status": _unit_status(raw, trailer.is_active),
                "created_at": now,
                "updated_at": now,
            }
        )
    out.result += bulk_upsert(
        session, Trailer, trailers, conflict_columns=["ditat_id"],
        update_columns=TRAILER_COLUMNS, touch_columns=["updated_at"],
    )  # fmt: skip
    return out


# ---- trips ------------------------------------------------------------------------------------
def _ids(session: Session, column: Any, values: Iterable[str]) -> dict[str, int]:
    wanted = sorted({v for v in values if v})
    if not wanted:
        return {}
    model = column.class_
    rows = session.execute(select(column, model.id).where(col(column).in_(wanted)))
    return {key: row_id for key, row_id in rows}


def _trip_status(value: Any, out: PageWrite) -> str:
    key = str(value or "").strip().lower().replace(" ", "").replace("_", "")
    status = _TRIP_STATUS.get(key)
    if status is None:
        out.unmatched_ref("ditat_trip_status", str(value))
        return TripStatus.PLANNED.value
    return status.value


def _stop_row(stop: Any, sequence: int) -> dict[str, Any]:
    kind = (stop.stop_type or "").strip().lower()
    stop_type = StopType.PICKUP if kind == "pickup" else StopType.OTHER
    if kind == "delivery":
        stop_type = StopType.DELIVERY
    status = StopStatus.PENDING
    if stop.departed_on:
        status = StopStatus.DEPARTED
    elif stop.arrived_on:
        status = StopStatus.ARRIVED
    return {
        "ditat_id": str(stop.stop_key)[:64] if stop.stop_key is not None else None,
        "sequence": stop.sequence if isinstance(stop.sequence, int) else sequence,
        "stop_type": stop_type.value,
        "status": status.value,
        "name": _text(stop.name, 200),
        "address": _text(stop.address, 300),
        "city": _text(stop.city, 100),
        "state": _text(stop.state, 50),
        "postal_code": _text(stop.zip, 20),
        "latitude": _coordinate(stop.latitude, "stop latitude", 90),
        "longitude": _coordinate(stop.longitude, "stop longitude", 180),
        "appointment_start": stop.appointment_from,
        "appointment_end": stop.appointment_to,
        "arrived_at": stop.arrived_on,
        "departed_at": stop.departed_on,
        "updated_at": utc_now(),
    }


def _miles(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def write_trips(session: Session, rows: list[Any]) -> PageWrite:
    from utils.ditat_client import DitatTrip

    out = PageWrite(fetched=len(rows))
    now = utc_now()
    parsed: list[tuple[Any, Any, list[dict[str, Any]]]] = []
    for raw in rows:
        try:
            trip = _parse(raw, DitatTrip.from_row)
            ident = trip.trip_id or (str(trip.trip_key) if trip.trip_key is not None else None)
            if not ident:
                raise SkipRow("missing tripId")
            stops = [_stop_row(stop, n) for n, stop in enumerate(trip.stops, start=1)]
        except SkipRow as exc:
            out.skip(f"trip: {exc}")
            continue
        parsed.append((trip, ident, stops))
    drivers = _ids(session, Driver.ditat_id, (t.primary_driver_id for t, _, _ in parsed))
    trucks = _ids(session, Vehicle.ditat_id, (t.truck_id for t, _, _ in parsed))
    trailers = _ids(session, Trailer.ditat_id, (t.trailer_id for t, _, _ in parsed))
    by_unit = {
        normalize_unit(unit): vid
        for unit, vid in session.execute(select(Vehicle.unit_number, Vehicle.id))
    }
    corrected = dict(
        session.execute(
            select(Trip.ditat_id, Trip.status).where(
                col(Trip.ditat_id).in_([ident for _, ident, _ in parsed]),
                col(Trip.status_corrected_at).is_not(None),
            )
        ).all()
    )
    names = {
        ident: _text(trip.raw.first("customer", "customerName"), 200) for trip, ident, _ in parsed
    }
    customers = ensure_customers(session, names.values(), now)
    trip_rows = []
    for trip, ident, stops in parsed:
        vehicle_id = trucks.get(trip.truck_id or "") or by_unit.get(normalize_unit(trip.truck_id))
        driver_id = drivers.get(trip.primary_driver_id or "")
        trailer_id = trailers.get(trip.trailer_id or "")
        for kind, ref, found in (
            ("trip_driver", trip.primary_driver_id, driver_id),
            ("trip_truck", trip.truck_id, vehicle_id),
            ("trip_trailer", trip.trailer_id, trailer_id),
        ):
            if ref and found is None:
                out.unmatched_ref(kind, f"{ident}:{ref}")
        first, last = (stops[0], stops[-1]) if stops else ({}, {})
        status = corrected.get(ident) or _trip_status(trip.status, out)
        trip_rows.append(
            {
                "ditat_id": ident[:64],
                "load_number": _text(trip.shipment_id, 64),
                "customer": names[ident],
                "customer_id": customers.get(customer_key(names[ident]) or ""),
                "terminal": _text(trip.raw.first("terminal", "terminalName", "terminalId"), 100),
                "status": status,
                "driver_id": driver_id,
                "vehicle_id": vehicle_id,
                "trailer_id": trailer_id,
                "scheduled_start": first.get("appointment_start"),
                "scheduled_end": last.get("appointment_end"),
                "actual_start": first.get("arrived_at"),
                "actual_end": last.get("departed_at"),
                "planned_miles": _miles(trip.raw.get("loadedMiles")),
                "created_at": now,
                "updated_at": now,
            }
        )
    out.result += bulk_upsert(
        session, Trip, trip_rows, conflict_columns=["ditat_id"], update_columns=TRIP_COLUMNS,
        touch_columns=["updated_at"],
    )  # fmt: skip
    trip_ids = _ids(session, Trip.ditat_id, (ident for _, ident, _ in parsed))
    stop_rows = [
        {"trip_id": trip_ids[ident], **stop}
        for _, ident, stops in parsed
        for stop in stops
        if ident in trip_ids
    ]
    # Stops count toward the run's writes too: a moved appointment is an update.
    out.result += bulk_upsert(
        session, TripStop, stop_rows, conflict_columns=["trip_id", "sequence"],
        update_columns=STOP_COLUMNS, touch_columns=["updated_at"],
    )  # fmt: skip
    return out


# ---- the runs --------------------------------------------------------------------------------
def _lookup(run: RunHandle, client: Any, entity: str, write) -> None:
    for page in client.lookup_pages(entity):
        rows = _rows(page)
        run.write_page(lambda s, rows=rows: write(s, rows))


def ingest_drivers(run: RunHandle, client: Any) -> None:
    _lookup(run, client, "drivers", write_drivers)


def ingest_trucks(run: RunHandle, client: Any) -> None:
    _lookup(run, client, "trucks", write_trucks)


def ingest_trailers(run: RunHandle, client: Any) -> None:
    _lookup(run, client, "trailers", write_trailers)


def ingest_trips(run: RunHandle, client: Any) -> None:
    """The dispatch board (trips with their stops) as one page; it is small by nature."""
    data = client.request("POST", client.paths.dispatch_board, json={"UpdateCounter": 0})
    trips = data.get("trips") if hasattr(data, "get") else None
    if trips is None:
        raise BadVendorData("ditat: dispatch board has no trips list")
    run.write_page(lambda s: write_trips(s, _rows(list(trips))))


ENTITIES = {
    "drivers": ingest_drivers,
    "trucks": ingest_trucks,
    "trailers": ingest_trailers,
    "trips": ingest_trips,
}


class DatabaseTokenStore:
    """Ditat OAuth2 tokens in `vendor_token`, so every run and instance reuses one token until
    it nears expiry (Ditat allows few token fetches an hour). Each read and write is its own
    short transaction, independent of the run's pages."""

    def load(self, key: str, valid_at: datetime) -> str | None:
        with session_scope() as session:
            row = VendorToken.valid_at(session, key, valid_at)
            return row.access_token if row else None

    def save(self, key: str, token: str, expires_at: datetime) -> None:
        row = {"token_key": key, "access_token": token, "fetched_at": utc_now(),
               "expires_at": expires_at}  # fmt: skip
        with session_scope() as session:
            bulk_upsert(session, VendorToken, [row], conflict_columns=["token_key"])


def build_client(settings: Settings) -> Any:
    from utils.ditat_client import build_ditat_client

    return build_ditat_client(settings, token_store=DatabaseTokenStore())
