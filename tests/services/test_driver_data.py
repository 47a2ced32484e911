"""`/driver_data/{id}`: one response with everything needed to talk to a driver."""

from __future__ import annotations

from datetime import timedelta

from helpers.time_utils import utc_now
from logic.auth.permissions import Permission
from models.trip import StopStatus, TripStatus
from tests.factories import (
    make_driver,
    make_hos_clock,
    make_location,
    make_safety_event,
    make_trip,
    make_vehicle,
    make_violation,
)


def test_driver_data_gathers_trip_hos_and_events(client, session, auth_headers) -> None:
    now = utc_now()
    driver = make_driver(session, first_name="Ann", last_name="Lee", timezone="America/Chicago")
    truck = make_vehicle(session)
    make_location(session, vehicle=truck, recorded_at=now - timedelta(minutes=2), latitude=33.0)
    make_trip(session, driver=driver, status=TripStatus.DELIVERED)
    current = make_trip(
        session,
        driver=driver,
        vehicle=truck,
        status=TripStatus.IN_TRANSIT,
        stops=[
            {"stop_type": "pickup", "status": StopStatus.DEPARTED, "departed_at": now},
            {"stop_type": "delivery", "name": "Walmart DC 6094"},
        ],
    )
    make_hos_clock(session, driver=driver, drive_remaining_minutes=45)
    recent = make_violation(session, driver=driver, started_at=now - timedelta(days=2))
    make_violation(session, driver=driver, started_at=now - timedelta(days=45))
    event = make_safety_event(session, driver=driver, occurred_at=now - timedelta(hours=3))
    make_safety_event(session, driver=make_driver(session))

    response = client.get(f"/driver_data/{driver.id}", headers=auth_headers(role="dispatcher"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["driver"]["full_name"] == "Ann Lee"
    assert body["driver"]["timezone"] == "America/Chicago"
    assert body["current_trip"]["id"] == current.id
    assert body["current_trip"]["next_stop"]["name"] == "Walmart DC 6094"
    assert body["current_trip"]["last_position"]["latitude"] == 33.0
    assert body["hos_clock"]["drive_remaining_minutes"] == 45
    assert [v["id"] for v in body["recent_violations"]] == [recent.id]
    assert [e["id"] for e in body["recent_safety_events"]] == [event.id]


def test_driver_without_activity(client, session, auth_headers) -> None:
    driver = make_driver(session)
    body = client.get(f"/driver_data/{driver.id}", headers=auth_headers(role="viewer")).json()
    assert body["current_trip"] is None and body["hos_clock"] is None
    assert body["recent_violations"] == [] and body["recent_safety_events"] == []


def test_404_and_permissions(client, session, auth_headers) -> None:
    driver = make_driver(session)
    assert client.get(f"/driver_data/{driver.id}").status_code == 401
    denied = auth_headers(permissions=[Permission.ALERTS_READ])
    assert client.get(f"/driver_data/{driver.id}", headers=denied).status_code == 403
    assert client.get("/driver_data/999999", headers=auth_headers(role="viewer")).status_code == 404
