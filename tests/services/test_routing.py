"""`GET /routing/mileage`: points or trip stops, PC*MILER through the sandbox, DB cache, 503s."""

from __future__ import annotations

import pytest
from sqlmodel import select

from config import Settings, get_settings
from logic.auth.permissions import Permission
from models.vendor_cache import MileageCache
from services.vendor_deps import current_settings, get_pcmiler_client
from tests.factories import make_trip
from utils.pcmiler_client import build_pcmiler_client

MEMPHIS_TO_DALLAS = "from_lat=35.1495&from_lon=-90.049&to_lat=32.7767&to_lon=-96.797"


@pytest.fixture
def dispatcher(auth_headers):
    return auth_headers(role="dispatcher")


@pytest.fixture
def pcmiler_sandbox(main_app, sandbox_clean):
    """Point the router's PC*MILER provider at the sandbox (no backoff between retries)."""
    settings = Settings(**sandbox_clean.settings_env())

    def provider():
        client = build_pcmiler_client(settings, retry_wait=0)
        yield client
        client.close()

    main_app.dependency_overrides[get_pcmiler_client] = provider
    yield sandbox_clean
    main_app.dependency_overrides.pop(get_pcmiler_client, None)


def test_mileage_between_points_is_fetched_once_then_cached(
    client, session, dispatcher, pcmiler_sandbox
) -> None:
    first = client.get(f"/routing/mileage?{MEMPHIS_TO_DALLAS}", headers=dispatcher)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["cached"] is False
    assert body["origin"] == {"lat": 35.1495, "lon": -90.049}
    assert 450 < body["miles"] < 550
    assert body["drive_hours"] == pytest.approx(body["drive_minutes"] / 60, abs=0.01)
    assert body["data_version"] == "Current"

    again = client.get(f"/routing/mileage?{MEMPHIS_TO_DALLAS}", headers=dispatcher).json()
    assert again["cached"] is True
    assert again["miles"] == body["miles"]
    assert len(pcmiler_sandbox.requests("pcmiler")) == 1
    [row] = session.exec(select(MileageCache)).all()
    assert row.miles == pytest.approx(body["miles"], abs=0.001)
    assert row.expires_at > row.fetched_at


def test_mileage_between_trip_stops(client, session, dispatcher, pcmiler_sandbox) -> None:
    trip = make_trip(
        session,
        stops=[
            {"latitude": 35.1495, "longitude": -90.049, "city": "Memphis"},
            {"latitude": 32.7767, "longitude": -96.797, "city": "Dallas"},
        ],
    )
    first, second = sorted(trip.stops, key=lambda s: s.sequence)
    response = client.get(
        f"/routing/mileage?from_stop_id={first.id}&to_stop_id={second.id}", headers=dispatcher
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from_stop_id"], body["to_stop_id"]) == (first.id, second.id)
    by_points = client.get(f"/routing/mileage?{MEMPHIS_TO_DALLAS}", headers=dispatcher).json()
    assert by_points["cached"] is True and by_points["miles"] == body["miles"]
    [sent] = pcmiler_sandbox.requests("pcmiler")
    assert sent["query"]["stops"] == "-90.049000,35.149500;-96.797000,32.776700"


def test_bad_inputs(client, session, dispatcher, pcmiler_sandbox) -> None:
    trip = make_trip(session, stops=[{"latitude": None, "longitude": None}, {}])
    no_coords, ok = sorted(trip.stops, key=lambda s: s.sequence)
    mixed = client.get(
        f"/routing/mileage?from_lat=35&from_lon=-90&to_stop_id={ok.id}", headers=dispatcher
    )
    assert mixed.status_code == 400
    assert mixed.json()["error"] == "bad_request"
    missing = client.get(
        f"/routing/mileage?from_stop_id=999999&to_stop_id={ok.id}", headers=dispatcher
    )
    assert missing.status_code == 404
    blank = client.get(
        f"/routing/mileage?from_stop_id={no_coords.id}&to_stop_id={ok.id}", headers=dispatcher
    )
    assert blank.status_code == 422
    assert "no coordinates" in blank.json()["detail"]
    out_of_range = client.get(
        "/routing/mileage?from_lat=135&from_lon=-90&to_lat=1&to_lon=1", headers=dispatcher
    )
    assert out_of_range.status_code == 422
    assert pcmiler_sandbox.requests("pcmiler") == []


def test_unroutable_point_is_422(client, dispatcher, pcmiler_sandbox) -> None:
    response = client.get(
        "/routing/mileage?from_lat=35.1495&from_lon=-90.049&to_lat=51.5072&to_lon=-0.1276",
        headers=dispatcher,
    )
    assert response.status_code == 422
    assert "could not route" in response.json()["detail"]


def test_vendor_outage_is_503_upstream_unavailable(client, dispatcher, pcmiler_sandbox) -> None:
    pcmiler_sandbox.fault("pcmiler", "5xx", count=3)
    response = client.get(f"/routing/mileage?{MEMPHIS_TO_DALLAS}", headers=dispatcher)
    assert response.status_code == 503
    assert response.json()["error"] == "upstream_unavailable"
    assert "PC*MILER" in response.json()["detail"]
    assert response.headers["Retry-After"]
    assert len(pcmiler_sandbox.requests("pcmiler")) == 3


def test_missing_key_is_503_naming_the_setting(client, main_app, dispatcher) -> None:
    # The real provider, reading settings that lack the key.
    main_app.dependency_overrides[current_settings] = lambda: Settings(PCMILER_API_KEY="")
    try:
        response = client.get(f"/routing/mileage?{MEMPHIS_TO_DALLAS}", headers=dispatcher)
    finally:
        main_app.dependency_overrides.pop(get_settings, None)
    assert response.status_code == 503
    assert response.json()["error"] == "upstream_not_configured"
    assert "PCMILER_API_KEY" in response.json()["detail"]


def test_authentication_and_permission(client, auth_headers, pcmiler_sandbox) -> None:
    assert client.get(f"/routing/mileage?{MEMPHIS_TO_DALLAS}").status_code == 401
    other = auth_headers(permissions=[Permission.TRIPS_READ])
    assert client.get(f"/routing/mileage?{MEMPHIS_TO_DALLAS}", headers=other).status_code == 403
    assert pcmiler_sandbox.requests("pcmiler") == []
