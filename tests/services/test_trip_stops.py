"""`/trip_stops`: stops across trips, filtered by trip, status, type, state and appointment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from logic.auth.permissions import Permission
from tests.factories import make_stop, make_trip
from tests.services.fleet_support import assert_constant_queries

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def test_filters_sort_and_detail(client, session, auth_headers) -> None:
    headers = auth_headers(role="viewer")
    first, second = make_trip(session), make_trip(session)
    a = make_stop(
        session,
        trip=first,
        sequence=1,
        stop_type="pickup",
        state="TN",
        appointment_start=T0,
        name="Memphis DC",
    )
    b = make_stop(
        session,
        trip=first,
        sequence=2,
        state="TX",
        status="arrived",
        appointment_start=T0 + timedelta(hours=8),
    )
    c = make_stop(
        session, trip=second, sequence=1, state="TX", appointment_start=T0 - timedelta(hours=2)
    )

    def ids(query: str) -> list[int]:
        response = client.get(f"/trip_stops?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()["items"]]

    assert ids(f"trip_id={first.id}") == [a.id, b.id]
    assert ids("state=TX") == [c.id, b.id]  # by appointment by default
    assert ids("stop_type=pickup") == [a.id]
    assert ids("status=arrived") == [b.id]
    assert ids("q=memphis") == [a.id]
    assert ids("appointment_from=2025-03-01T07:00:00Z&appointment_to=2025-03-01T09:00:00Z") == [
        a.id
    ]
    assert ids("sort=-appointment_start&limit=2") == [b.id, a.id]
    assert client.get("/trip_stops?stop_type=fuel", headers=headers).status_code == 422
    assert client.get("/trip_stops?sort=eta", headers=headers).status_code == 422
    assert client.get(f"/trip_stops/{a.id}", headers=headers).json()["name"] == "Memphis DC"
    assert client.get("/trip_stops/999999", headers=headers).status_code == 404


def test_permissions_and_query_count(client, session, auth_headers, query_counter) -> None:
    assert client.get("/trip_stops").status_code == 401
    denied = auth_headers(permissions=[Permission.DRIVERS_READ])
    assert client.get("/trip_stops", headers=denied).status_code == 403
    make_trip(session, stops=2)
    assert_constant_queries(
        client,
        "/trip_stops",
        auth_headers(role="viewer"),
        query_counter,
        lambda: [make_trip(session, stops=3) for _ in range(4)],
    )
