"""Typed builders for fleet rows: `make_driver(session, …)`, `make_trip(session, driver=…)`, …

Every argument is keyword-only with a sensible default; builders flush (never commit) so rows
get ids inside the test's rolled-back transaction. Unique vendor ids come from a counter.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlmodel import Session

from helpers.time_utils import utc_now
from models.driver import Driver, DriverStatus
from models.hos import DutyStatus, HosClock, HosLog, HosViolation
from models.location import VehicleLocation
from models.safety_event import SafetyEvent, Severity
from models.stop_visit import StopVisit
from models.trip import StopStatus, StopType, Trip, TripStatus, TripStop
from models.vehicle import Trailer, UnitStatus, Vehicle

_seq = itertools.count(1)

T = TypeVar("T")

# libphonenumber's own valid US example range (201-555-01XX); never a real subscriber.
EXAMPLE_PHONE = "+12015550123"


def _n() -> int:
    return next(_seq)


def _flushed(session: Session, row: T) -> T:
    """Add `row` and flush, so it has its id inside the test's transaction; return it."""
    session.add(row)
    session.flush()
    return row


def make_driver(
    session: Session,
    *,
    first_name: str = "Dana",
    last_name: str | None = None,
    phone: str | None = EXAMPLE_PHONE,
    email: str | None = None,
    status: DriverStatus | str = DriverStatus.ACTIVE,
    terminal: str | None = "Memphis",
    fleet_manager: str | None = None,
    timezone: str | None = "America/Chicago",
    language: str = "en",
    do_not_call: bool = False,
    notes: str | None = None,
    samsara_id: str | None = None,
    ditat_id: str | None = None,
    **extra: Any,
) -> Driver:
    n = _n()
    return _flushed(
        session,
        Driver(
            first_name=first_name,
            last_name=last_name if last_name is not None else f"Driver{n}",
            phone=phone,
            email=email,
            status=status,
            terminal=terminal,
            fleet_manager=fleet_manager,
            timezone=timezone,
            language=language,
            do_not_call=do_not_call,
            notes=notes,
            samsara_id=samsara_id if samsara_id is not None else f"sam-drv-{n}",
            ditat_id=ditat_id if ditat_id is not None else f"DRV{n}",
            **extra,
        ),
    )


def make_vehicle(
    session: Session,
    *,
    unit_number: str | None = None,
    name: str | None = None,
    status: UnitStatus | str = UnitStatus.ACTIVE,
    terminal: str | None = "Memphis",
    vin: str | None = None,
    make: str | None = "Freightliner",
    model: str | None = "Cascadia",
    year: int | None = 2022,
    samsara_id: str | None = None,
    ditat_id: str | None = None,
    **extra: Any,
) -> Vehicle:
    n = _n()
    unit = unit_number or f"T{n:04d}"
    return _flushed(
        session,
        Vehicle(
            unit_number=unit,
            name=name or f"Truck {unit}",
            status=status,
            terminal=terminal,
            vin=vin,
            make=make,
            model=model,
            year=year,
            samsara_id=samsara_id if samsara_id is not None else f"sam-veh-{n}",
            ditat_id=ditat_id if ditat_id is not None else f"TRK{n}",
            **extra,
        ),
    )


def make_trailer(
    session: Session,
    *,
    unit_number: str | None = None,
    trailer_type: str | None = "dry_van",
    status: UnitStatus | str = UnitStatus.ACTIVE,
    terminal: str | None = "Memphis",
    ditat_id: str | None = None,
    **extra: Any,
) -> Trailer:
    n = _n()
    return _flushed(
        session,
        Trailer(
            unit_number=unit_number or f"TR{n:04d}",
            trailer_type=trailer_type,
            status=status,
            terminal=terminal,
            ditat_id=ditat_id if ditat_id is not None else f"TRL{n}",
            **extra,
        ),
    )


