"""`POST /_sandbox/fleet/delay` makes a load late: Samsara's GPS and HOS clocks show the truck
held where it was, Ditat's stops arrive later against the same windows, answers stay valid
against Samsara's spec, and the delay survives a restart of a sandbox that keeps its state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from sandbox import elevenlabs, mail, slack, vapi
from sandbox.app import create_sandbox_app
from sandbox.credentials import SAMSARA_TOKEN
from sandbox.delays import load_under_way
from tests.vendor_specs import response_schema, schema_errors

SAMSARA = {"Authorization": f"Bearer {SAMSARA_TOKEN}"}
SPEC = "samsara-openapi-2021.json"
NOW = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)
HELD = timedelta(minutes=180)


def _forget_stores() -> None:
    """What a process restart does to the module-level stores (persistence reloads them)."""
    slack.store.reset()
    vapi.reset()
    elevenlabs.reset()
    mail.store.reset()


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_sandbox_app(seed=42, trucks=10)) as client:
        client.post("/_sandbox/clock", json={"now": NOW.isoformat()}).raise_for_status()
        yield client


def _sim(client: TestClient):
    return client.app.state.sandbox.simulator


def _driving_load(sim):
    """A truck driving a load it picked up more than `HELD` ago (so the hold is not cut short),
    whose GPS still reports."""
    for vehicle in sim.vehicles:
        trip = load_under_way(sim, vehicle, NOW)
        if (
            trip is not None
            and vehicle.gps_lost_at is None
            and sim.duty_status(vehicle, NOW) == "driving"
            and sim.duty_status(vehicle, NOW - HELD) == "driving"
            and trip.stops[0].departed_at < NOW - HELD
        ):
            return vehicle, trip
    raise AssertionError("no truck on the road in the test fleet")


def _location(client: TestClient, vehicle_id: str, at: datetime) -> dict:
    answer = client.get(
        "/samsara/fleet/vehicles/locations",
        params={"vehicleIds": vehicle_id, "time": at.isoformat()},
        headers=SAMSARA,
    )
    assert answer.status_code == 200
    schema = response_schema(SPEC, "/fleet/vehicles/locations", "get", "200")
    assert schema_errors(SPEC, schema, answer.json()) == []
    return answer.json()["data"][0]["location"]


def _clocks(client: TestClient, driver_id: str) -> dict:
    params = {"driverIds": driver_id}
    answer = client.get("/samsara/fleet/hos/clocks", params=params, headers=SAMSARA)
    schema = response_schema(SPEC, "/fleet/hos/clocks", "get", "200")
    assert schema_errors(SPEC, schema, answer.json()) == []
    return answer.json()["data"][0]


def test_a_delayed_load_is_held_back_on_gps_hos_and_its_stops(client):
    sim = _sim(client)
    vehicle, trip = _driving_load(sim)
    other = next(v for v in sim.vehicles if v is not vehicle)
    delivery = trip.stops[-1]
    arrival, window_end = delivery.arrived_at, delivery.appointment_to
    then = _location(client, vehicle.samsara_id, NOW - HELD)
    before = _location(client, vehicle.samsara_id, NOW)
    elsewhere = _location(client, other.samsara_id, NOW)
    clocks = _clocks(client, vehicle.driver.samsara_id)["clocks"]

    answer = client.post(
        "/_sandbox/fleet/delay", json={"load_number": trip.shipment_id, "minutes": 180}
    )

    assert answer.status_code == 200, answer.text
    late = (arrival + HELD - window_end) // timedelta(minutes=1)
    assert answer.json() == {
        "vehicle_id": vehicle.samsara_id,
        "held_from": (NOW - HELD).isoformat(),
        "minutes": 180,
        "load_number": trip.shipment_id,
        "unit": vehicle.unit,
        "next_stop": {
            "sequence": 2,
            "city": f"{delivery.city.name}, {delivery.city.state}",
            "window_end": window_end.isoformat(),
            "arrival": (arrival + HELD).isoformat(),
            "late_minutes": max(late, 0),
        },
    }
    # Parked where it was three hours ago, and back on the road from there now.
    parked = _location(client, vehicle.samsara_id, NOW - timedelta(minutes=1))
    assert (parked["latitude"], parked["longitude"]) == (then["latitude"], then["longitude"])
    assert parked["speed"] == 0
    now = _location(client, vehicle.samsara_id, NOW)
    assert (now["latitude"], now["longitude"]) == (then["latitude"], then["longitude"])
    assert (now["latitude"], now["longitude"]) != (before["latitude"], before["longitude"])
    assert _location(client, other.samsara_id, NOW) == elsewhere
    # The hold was off duty: a break taken, the driving of those hours still ahead.
    held = _clocks(client, vehicle.driver.samsara_id)["clocks"]
    assert held["break"]["timeUntilBreakDurationMs"] == 8 * 3600 * 1000
    drive = "driveRemainingDurationMs"
    assert held["drive"][drive] > clocks["drive"][drive]
    # Ditat: the same appointment, reached three hours later; nothing reported so far changed.
    [moved] = [t for t in sim.all_trips() if t.shipment_id == trip.shipment_id]
    assert moved.stops[-1].appointment_to == window_end
    assert moved.stops[-1].arrived_at == arrival + HELD
    assert moved.stops[0].departed_at == trip.stops[0].departed_at

    listed = client.get("/_sandbox/fleet").json()["delays"]
    assert listed == [{"vehicle_id": vehicle.samsara_id, "held_from": (NOW - HELD).isoformat(),
                       "minutes": 180}]  # fmt: skip
    client.post("/_sandbox/reset").raise_for_status()
    assert client.get("/_sandbox/fleet").json()["delays"] == []


def test_what_cannot_be_delayed_is_refused(client):
    sim = _sim(client)
    vehicle, trip = _driving_load(sim)
    delivered = next(t for t in sim.all_trips() if t.end < NOW)
    for body, status in (
        ({"load_number": "SH-nope"}, 404),
        ({"vehicle_id": "1"}, 404),
        ({"load_number": delivered.shipment_id}, 409),
        ({}, 422),
        ({"load_number": trip.shipment_id, "vehicle_id": vehicle.samsara_id}, 422),
        ({"load_number": trip.shipment_id, "minutes": 0}, 422),
    ):
        assert client.post("/_sandbox/fleet/delay", json=body).status_code == status, body
    assert client.get("/_sandbox/fleet").json()["delays"] == []


def test_a_delay_is_replayed_after_a_restart(tmp_path):
    _forget_stores()
    first = create_sandbox_app(seed=42, trucks=10, state_dir=tmp_path)
    with TestClient(first) as client:
        client.post("/_sandbox/clock", json={"now": NOW.isoformat()}).raise_for_status()
        sim = _sim(client)
        vehicle, _ = _driving_load(sim)
        body = {"vehicle_id": vehicle.samsara_id, "minutes": 90}
        assert client.post("/_sandbox/fleet/delay", json=body).status_code == 200
        grid = [NOW + timedelta(minutes=20 * i) for i in range(-12, 72)]
        seen = [sim.position(vehicle, at) for at in grid]
        stops = [t.stops for t in sim.all_trips() if t.vehicle is vehicle]
    _forget_stores()
    again = create_sandbox_app(seed=42, trucks=10, state_dir=tmp_path)
    replayed = again.state.sandbox.simulator
    same = replayed.vehicle(vehicle.samsara_id)
    assert len(replayed.delays) == 1
    assert [replayed.position(same, at) for at in grid] == seen
    assert [t.stops for t in replayed.all_trips() if t.vehicle is same][: len(stops)] == stops
    _forget_stores()
