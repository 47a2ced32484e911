"""`/safety_events`: list with filters (driver, truck, severity, label, time), detail, access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from logic.auth.permissions import Permission
from tests.factories import make_driver, make_safety_event, make_vehicle
from tests.services.fleet_support import assert_constant_queries

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_filters_sort_and_detail(client, session, auth_headers) -> None:
    headers = auth_headers(role="safety_manager")
    ann, bob = make_driver(session, terminal="Dallas"), make_driver(session, terminal="Memphis")
    truck = make_vehicle(session)
    brake = make_safety_event(
        session,
        driver=ann,
        vehicle=truck,
        occurred_at=T0,
        behavior_labels=["braking"],
        severity="medium",
    )
    speed = make_safety_event(
        session,
        driver=bob,
        occurred_at=T0 - timedelta(hours=5),
        behavior_labels=["speeding", "mobileUsage"],
        severity="critical",
        speed_mph=78,
        speed_limit_mph=65,
        coaching_state="coached",
    )
    low = make_safety_event(
        session,
        driver=ann,
        occurred_at=T0 - timedelta(days=2),
        behavior_labels=["harshTurn"],
        severity="low",
    )

    def ids(query: str) -> list[int]:
        response = client.get(f"/safety_events?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["items"]]

    assert ids("") == [brake.id, speed.id, low.id]
    assert ids(f"driver_id={ann.id}") == [brake.id, low.id]
    assert ids(f"vehicle_id={truck.id}") == [brake.id]
    assert ids("severity=critical&severity=low") == [speed.id, low.id]
    assert ids("sort=-severity") == [speed.id, brake.id, low.id]  # ranked, not alphabetical
    assert ids("behavior=mobileUsage") == [speed.id]
    assert ids("behavior=mobile") == []  # whole labels only
    assert ids("coaching_state=coached") == [speed.id]
    assert ids("terminal=Dallas") == [brake.id, low.id]
    assert ids("start=2025-03-01T00:00:00Z&end=2025-03-01T11:00:00Z") == [speed.id]
    assert client.get("/safety_events?severity=extreme", headers=headers).status_code == 422
    assert client.get("/safety_events?coaching_state=maybe", headers=headers).status_code == 422

    detail = client.get(f"/safety_events/{speed.id}", headers=headers).json()
    assert detail["behavior_labels"] == ["speeding", "mobileUsage"]
    assert (detail["speed_mph"], detail["speed_limit_mph"]) == (78, 65)
    assert detail["driver"]["id"] == bob.id
    assert client.get("/safety_events/999999", headers=headers).status_code == 404


def test_permissions_and_query_count(client, session, auth_headers, query_counter) -> None:
    assert client.get("/safety_events").status_code == 401
    denied = auth_headers(permissions=[Permission.TRIPS_READ])
    assert client.get("/safety_events", headers=denied).status_code == 403
    viewer = auth_headers(role="viewer")
    for _ in range(2):
        make_safety_event(session, driver=make_driver(session), vehicle=make_vehicle(session))
    assert_constant_queries(
        client,
        "/safety_events",
        viewer,
        query_counter,
        lambda: [
            make_safety_event(session, driver=make_driver(session), vehicle=make_vehicle(session))
            for _ in range(8)
        ],
    )