def make_stop(
    session: Session,
    *,
    trip: Trip,
    sequence: int,
    stop_type: StopType | str = StopType.DELIVERY,
    status: StopStatus | str = StopStatus.PENDING,
    name: str | None = None,
    city: str | None = "Dallas",
    state: str | None = "TX",
    latitude: float | None = 32.7767,
    longitude: float | None = -96.797,
    appointment_start: datetime | None = None,
    appointment_end: datetime | None = None,
    arrived_at: datetime | None = None,
    departed_at: datetime | None = None,
    **extra: Any,
) -> TripStop:
    return _flushed(
        session,
        TripStop(
            trip_id=trip.id,
            sequence=sequence,
            stop_type=stop_type,
            status=status,
            name=name or f"Stop {sequence}",
            city=city,
            state=state,
            latitude=latitude,
            longitude=longitude,
            appointment_start=appointment_start,
            appointment_end=appointment_end,
            arrived_at=arrived_at,
            departed_at=departed_at,
            **extra,
        ),
    )


def make_trip(
    session: Session,
    *,
    driver: Driver | None = None,
    vehicle: Vehicle | None = None,
    trailer: Trailer | None = None,
    status: TripStatus | str = TripStatus.DISPATCHED,
    stops: int | Sequence[dict[str, Any]] = 0,
    load_number: str | None = None,
    customer: str | None = "Acme Foods",
    terminal: str | None = "Memphis",
    scheduled_start: datetime | None = None,
    scheduled_end: datetime | None = None,
    ditat_id: str | None = None,
    **extra: Any,
) -> Trip:
    """A trip; `stops=2` adds a pickup and a delivery, or pass dicts of `make_stop` arguments."""
    n = _n()
    start = scheduled_start or utc_now() - timedelta(hours=2)
    trip = Trip(
        ditat_id=ditat_id if ditat_id is not None else f"SH-{n:010d}",
        load_number=load_number or f"L{n:06d}",
        customer=customer,
        status=status,
        driver_id=driver.id if driver else None,
        vehicle_id=vehicle.id if vehicle else None,
        trailer_id=trailer.id if trailer else None,
        terminal=terminal,
        scheduled_start=start,
        scheduled_end=scheduled_end or start + timedelta(hours=10),
        **extra,
    )
    session.add(trip)
    session.flush()
    specs: Sequence[dict[str, Any]]
    if isinstance(stops, int):
        specs = [
            {"stop_type": StopType.PICKUP if i == 0 else StopType.DELIVERY} for i in range(stops)
        ]
    else:
        specs = stops
    for i, spec in enumerate(specs, start=1):
        make_stop(session, trip=trip, **{"sequence": i, **spec})
    if specs:
        session.expire(trip, ["stops"])
    return trip


def make_location(
    session: Session,
    *,
    vehicle: Vehicle,
    recorded_at: datetime | None = None,
    latitude: float = 35.1495,
    longitude: float = -90.049,
    speed_mph: float | None = 55.0,
    heading_degrees: float | None = 90.0,
    odometer_miles: float | None = None,
    formatted_address: str | None = None,
) -> VehicleLocation:
    return _flushed(
        session,
        VehicleLocation(
            vehicle_id=vehicle.id,
            recorded_at=recorded_at or utc_now(),
            latitude=latitude,
            longitude=longitude,
            speed_mph=speed_mph,
            heading_degrees=heading_degrees,
            odometer_miles=odometer_miles,
            formatted_address=formatted_address,
        ),
    )


def make_hos_clock(
    session: Session,
    *,
    driver: Driver,
    vehicle: Vehicle | None = None,
    duty_status: DutyStatus | str = DutyStatus.DRIVING,
    drive_remaining_minutes: int | None = 420,
    shift_remaining_minutes: int | None = 540,
    cycle_remaining_minutes: int | None = 3000,
    time_until_break_minutes: int | None = 180,
    as_of: datetime | None = None,
    **extra: Any,
) -> HosClock:
    return _flushed(
        session,
        HosClock(
            driver_id=driver.id,
            vehicle_id=vehicle.id if vehicle else None,
            duty_status=duty_status,
            drive_remaining_minutes=drive_remaining_minutes,
            shift_remaining_minutes=shift_remaining_minutes,
            cycle_remaining_minutes=cycle_remaining_minutes,
            time_until_break_minutes=time_until_break_minutes,
            as_of=as_of or utc_now(),
            **extra,
        ),
    )


