"""SamsaraClient against the sandbox over real HTTP: requests sent, parsing, paging, retries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sandbox.credentials import SAMSARA_TOKEN
from utils.http import (
    VendorAuthError,
    VendorRejectedError,
    VendorResponseError,
    VendorTransientError,
)
from utils.samsara_client import SamsaraClient

T0 = datetime(2025, 3, 1, 14, 0, tzinfo=UTC)
AUTH = f"Bearer {SAMSARA_TOKEN}"


@pytest.fixture
def fleet(sandbox_clean):
    sandbox_clean.freeze_clock(T0)
    sandbox_clean.rebuild_fleet(history_hours=2)
    return sandbox_clean


def _client(sandbox, *, token: str = SAMSARA_TOKEN, page_size: int = 10) -> SamsaraClient:
    http = httpx.Client(base_url=sandbox.vendor_url("samsara"), timeout=5.0)
    return SamsaraClient(http, token=token, page_size=page_size, retry_wait=0.001, paced_rate=0)


@pytest.fixture
def client(fleet) -> Iterator[SamsaraClient]:
    client = _client(fleet)
    yield client
    client.http.close()


def test_list_vehicles_pages_through_an_empty_page_and_short_pages(fleet, client):
    fleet.fault("samsara", "empty_page")

    vehicles = client.list_vehicles()

    sim = fleet.simulator
    assert [v.id for v in vehicles] == [v.samsara_id for v in sim.vehicles]
    first = vehicles[0]
    assert first.name == sim.vehicles[0].unit and first.year == sim.vehicles[0].year
    assert first.external_ids["samsara.vin"] == sim.vehicles[0].vin
    sent = fleet.requests("samsara")
    assert [r["method"] for r in sent] == ["GET"] * 4  # empty, 10, 10, 5
    assert {r["path"] for r in sent} == {"/samsara/fleet/vehicles"}
    assert all(r["headers"]["authorization"] == AUTH for r in sent)
    assert sent[0]["query"] == {"limit": "10"}
    assert sent[1]["query"] == {"limit": "10", "after": "sandbox-start"}
    assert sent[2]["query"]["after"] != sent[3]["query"]["after"]


def test_drivers_carry_the_ditat_link_and_deactivated_are_asked_for(fleet, client):
    active = client.list_drivers()
    inactive = client.list_drivers(status="deactivated")

    sim = fleet.simulator
    assert len(active) == 25 and len(inactive) == 1
    by_id = {d.samsara_id: d for d in sim.drivers}
    for driver in active:
        assert driver.external_ids["ditatDriverId"] == by_id[driver.id].ditat_id
        assert driver.phone.startswith("+1") and len(driver.phone) == 12
    assert fleet.requests("samsara")[-1]["query"]["driverActivationStatus"] == "deactivated"


def test_429_with_fractional_retry_after_is_retried(fleet, client):
    fleet.fault("samsara", "429", count=2, retry_after=0.05)

    started = time.monotonic()
    drivers = client.list_drivers()

    assert len(drivers) == 25
    assert time.monotonic() - started >= 0.1  # honoured 0.05 s twice, not the 1 ms backoff
    assert len(fleet.requests("samsara")) == 2 + 3


def test_5xx_exhaustion_raises_transient_after_three_attempts(fleet, client):
    fleet.fault("samsara", "5xx", count=3, status=502)

    with pytest.raises(VendorTransientError) as caught:
        client.list_vehicles()

    assert caught.value.status == 502
    assert "requestId" in str(caught.value)
    assert SAMSARA_TOKEN not in str(caught.value)
    assert len(fleet.requests("samsara")) == 3


def test_rejected_requests_are_not_retried(fleet, client):
    with pytest.raises(VendorRejectedError) as caught:
        client.get("/fleet/vehicles/stats", {"types": "gps,engineStates,fuelPercents,faultCodes"})
    assert caught.value.status == 400 and "at most 3" in str(caught.value)

    wrong = _client(fleet, token="not-the-token")
    with pytest.raises(VendorAuthError) as auth:
        wrong.list_vehicles()
    assert auth.value.status == 401 and "not-the-token" not in str(auth.value)
    assert len(fleet.requests("samsara")) == 2


def test_malformed_json_is_a_clear_error_after_retries(fleet, client):
    fleet.fault("samsara", "malformed", count=3)
    with pytest.raises(VendorResponseError, match="malformed JSON from /samsara/fleet/drivers"):
        client.list_drivers()

    fleet.fault("samsara", "malformed", count=1)
    assert len(client.list_drivers()) == 25  # one bad page, then the retry succeeds


def test_location_feed_pages_history_then_resumes_from_the_cursor(fleet, client):
    sim = fleet.simulator
    pages = list(client.location_feed())

    reporting = [v for v in sim.vehicles if v.gps_lost_at is None]
    points = sum(len(item.locations) for page in pages for item in page.items)
    assert points == 120 * len(reporting)  # 2 h at one point a minute
    assert [p.caught_up for p in pages] == [False] * (len(pages) - 1) + [True]
    assert len(pages) == 6  # 20 samples x 25 trucks ≤ 512 points per page
    first = pages[0].items[0].locations[0]
    assert first.time == T0 - timedelta(hours=2) + timedelta(minutes=1)
    expected = sim.position(sim.vehicle(pages[0].items[0].id), first.time)
    assert (first.latitude, first.longitude, first.speed) == (
        expected.latitude,
        expected.longitude,
        expected.speed_mph,
    )

    fleet.advance_clock(300)
    more = list(client.location_feed(pages[-1].end_cursor))

    assert len(more) == 1 and more[0].caught_up
    assert sum(len(i.locations) for i in more[0].items) == 5 * len(reporting)
    last = fleet.requests("samsara")[-1]
    assert last["path"] == "/samsara/fleet/vehicles/locations/feed"
    assert last["query"] == {"after": pages[-1].end_cursor}


def test_location_snapshot_keeps_a_silent_gateway_at_its_last_point(fleet, client):
    locations = {loc.id: loc.location for loc in client.vehicle_locations()}
    silent = [v for v in fleet.simulator.vehicles if v.gps_lost_at is not None]
    assert len(silent) == 1
    assert locations[silent[0].samsara_id].time == T0 - timedelta(hours=3)
    assert all(loc.time == T0 for vid, loc in locations.items() if vid != silent[0].samsara_id)


def test_stats_snapshot_splits_types_and_feed_uses_plural_keys(fleet, client):
    stats = client.vehicle_stats(["gps", "engineStates", "fuelPercents", "obdOdometerMeters"])

    sent = fleet.requests("samsara")
    assert [r["query"]["types"] for r in sent] == [
        "gps,engineStates,fuelPercents",
        "obdOdometerMeters",
    ]
    snap = stats[0]
    assert snap.engine_state.value in ("On", "Off", "Idle")
    assert 15 <= snap.fuel_percent.value <= 100
    assert snap.obd_odometer_meters.value > 100_000_000  # metres, not miles
    assert snap.gps.speed_miles_per_hour is not None

    with pytest.raises(ValueError, match="1 to 3 types"):
        next(client.stats_feed(["gps", "engineStates", "fuelPercents", "obdOdometerMeters"]))
    page = next(client.stats_feed(["gps", "engineStates"]))
    assert page.items[0].gps and page.items[0].engine_states
    assert fleet.requests("samsara")[-1]["path"] == "/samsara/fleet/vehicles/stats/feed"


def test_hos_clocks_logs_and_violations(fleet, client):
    sim = fleet.simulator
    clocks = {c.driver.id: c for c in client.hos_clocks()}
    vehicle = sim.vehicles[0]
    expected = sim.hos_clocks(vehicle, T0)
    mine = clocks[vehicle.driver.samsara_id]
    assert mine.drive_remaining_ms == int(expected["drive"] * 1000)
    assert mine.shift_remaining_ms == int(expected["shift"] * 1000)
    assert mine.current_vehicle.id == vehicle.samsara_id
    assert 0 <= mine.drive_remaining_ms <= 11 * 3600 * 1000

    logs = client.hos_logs(T0 - timedelta(days=1), T0)
    assert logs and all(log.log_start_time <= T0 for d in logs for log in d.hos_logs)
    statuses = {log.hos_status_type for d in logs for log in d.hos_logs}
    assert {"driving", "onDuty"} <= statuses
    assert fleet.requests("samsara")[-1]["query"] == {
        "startTime": "2025-02-28T14:00:00Z",
        "endTime": "2025-03-01T14:00:00Z",
    }

    violations = client.hos_violations(T0 - timedelta(days=7), T0)
    expected_v = sim.hos_violations(T0 - timedelta(days=7), T0)
    assert len(violations) == len(expected_v) > 0
    assert {v.type for v in violations} == {"shiftDrivingHours"}
    assert all(v.duration_ms > 0 for v in violations)


def test_safety_event_stream_resumes_and_legacy_window(fleet, client):
    sim = fleet.simulator
    start = T0 - timedelta(days=2)
    pages = list(client.safety_events_stream(start))
    events = [e for p in pages for e in p.items]

    sent = fleet.requests("samsara")[0]
    assert sent["path"] == "/samsara/safety-events/stream"  # no /fleet prefix
    assert sent["query"]["startTime"] == "2025-02-27T14:00:00Z"
    expected = [
        e
        for e in sim.safety_events(start - timedelta(minutes=2), T0)
        if start <= e.time + timedelta(minutes=2) <= T0
    ]
    assert [e.id for e in events] == [e.event_id for e in expected]
    assert {lab.label for e in events for lab in e.behavior_labels} <= {"braking", "speeding"}
    speeding = [e for e in events if e.behavior_labels[0].label == "speeding"]
    assert all(e.speeding_metadata["maxSpeedKilometersPerHour"] > 104 for e in speeding)

    fleet.advance_clock(6 * 3600)
    newer = [e for p in client.safety_events_stream(start, pages[-1].end_cursor) for e in p.items]
    assert not {e.id for e in newer} & {e.id for e in events}
    assert all(e.created_at_time > T0 for e in newer)

    legacy = client.legacy_safety_events(start, T0)
    assert len(legacy) == len(expected)
    assert fleet.requests("samsara")[-1]["path"] == "/samsara/fleet/safety-events"
