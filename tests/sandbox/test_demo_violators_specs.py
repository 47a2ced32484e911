"""What Samsara's sandbox answers about the demo fleet's HOS violators at the fleet's start (their
timelines shifted to a dock: `sandbox/simulator.py`) is valid against Samsara's spec: their GPS
positions, HOS clocks and duty-status logs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from sandbox.app import create_sandbox_app
from sandbox.credentials import SAMSARA_TOKEN
from tests.vendor_specs import response_schema, schema_errors

SAMSARA = {"Authorization": f"Bearer {SAMSARA_TOKEN}"}
SPEC = "samsara-openapi-2021.json"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_sandbox_app(seed=42, trucks=25)) as client:
        yield client


def test_the_violators_answers_at_the_fleet_s_start_follow_samsara_s_spec(client):
    sim = client.app.state.sandbox.simulator
    start = sim.start
    client.post("/_sandbox/clock", json={"now": start.isoformat()}).raise_for_status()
    week = sorted({v.driver.index for v in sim.hos_violations(start - timedelta(days=7), start)})
    assert week, "the demo fleet has no HOS violator"
    drivers = [sim.drivers[i] for i in week]
    vehicles = [sim.vehicle_for_driver(d) for d in drivers]
    asked = {
        "/fleet/vehicles/locations": {"vehicleIds": ",".join(v.samsara_id for v in vehicles)},
        "/fleet/hos/clocks": {"driverIds": ",".join(d.samsara_id for d in drivers)},
        "/fleet/hos/logs": {
            "driverIds": ",".join(d.samsara_id for d in drivers),
            "startTime": (start - timedelta(days=1)).isoformat(),
            "endTime": start.isoformat(),
        },
    }
    disconnected = {d.samsara_id for d in drivers if d.app_disconnected}
    for path, params in asked.items():
        answer = client.get(f"/samsara{path}", params=params, headers=SAMSARA)
        assert answer.status_code == 200, path
        data = answer.json()["data"]
        assert len(data) == len(drivers), path
        schema = response_schema(SPEC, path, "get", "200")
        errors = schema_errors(SPEC, schema, answer.json())
        # The spec's own exception: "If the driver app is disconnected, an empty string will be
        # returned" (its enum leaves "" out).
        documented = {
            f"['data', {n}, 'currentDutyStatus', 'hosStatusType']: \"\" is not one of"
            for n, item in enumerate(data)
            if item.get("driver", {}).get("id") in disconnected
        }
        assert [e for e in errors if not any(e.startswith(d) for d in documented)] == [], path