def make_hos_log(
    session: Session,
    *,
    driver: Driver,
    start_at: datetime,
    end_at: datetime | None = None,
    duty_status: DutyStatus | str = DutyStatus.DRIVING,
    vehicle: Vehicle | None = None,
    remark: str | None = None,
) -> HosLog:
    return _flushed(
        session,
        HosLog(
            driver_id=driver.id,
            vehicle_id=vehicle.id if vehicle else None,
            duty_status=duty_status,
            start_at=start_at,
            end_at=end_at,
            remark=remark,
        ),
    )


def make_violation(
    session: Session,
    *,
    driver: Driver,
    violation_type: str = "shiftDrivingHours",
    description: str | None = "Shift driving limit (11 hours)",
    started_at: datetime | None = None,
    duration_minutes: int | None = 25,
) -> HosViolation:
    return _flushed(
        session,
        HosViolation(
            driver_id=driver.id,
            violation_type=violation_type,
            description=description,
            started_at=started_at or utc_now() - timedelta(hours=3),
            duration_minutes=duration_minutes,
        ),
    )


def make_safety_event(
    session: Session,
    *,
    driver: Driver | None = None,
    vehicle: Vehicle | None = None,
    occurred_at: datetime | None = None,
    behavior_labels: Sequence[str] = ("braking",),
    severity: Severity | str = Severity.MEDIUM,
    speed_mph: float | None = None,
    speed_limit_mph: float | None = None,
    coaching_state: str | None = "needsReview",
    samsara_id: str | None = None,
    **extra: Any,
) -> SafetyEvent:
    n = _n()
    return _flushed(
        session,
        SafetyEvent(
            samsara_id=samsara_id if samsara_id is not None else f"sam-evt-{n}",
            driver_id=driver.id if driver else None,
            vehicle_id=vehicle.id if vehicle else None,
            occurred_at=occurred_at or utc_now() - timedelta(hours=1),
            behavior_labels=list(behavior_labels),
            severity=severity,
            speed_mph=speed_mph,
            speed_limit_mph=speed_limit_mph,
            coaching_state=coaching_state,
            **extra,
        ),
    )


def make_load_mid_route(
    session: Session, *, now: datetime, driver: Driver, delivery: tuple[str, str]
) -> Trip:
    """A load mid-route, as a customer's tracking link shows it: pickup left 9 h ago, a cross
    dock where the truck has been held 3 h (detention billable for the last hour), the delivery
    (`(city, state)`) ahead with a legal ETA that includes a rest; the truck seen 3 min ago."""
    truck = make_vehicle(session)
    make_location(
        session,
        vehicle=truck,
        recorded_at=now - timedelta(minutes=3),
        latitude=35.123456,
        longitude=-90.654321,
        formatted_address="1200 Riverside Dr, Memphis, TN 38103",
    )
    trip = make_trip(
        session,
        driver=driver,
        vehicle=truck,
        status="in_transit",
        load_number="LD-4242",
        stops=[
            {
                "name": "Acme DC",
                "city": "Dallas",
                "state": "TX",
                "departed_at": now - timedelta(hours=9),
            },
            {
                "name": "Cross Dock",
                "city": "Little Rock",
                "state": "AR",
                "arrived_at": now - timedelta(hours=3),
            },
            {
                "name": "Shipper Warehouse",
                "city": delivery[0],
                "state": delivery[1],
                "appointment_start": now + timedelta(hours=14),
                "appointment_end": now + timedelta(hours=16),
                "eta": now + timedelta(hours=5),
            },
        ],
        eta_next_stop=now + timedelta(hours=5),
        eta_final=now + timedelta(hours=5),
        eta_next_stop_legal=now + timedelta(hours=15),
        eta_final_legal=now + timedelta(hours=15),
        hos_binding_clock="drive",
        eta_updated_at=now - timedelta(minutes=1),
    )
    session.refresh(trip)
    held = sorted(trip.stops, key=lambda s: s.sequence)[1]
    session.add(
        StopVisit(
            trip_id=trip.id,
            stop_id=held.id,
            source="gps",
            arrived_at=now - timedelta(hours=3),
            free_minutes=120,
            detention_started_at=now - timedelta(hours=3),
            billable_from=now - timedelta(hours=1),
        )
    )
    session.flush()
    return trip
