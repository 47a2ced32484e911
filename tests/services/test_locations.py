"""`/locations`: latest positions as JSON and GeoJSON, and one truck's breadcrumb."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from db.upsert import bulk_upsert
from logic.auth.permissions import Permission
from models.location import VehicleLocation
from tests.factories import make_location, make_vehicle
from tests.services.fleet_support import assert_constant_queries

T0 = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def viewer(auth_headers):
    return auth_headers(role="viewer")


def test_latest_positions_json_and_filters(client, session, viewer) -> None:
    a = make_vehicle(session, unit_number="A", terminal="Dallas")
    b = make_vehicle(session, unit_number="B", terminal="Memphis")
    make_vehicle(session, unit_number="never-seen")
    make_location(session, vehicle=a, recorded_at=T0, latitude=32.0)
    make_location(session, vehicle=a, recorded_at=T0 + timedelta(minutes=1), latitude=32.5)
    make_location(session, vehicle=b, recorded_at=T0, latitude=35.1, formatted_address="I-40 W")

    body = client.get("/locations/latest", headers=viewer).json()
    assert body["total"] == 2
    assert [(p["unit_number"], p["latitude"]) for p in body["items"]] == [("A", 32.5), ("B", 35.1)]
    # The map names what it cannot place ("2 of 3 trucks placed — missing: never-seen").
    assert [u["unit_number"] for u in body["unplaced"]] == ["never-seen"]
    only = client.get("/locations/latest?terminal=Memphis", headers=viewer).json()
    assert [p["formatted_address"] for p in only["items"]] == ["I-40 W"]
    assert [u["unit_number"] for u in only["unplaced"]] == ["never-seen"]  # also in Memphis
    dallas = client.get("/locations/latest?terminal=Dallas", headers=viewer).json()
    assert dallas["unplaced"] == []
    assert client.get("/locations/latest?status=gone", headers=viewer).status_code == 422


def test_latest_positions_geojson_is_lon_lat(client, session, viewer) -> None:
    truck = make_vehicle(session, unit_number="101")
    make_location(session, vehicle=truck, recorded_at=T0, latitude=35.1495, longitude=-90.049)
    response = client.get("/locations/latest.geojson", headers=viewer)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection"
    (feature,) = body["features"]
    assert feature["type"] == "Feature" and feature["id"] == truck.id
    assert feature["geometry"] == {"type": "Point", "coordinates": [-90.049, 35.1495]}
    assert feature["properties"]["unit_number"] == "101"
    assert "latitude" not in feature["properties"]


def test_latest_positions_query_count_is_constant(client, session, viewer, query_counter) -> None:
    for _ in range(2):
        make_location(session, vehicle=make_vehicle(session), recorded_at=T0)

    def grow() -> None:
        for _ in range(10):
            make_location(session, vehicle=make_vehicle(session), recorded_at=T0)

    assert_constant_queries(client, "/locations/latest", viewer, query_counter, grow)
    assert_constant_queries(client, "/locations/latest.geojson", viewer, query_counter, grow)


def _track(session, vehicle, count: int, *, every: timedelta = timedelta(minutes=1)) -> None:
    rows = [
        {
            "vehicle_id": vehicle.id,
            "recorded_at": T0 + i * every,
            "latitude": 35.0 + i / 1000,
            "longitude": -90.0,
        }
        for i in range(count)
    ]
    bulk_upsert(session, VehicleLocation, rows, conflict_columns=["vehicle_id", "recorded_at"])


def test_breadcrumb_returns_the_range_in_order(client, session, viewer) -> None:
    truck = make_vehicle(session)
    _track(session, truck, 30)
    response = client.get(
        f"/locations/vehicles/{truck.id}/breadcrumb",
        params={"start": "2025-03-01T00:10:00Z", "end": "2025-03-01T00:19:00Z"},
        headers=viewer,
    )
    body = response.json()
    assert response.status_code == 200, response.text
    assert body["total_points"] == 10 and body["downsampled"] is False
    times = [p["recorded_at"] for p in body["points"]]
    assert times[0].startswith("2025-03-01T00:10") and times[-1].startswith("2025-03-01T00:19")
    assert times == sorted(times)


def test_breadcrumb_is_downsampled_evenly_keeping_both_ends(client, session, viewer) -> None:
    truck = make_vehicle(session)
    _track(session, truck, 1000)
    body = client.get(
        f"/locations/vehicles/{truck.id}/breadcrumb",
        params={"start": "2025-03-01T00:00:00Z", "end": "2025-03-02T00:00:00Z", "max_points": 100},
        headers=viewer,
    ).json()
    assert body["total_points"] == 1000 and body["downsampled"] is True
    points = body["points"]
    assert 90 <= len(points) <= 100
    assert points[0]["recorded_at"].startswith("2025-03-01T00:00")
    assert points[-1]["latitude"] == pytest.approx(35.999)  # the last point survives
    gaps = {
        round(points[i + 1]["latitude"] - points[i]["latitude"], 6) for i in range(len(points) - 2)
    }
    assert gaps == {0.011}  # every 11th point: evenly spaced


def test_breadcrumb_validation_and_404(client, session, viewer) -> None:
    truck = make_vehicle(session)
    url = f"/locations/vehicles/{truck.id}/breadcrumb"
    backwards = client.get(
        url, params={"start": "2025-03-02T00:00:00Z", "end": "2025-03-01T00:00:00Z"}, headers=viewer
    )
    assert backwards.status_code == 422
    too_long = client.get(
        url, params={"start": "2025-01-01T00:00:00Z", "end": "2025-03-01T00:00:00Z"}, headers=viewer
    )
    assert too_long.status_code == 422 and "31 days" in too_long.json()["detail"]
    assert client.get(url, params={"max_points": 1}, headers=viewer).status_code == 422
    assert client.get(url, headers=viewer).json()["points"] == []  # default: the last 24 h
    assert client.get("/locations/vehicles/999999/breadcrumb", headers=viewer).status_code == 404


def test_permissions(client, auth_headers) -> None:
    assert client.get("/locations/latest").status_code == 401
    denied = auth_headers(permissions=[Permission.VEHICLES_READ])
    assert client.get("/locations/latest", headers=denied).status_code == 403
    assert client.get("/locations/latest.geojson", headers=denied).status_code == 403
    assert client.get("/locations/vehicles/1/breadcrumb", headers=denied).status_code == 403
