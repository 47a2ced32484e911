"""Fleet tables: vendor-id uniqueness, upsert keys, latest position per truck, HOS mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from db.upsert import bulk_upsert
from models.driver import Driver
from models.hos import DutyStatus, HosClock, ms_to_minutes
from models.location import VehicleLocation
from models.trip import StopStatus, Trip, TripStatus, next_stop
from models.vehicle import Vehicle
from tests.factories import (
    make_driver,
    make_hos_clock,
    make_location,
    make_trip,
    make_vehicle,
)

T0 = datetime(2025, 3, 1, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("builder", "column"),
    [(make_driver, "samsara_id"), (make_driver, "ditat_id"), (make_vehicle, "samsara_id")],
)
def test_vendor_ids_are_unique(session, builder, column) -> None:
    builder(session, **{column: "dup-1"})
    with pytest.raises(IntegrityError), session.begin_nested():
        builder(session, **{column: "dup-1"})


def test_vendor_ids_may_be_missing_on_many_rows(session) -> None:
    make_driver(session, samsara_id="", ditat_id="D-only-1")
    first = Driver(first_name="A", last_name="B", ditat_id="D-only-2")
    second = Driver(first_name="C", last_name="D", ditat_id="D-only-3")
    session.add_all([first, second])
    session.flush()
    assert first.samsara_id is None and second.samsara_id is None


def test_driver_upsert_keyed_on_samsara_id_updates_in_place(session) -> None:
    rows = [{"samsara_id": "s-1", "first_name": "Ann", "last_name": "Lee", "status": "active"}]
    assert bulk_upsert(session, Driver, rows, conflict_columns=["samsara_id"]).inserted == 1
    rows[0]["last_name"] = "Lee-Smith"
    result = bulk_upsert(session, Driver, rows, conflict_columns=["samsara_id"])
    assert (result.inserted, result.updated) == (0, 1)
    session.expire_all()
    assert Driver.get_by_samsara_id(session, "s-1").last_name == "Lee-Smith"


def test_location_points_are_unique_per_truck_and_time(session) -> None:
    truck = make_vehicle(session)
    point = {"vehicle_id": truck.id, "recorded_at": T0, "latitude": 35.0, "longitude": -90.0}
    key = ["vehicle_id", "recorded_at"]
    assert bulk_upsert(session, VehicleLocation, [point], conflict_columns=key).inserted == 1
    again = bulk_upsert(session, VehicleLocation, [point], conflict_columns=key)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    with pytest.raises(IntegrityError), session.begin_nested():
        make_location(session, vehicle=truck, recorded_at=T0)


def test_timestamps_come_back_aware_utc(session) -> None:
    truck = make_vehicle(session)
    make_location(session, vehicle=truck, recorded_at=T0.astimezone(UTC))
    session.expire_all()
    loaded = VehicleLocation.latest_for_vehicle(session, truck.id)
    assert loaded.recorded_at == T0 and loaded.recorded_at.tzinfo is not None


def test_latest_for_vehicles_picks_each_trucks_newest_point(session) -> None:
    a, b, silent = make_vehicle(session), make_vehicle(session), make_vehicle(session)
    for minutes in (0, 5, 10):
        make_location(session, vehicle=a, recorded_at=T0 + timedelta(minutes=minutes))
    make_location(session, vehicle=b, recorded_at=T0 - timedelta(days=2), latitude=40.0)
    make_location(session, vehicle=b, recorded_at=T0 - timedelta(days=1), latitude=41.0)
    latest = VehicleLocation.latest_for_vehicles(session, [a.id, b.id, silent.id])
    assert latest[a.id].recorded_at == T0 + timedelta(minutes=10)
    assert latest[b.id].latitude == 41.0
    assert silent.id not in latest
    assert VehicleLocation.latest_for_vehicles(session, []) == {}
    everyone = {
        row.vehicle_id: row.recorded_at for row in VehicleLocation.latest_positions(session)
    }
    assert everyone[a.id] == T0 + timedelta(minutes=10) and silent.id not in everyone


def test_trip_stops_load_in_sequence_and_next_stop_skips_departed(session) -> None:
    trip = make_trip(session, stops=3)
    stops = list(trip.stops)
    assert [s.sequence for s in stops] == [1, 2, 3]
    stops[0].departed_at = T0
    stops[1].status = StopStatus.SKIPPED
    assert next_stop(stops).sequence == 3
    stops[2].status = StopStatus.DEPARTED
    assert next_stop(stops) is None


def test_current_trip_prefers_in_transit_over_dispatched(session) -> None:
    driver = make_driver(session)
    make_trip(session, driver=driver, status=TripStatus.DELIVERED)
    make_trip(session, driver=driver, status=TripStatus.DISPATCHED, scheduled_start=T0)
    moving = make_trip(
        session, driver=driver, status=TripStatus.IN_TRANSIT, scheduled_start=T0 - timedelta(1)
    )
    assert Trip.current_for_driver(session, driver.id).id == moving.id


def test_one_hos_clock_per_driver(session) -> None:
    driver = make_driver(session)
    make_hos_clock(session, driver=driver)
    with pytest.raises(IntegrityError), session.begin_nested():
        make_hos_clock(session, driver=driver)
    assert HosClock.for_driver(session, driver.id).duty_status == DutyStatus.DRIVING


def test_samsara_duty_status_and_ms_mapping() -> None:
    assert DutyStatus.from_samsara("sleeperBed") == DutyStatus.SLEEPER_BERTH
    assert DutyStatus.from_samsara("") == DutyStatus.DISCONNECTED
    assert DutyStatus.from_samsara(None) == DutyStatus.DISCONNECTED
    assert ms_to_minutes(25_200_000) == 420
    assert ms_to_minutes(59_999) == 0
    assert ms_to_minutes(None) is None


def test_vehicle_lookup_by_unit_number(session) -> None:
    truck = make_vehicle(session, unit_number="U-777")
    assert Vehicle.get_by_unit_number(session, "U-777").id == truck.id
    assert Vehicle.get_by_unit_number(session, "nope") is None
