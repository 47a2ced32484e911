"""`/vehicles` and `/trailers`: lists with filters and positions, detail, permissions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from logic.auth.permissions import Permission
from tests.factories import make_location, make_trailer, make_vehicle
from tests.services.fleet_support import assert_constant_queries

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_vehicle_list_filters_and_positions(client, session, auth_headers) -> None:
    headers = auth_headers(role="viewer")
    a = make_vehicle(session, unit_number="A-1", terminal="Dallas", vin="1FUJGLDR0CLBP8834")
    b = make_vehicle(session, unit_number="B-2", terminal="Dallas", status="out_of_service")
    make_vehicle(session, unit_number="C-3", terminal="Memphis")
    make_location(session, vehicle=a, recorded_at=T0, speed_mph=61.5)
    make_location(session, vehicle=a, recorded_at=T0 - timedelta(hours=1), speed_mph=0)

    body = client.get("/vehicles?terminal=Dallas", headers=headers).json()
    assert [v["unit_number"] for v in body["items"]] == ["A-1", "B-2"] and body["total"] == 2
    assert body["items"][0]["last_position"]["speed_mph"] == 61.5
    assert body["items"][1]["last_position"] is None
    assert (
        client.get("/vehicles?status=out_of_service", headers=headers).json()["items"][0]["id"]
        == b.id
    )
    assert client.get("/vehicles?q=bp8834", headers=headers).json()["items"][0]["id"] == a.id
    assert [
        v["unit_number"]
        for v in client.get("/vehicles?sort=-unit_number", headers=headers).json()["items"]
    ] == ["C-3", "B-2", "A-1"]
    assert client.get("/vehicles?status=parked", headers=headers).status_code == 422
    assert client.get("/vehicles?sort=vin", headers=headers).status_code == 422

    detail = client.get(f"/vehicles/{a.id}", headers=headers).json()
    assert detail["vin"] == "1FUJGLDR0CLBP8834" and detail["last_position"]["speed_mph"] == 61.5
    assert client.get("/vehicles/999999", headers=headers).status_code == 404


def test_trailer_list_and_detail(client, session, auth_headers) -> None:
    headers = auth_headers(role="dispatcher")
    reefer = make_trailer(session, unit_number="R-1", trailer_type="reefer", terminal="Dallas")
    make_trailer(session, unit_number="V-1", terminal="Memphis")
    body = client.get("/trailers?terminal=Dallas", headers=headers).json()
    assert [t["id"] for t in body["items"]] == [reefer.id]
    assert client.get("/trailers?q=v-1", headers=headers).json()["total"] == 1
    assert client.get(f"/trailers/{reefer.id}", headers=headers).json()["trailer_type"] == "reefer"
    assert client.get("/trailers/999999", headers=headers).status_code == 404


def test_permissions(client, auth_headers) -> None:
    assert client.get("/vehicles").status_code == 401
    assert client.get("/trailers").status_code == 401
    denied = auth_headers(permissions=[Permission.TRIPS_READ])
    assert client.get("/vehicles", headers=denied).status_code == 403
    assert client.get("/trailers", headers=denied).status_code == 403


def test_lists_run_constant_queries(client, session, auth_headers, query_counter) -> None:
    headers = auth_headers(role="viewer")
    for _ in range(2):
        make_location(session, vehicle=make_vehicle(session), recorded_at=T0)
        make_trailer(session)

    def grow() -> None:
        for i in range(10):
            truck = make_vehicle(session)
            make_location(session, vehicle=truck, recorded_at=T0 + timedelta(minutes=i))
            make_trailer(session)

    assert_constant_queries(client, "/vehicles", headers, query_counter, grow)
    assert_constant_queries(
        client,
        "/trailers",
        headers,
        query_counter,
        lambda: [make_trailer(session) for _ in range(5)],
    )
