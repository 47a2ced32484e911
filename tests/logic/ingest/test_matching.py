"""Cross-source matching (each rule) and validation of bad vendor records, on real tables."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from helpers.time_utils import utc_now
from logic.ingest import ditat, samsara
from logic.ingest.jobs import run_ingest
from logic.ingest.matching import normalize_name, normalize_unit
from models.driver import Driver
from models.location import VehicleLocation
from models.trip import Trip
from models.vehicle import Vehicle
from tests.ingest_support import counts, fleet_fixture  # noqa: F401
from utils.ditat_client import ci


def _samsara_driver(sid: str, name: str, **extra) -> dict:
    return {"id": sid, "name": name, "driverActivationStatus": "active", **extra}


def _ditat_driver(did: str, first: str, last: str, phone: str | None = None) -> object:
    return ci({"driverId": did, "firstName": first, "lastName": last, "status": "Active",
               "phoneNumber": phone})  # fmt: skip


def test_name_and_unit_normalisation() -> None:
    assert normalize_name("Smith, John") == normalize_name("JOHN  smith") == "john smith"
    assert normalize_name("José", "O'Neil") == "jose o neil"
    assert normalize_unit(" 0101 ") == normalize_unit("101") == "101"


def test_driver_matching_rules_in_order(session: Session) -> None:
    ditat.write_drivers(
        session,
        [
            _ditat_driver("EXT01", "Ann", "Lee"),
            _ditat_driver("PHONE01", "Bob", "Ray", "(312) 555-0101"),
            _ditat_driver("NAME01", "Cara", "Diaz"),
            _ditat_driver("LONE01", "Dan", "Fox"),
        ],
    )
    out = samsara.write_drivers(
        session,
        [
            _samsara_driver("s1", "Someone Else", externalIds={"ditatDriverId": "EXT01"}),
            _samsara_driver("s2", "Robert Ray", phone="+13125550101"),
            _samsara_driver("s3", "cara  DIAZ"),
            _samsara_driver("s4", "Eve Green"),
        ],
    )
    by_samsara = {d.samsara_id: d for d in session.exec(select(Driver)).all() if d.samsara_id}
    assert by_samsara["s1"].ditat_id == "EXT01"  # external id
    assert by_samsara["s2"].ditat_id == "PHONE01"  # E.164 phone
    assert by_samsara["s3"].ditat_id == "NAME01"  # normalised name
    assert by_samsara["s4"].ditat_id is None  # kept, and reported
    assert out.unmatched == {"samsara_driver_without_ditat_driver": {"s4"}}
    assert (out.result.inserted, out.result.updated) == (1, 3)
    assert len(session.exec(select(Driver)).all()) == 5  # LONE01 stays on its own


def test_ditat_drivers_match_samsara_rows_by_external_id_phone_and_name(session: Session) -> None:
    samsara.write_drivers(
        session,
        [
            _samsara_driver("s1", "Ann Lee", externalIds={"ditatDriverId": "EXT01"}),
            _samsara_driver("s2", "Bob Ray", phone="312-555-0101"),
            _samsara_driver("s3", "Cara Diaz"),
        ],
    )
    out = ditat.write_drivers(
        session,
        [
            _ditat_driver("EXT01", "A", "Lee"),
            _ditat_driver("PHONE01", "Robert", "R", "+1 312 555 0101"),
            _ditat_driver("NAME01", "Cara", "Diaz"),
            _ditat_driver("LONE01", "Dan", "Fox"),
        ],
    )
    rows = {d.ditat_id: d for d in session.exec(select(Driver)).all()}
    assert rows["EXT01"].samsara_id == "s1"
    assert rows["PHONE01"].samsara_id == "s2"
    assert rows["NAME01"].samsara_id == "s3"
    assert rows["LONE01"].samsara_id is None
    assert out.unmatched == {"ditat_driver_without_samsara_driver": {"LONE01"}}


def test_ambiguous_name_is_not_a_match(session: Session) -> None:
    ditat.write_drivers(
        session, [_ditat_driver("A1", "Sam", "Hill"), _ditat_driver("A2", "Sam", "Hill")]
    )
    samsara.write_drivers(session, [_samsara_driver("s9", "Sam Hill")])
    row = session.exec(select(Driver).where(Driver.samsara_id == "s9")).one()
    assert row.ditat_id is None


def test_vehicle_matching_by_unit_then_vin(session: Session) -> None:
    ditat.write_trucks(
        session,
        [
            ci({"truckId": "0101", "vin": "1FUJGLDR0CLBP0001"}),
            ci({"truckId": "T-9", "vin": "1FUJGLDR0CLBP0002"}),
            ci({"truckId": "300", "vin": None}),
        ],
    )
    out = samsara.write_vehicles(
        session,
        [
            {"id": "v1", "name": "101", "vin": "XXXXXXXXXXXXXXXXX"},
            {"id": "v2", "name": "Truck Nine", "vin": "1fujgldr0clbp0002"},
            {"id": "v3", "name": "400"},
        ],
    )
    rows = {v.samsara_id: v for v in session.exec(select(Vehicle)).all() if v.samsara_id}
    assert rows["v1"].ditat_id == "0101"  # unit number, leading zeros ignored
    assert rows["v2"].ditat_id == "T-9"  # VIN
    assert rows["v3"].ditat_id is None
    assert out.unmatched == {"samsara_vehicle_without_ditat_truck": {"v3"}}


def test_bad_location_points_are_skipped_and_counted(session: Session) -> None:
    now = utc_now()
    good = {"time": now.isoformat(), "latitude": 35.1, "longitude": -90.0, "speed": 61.5}
    items = [
        {
            "id": "v1",
            "name": "101",
            "locations": [
                good,
                {**good, "latitude": 123.0},
                {**good, "longitude": "west"},
                {**good, "time": "yesterday"},
                {**good, "time": (now + timedelta(days=3)).isoformat()},
                {k: v for k, v in good.items() if k != "time"},
            ],
        }
    ]
    out = samsara.write_locations(session, items, {})
    assert out.fetched == 6 and out.result.inserted == 1
    assert dict(out.skipped) == {
        "location: latitude out of range": 1,
        "location: invalid longitude": 1,
        "location: invalid time": 1,
        "location: time in the future": 1,
        "location: missing time": 1,
    }
    assert counts(session)["vehicle"] == 1  # the unknown truck got a minimal row, not dropped


def test_a_resent_location_point_keeps_the_stored_one(session: Session) -> None:
    now = utc_now().replace(microsecond=0)
    point = {"time": now.isoformat(), "latitude": 35.1, "longitude": -90.0, "speed": 61.5,
             "reverseGeo": {"formattedLocation": "I-40\tW, mile 3"}}  # fmt: skip
    earlier = {**point, "time": (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")}
    first = samsara.write_locations(session, [{"id": "v1", "locations": [point]}], {})
    again = samsara.write_locations(
        session, [{"id": "v1", "locations": [{**point, "speed": 10.0}, earlier]}], {}
    )
    assert first.result.inserted == 1
    assert (again.result.inserted, again.result.updated, again.result.unchanged) == (1, 0, 1)
    stored = session.exec(select(VehicleLocation).order_by(VehicleLocation.recorded_at)).all()
    assert [(p.recorded_at, p.speed_mph) for p in stored] == [
        (now - timedelta(minutes=1), 61.5),
        (now, 61.5),  # a GPS point is a fact: the re-sent one does not overwrite it
    ]
    assert stored[1].formatted_address == "I-40\tW, mile 3"


def test_trips_link_to_our_rows_and_report_unknown_ones(session: Session, fleet) -> None:
    for entity in ("drivers", "trucks", "trailers"):
        assert run_ingest("ditat", entity).status == "succeeded"
    trips = run_ingest("ditat", "trips")
    assert trips.status == "succeeded" and trips.fetched > 0
    linked = session.exec(select(Trip)).all()
    assert linked and all(t.driver_id and t.vehicle_id and t.trailer_id for t in linked)
    assert all(len(t.stops) >= 2 for t in linked)
    assert trips.unmatched == {}

    for trip in linked:
        trip.driver_id = None
    driver = session.exec(select(Driver)).first()
    session.delete(driver)
    session.commit()
    again = run_ingest("ditat", "trips")
    assert again.unmatched["trip_driver"]["count"] >= 1
    orphan = session.exec(select(Trip).where(Trip.driver_id.is_(None))).all()
    assert orphan  # kept, with the link empty


def test_status_correction_survives_reingest(session: Session, fleet) -> None:
    run_ingest("ditat", "trips")
    trip = session.exec(select(Trip)).first()
    trip.status, trip.status_corrected_at = "cancelled", utc_now()
    session.commit()
    run_ingest("ditat", "trips")
    session.refresh(trip)
    assert trip.status == "cancelled"


def test_a_first_load_reports_nothing_unmatched_until_the_other_source_has_records(
    session: Session,
) -> None:
    # Samsara first into an empty database: nothing to match against yet, so nothing reported.
    first = samsara.write_vehicles(
        session, [{"id": "v1", "name": "101"}, {"id": "v2", "name": "7"}]
    )
    drivers = samsara.write_drivers(session, [_samsara_driver("s1", "Ann Lee")])
    assert first.unmatched == {} and drivers.unmatched == {}
    # Ditat's load links what it can and reports its own records without a counterpart.
    trucks = ditat.write_trucks(session, [ci({"truckId": "0101"}), ci({"truckId": "555"})])
    assert trucks.unmatched == {"ditat_truck_without_samsara_vehicle": {"555"}}
    rows = {v.samsara_id: v.ditat_id for v in session.exec(select(Vehicle)).all()}
    assert rows["v1"] == "0101" and rows["v2"] is None
    # From now on a new Samsara truck that matches nothing is reported.
    later = samsara.write_vehicles(session, [{"id": "v3", "name": "900"}])
    assert later.unmatched == {"samsara_vehicle_without_ditat_truck": {"v3"}}
