"""`/trips`: list with assignment and last position, filters, detail with stops, notes, and
the audited manual status correction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from logic.auth.permissions import Permission
from models.audit_log import AuditLog
from models.trip import StopStatus, Trip, TripStatus
from tests.factories import make_driver, make_location, make_trailer, make_trip, make_vehicle
from tests.services.fleet_support import assert_constant_queries

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def dispatcher(auth_headers):
    return auth_headers(role="dispatcher")


def test_list_embeds_assignment_and_latest_position(client, session, dispatcher) -> None:
    driver = make_driver(session, first_name="Ann", last_name="Lee")
    truck = make_vehicle(session, unit_number="101")
    trailer = make_trailer(session, unit_number="53-1")
    make_location(session, vehicle=truck, recorded_at=T0, latitude=35.0)
    make_location(session, vehicle=truck, recorded_at=T0 + timedelta(minutes=5), latitude=35.1)
    trip = make_trip(session, driver=driver, vehicle=truck, trailer=trailer)
    make_trip(session)  # unassigned: no driver, no truck, no position

    body = client.get("/trips", headers=dispatcher).json()
    assert body["total"] == 2
    item = next(i for i in body["items"] if i["id"] == trip.id)
    assert item["driver"]["full_name"] == "Ann Lee"
    assert item["vehicle"]["unit_number"] == "101"
    assert item["trailer"]["unit_number"] == "53-1"
    assert item["last_position"]["latitude"] == 35.1
    other = next(i for i in body["items"] if i["id"] != trip.id)
    assert other["driver"] is None and other["last_position"] is None


def test_filters_and_sorting(client, session, dispatcher) -> None:
    ann, bob = make_driver(session, first_name="Ann"), make_driver(session, first_name="Bob")
    truck = make_vehicle(session)
    a = make_trip(
        session,
        driver=ann,
        vehicle=truck,
        status="in_transit",
        scheduled_start=T0,
        terminal="Dallas",
        late_risk_minutes=30,
        customer="Zeta Corp",
    )
    b = make_trip(
        session,
        driver=bob,
        status="planned",
        scheduled_start=T0 + timedelta(days=1),
        terminal="Memphis",
        load_number="LOAD-XYZ",
    )
    c = make_trip(
        session,
        driver=ann,
        status="delivered",
        scheduled_start=T0 - timedelta(days=1),
        terminal="Dallas",
    )

    def ids(query: str) -> list[int]:
        response = client.get(f"/trips?{query}", headers=dispatcher)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    assert ids("sort=scheduled_start") == [c.id, a.id, b.id]
    assert ids("") == [b.id, a.id, c.id]  # newest scheduled first by default
    assert ids("status=in_transit&status=planned&sort=id") == [a.id, b.id]
    assert ids(f"driver_id={ann.id}&sort=id") == [a.id, c.id]
    assert ids(f"vehicle_id={truck.id}") == [a.id]
    assert ids("terminal=Memphis") == [b.id]
    assert ids("late_only=true") == [a.id]
    assert ids("q=xyz") == [b.id]
    assert ids("q=zeta") == [a.id]
    assert ids("q=bob") == [b.id]  # searches the driver's name too
    start, end = T0.isoformat(), (T0 + timedelta(hours=1)).isoformat()
    assert ids(
        f"scheduled_from={start.replace('+', '%2B')}&scheduled_to={end.replace('+', '%2B')}"
    ) == [a.id]
    # No offset on the datetime: read as UTC rather than failing.
    assert ids("scheduled_from=2025-03-02T00:00:00") == [b.id]
    assert ids("limit=1&offset=1") == [a.id]


def test_list_validation(client, dispatcher) -> None:
    assert client.get("/trips?status=lost", headers=dispatcher).status_code == 422
    bad_sort = client.get("/trips?sort=-driver_phone", headers=dispatcher)
    assert bad_sort.status_code == 422 and "scheduled_start" in bad_sort.json()["detail"]
    backwards = client.get(
        "/trips?scheduled_from=2025-03-02T00:00:00Z&scheduled_to=2025-03-01T00:00:00Z",
        headers=dispatcher,
    )
    assert backwards.status_code == 422 and "after end" in backwards.json()["detail"]


def test_pages_tile_the_sorted_list_with_their_own_assignment(client, session, dispatcher) -> None:
    """Pages pick their trip keys first, then join: walking them must give the full order."""
    trucks = [make_vehicle(session) for _ in range(3)]
    for truck in trucks:
        make_location(session, vehicle=truck, recorded_at=T0, latitude=30.0 + truck.id)
    trips = [
        make_trip(
            session,
            driver=make_driver(session, first_name=f"D{i}") if i % 2 else None,
            vehicle=trucks[i % 3],
            late_risk_minutes=None if i % 4 == 0 else i % 3,  # ties and NULLs
        )
        for i in range(9)
    ]
    by_id = {trip.id: trip for trip in trips}

    def page(offset: int) -> list[dict]:
        url = f"/trips?sort=-late_risk_minutes&limit=4&offset={offset}"
        return client.get(url, headers=dispatcher).json()["items"]

    full = client.get("/trips?sort=-late_risk_minutes&limit=50", headers=dispatcher).json()
    walked = page(0) + page(4) + page(8)
    assert [i["id"] for i in walked] == [i["id"] for i in full["items"]]
    assert len(walked) == 9 and full["total"] == 9
    risks = [i["late_risk_minutes"] for i in walked]
    assert risks[-3:] == [None, None, None] and risks[:-3] == sorted(risks[:-3], reverse=True)
    for item in walked:
        trip = by_id[item["id"]]
        assert (item["driver"] or {}).get("id") == trip.driver_id
        assert item["vehicle"]["id"] == trip.vehicle_id
        assert item["last_position"]["latitude"] == 30.0 + trip.vehicle_id


def test_board_columns_sort_the_whole_list_not_one_page(client, session, dispatcher) -> None:
    """Every column the board sorts by orders the full list on the server: walking pages of
    two gives the same order as one page of all, NULLs last both ways, ties broken on id."""
    names = ["Cleo Park", "ann Lee", "Bob Ray"]  # mixed case: the name sorts case-insensitively
    trucks = [make_vehicle(session, unit_number=u) for u in ("T-3", "T-1", "T-2")]
    for minutes, truck in zip((30, 90, 10), trucks, strict=True):
        make_location(session, vehicle=truck, recorded_at=T0 - timedelta(minutes=minutes))
    trips = [
        make_trip(
            session,
            driver=make_driver(session, first_name=n.split()[0], last_name=n.split()[1]),
            vehicle=truck,
            terminal=terminal,
            eta_next_stop=T0 + timedelta(hours=hours),
        )
        for n, truck, terminal, hours in zip(
            names, trucks, ("Tulsa", "Dallas", "Memphis"), (5, 1, 3), strict=True
        )
    ]
    # Two with no driver, truck, position, ETA or terminal.
    bare = [make_trip(session, terminal=None) for _ in range(2)]

    def walk(sort: str) -> list[dict]:
        pages = [
            client.get(f"/trips?sort={sort}&limit=2&offset={o}", headers=dispatcher)
            for o in (0, 2, 4)
        ]
        assert all(p.status_code == 200 for p in pages), pages[0].text
        items = [i for p in pages for i in p.json()["items"]]
        whole = client.get(f"/trips?sort={sort}&limit=50", headers=dispatcher).json()["items"]
        assert [i["id"] for i in items] == [i["id"] for i in whole]
        return items

    def drivers(sort: str) -> list[str | None]:
        return [(i["driver"] or {}).get("full_name") for i in walk(sort)]

    assert drivers("driver") == ["ann Lee", "Bob Ray", "Cleo Park", None, None]
    assert drivers("-driver") == ["Cleo Park", "Bob Ray", "ann Lee", None, None]
    units = [(i["vehicle"] or {}).get("unit_number") for i in walk("truck")]
    assert units == ["T-1", "T-2", "T-3", None, None]
    assert [i["terminal"] for i in walk("-terminal")] == ["Tulsa", "Memphis", "Dallas", None, None]
    etas = [i["eta_next_stop"] for i in walk("eta_next_stop")]
    assert etas[:3] == sorted(etas[:3]) and etas[3:] == [None, None]
    assert [i["id"] for i in walk("eta_next_stop")][:3] == [trips[1].id, trips[2].id, trips[0].id]
    # Oldest GPS first (the stale trucks), trucks never seen last.
    assert [i["id"] for i in walk("last_position_at")][:3] == [t.id for t in trips[1::-1]] + [
        trips[2].id
    ]
    # The two unassigned trips tie on every column: the id breaks it, both directions.
    assert [i["id"] for i in walk("truck")][3:] == [bare[0].id, bare[1].id]
    assert [i["id"] for i in walk("-truck")][3:] == [bare[1].id, bare[0].id]


def test_an_unknown_sort_is_refused_in_the_one_error_shape(client, dispatcher) -> None:
    for sort in ("driver_phone", "-gps", "driver.last_name", ""):
        response = client.get("/trips", params={"sort": sort}, headers=dispatcher)
        if sort == "":
            assert response.status_code == 200  # empty: the default order
            continue
        assert response.status_code == 422, (sort, response.text)
        body = response.json()
        assert body["error"] == "validation_error", body
        assert "last_position_at" in body["detail"] and "driver" in body["detail"]
        assert body["errors"][0]["loc"] == ["query", "sort"]


def test_list_runs_constant_queries(client, session, dispatcher, query_counter) -> None:
    def add_trip() -> None:
        truck = make_vehicle(session)
        make_location(session, vehicle=truck, recorded_at=T0)
        make_trip(
            session, driver=make_driver(session), vehicle=truck, trailer=make_trailer(session)
        )

    add_trip()
    add_trip()
    count = assert_constant_queries(
        client, "/trips", dispatcher, query_counter, lambda: [add_trip() for _ in range(12)]
    )
    assert count <= 8


def test_detail_has_ordered_stops_next_stop_and_position(client, session, dispatcher) -> None:
    truck = make_vehicle(session)
    make_location(session, vehicle=truck, recorded_at=T0)
    trip = make_trip(
        session,
        vehicle=truck,
        stops=[
            {"stop_type": "pickup", "status": StopStatus.DEPARTED, "departed_at": T0},
            {"stop_type": "delivery", "name": "DC Dallas"},
            {"stop_type": "delivery", "name": "DC Austin"},
        ],
    )
    body = client.get(f"/trips/{trip.id}", headers=dispatcher).json()
    assert [s["sequence"] for s in body["stops"]] == [1, 2, 3]
    assert body["next_stop"]["name"] == "DC Dallas"
    assert body["last_position"]["recorded_at"].startswith("2025-03-01T12:00:00")
    assert client.get("/trips/999999", headers=dispatcher).status_code == 404


def test_permissions(client, session, auth_headers) -> None:
    trip = make_trip(session)
    assert client.get("/trips").status_code == 401
    assert (
        client.get("/trips", headers=auth_headers(permissions=[Permission.HOS_READ])).status_code
        == 403
    )
    viewer = auth_headers(role="viewer")
    assert client.get(f"/trips/{trip.id}", headers=viewer).status_code == 200
    assert client.patch(f"/trips/{trip.id}", json={"notes": "x"}, headers=viewer).status_code == 403
    correction = {"status": "delivered", "reason": "driver called"}
    assert (
        client.post(f"/trips/{trip.id}/status", json=correction, headers=viewer).status_code == 403
    )


def test_notes_edit_is_audited_and_vendor_fields_refused(client, session, dispatcher) -> None:
    trip = make_trip(session)
    response = client.patch(
        f"/trips/{trip.id}", json={"notes": "gate code 4411"}, headers=dispatcher
    )
    assert response.status_code == 200 and response.json()["notes"] == "gate code 4411"
    row = session.scalars(select(AuditLog).where(AuditLog.action == "trip.update")).one()
    assert row.details["changes"]["notes"] == [None, "gate code 4411"]

    status = client.patch(f"/trips/{trip.id}", json={"status": "delivered"}, headers=dispatcher)
    assert status.status_code == 422 and "/status" in status.text
    owned = client.patch(f"/trips/{trip.id}", json={"customer": "X"}, headers=dispatcher)
    assert owned.status_code == 422 and "owned by Ditat" in owned.text
    session.expire_all()
    assert session.get(Trip, trip.id).status == TripStatus.DISPATCHED


def test_manual_status_correction_is_audited(client, session, dispatcher) -> None:
    trip = make_trip(session, status=TripStatus.IN_TRANSIT)
    response = client.post(
        f"/trips/{trip.id}/status",
        json={"status": "delivered", "reason": "POD received by email"},
        headers=dispatcher,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "delivered"
    assert response.json()["status_corrected_at"] is not None
    row = session.scalars(select(AuditLog).where(AuditLog.action == "trip.status_correct")).one()
    assert row.details == {
        "from": "in_transit",
        "to": "delivered",
        "reason": "POD received by email",
    }
    assert row.resource_type == "trip" and row.resource_id == str(trip.id)


def test_status_correction_validation(client, session, dispatcher) -> None:
    trip = make_trip(session, status=TripStatus.DELIVERED)
    url = f"/trips/{trip.id}/status"
    same = client.post(url, json={"status": "delivered", "reason": "again"}, headers=dispatcher)
    assert same.status_code == 409 and "already delivered" in same.json()["detail"]
    assert (
        client.post(url, json={"status": "lost", "reason": "x" * 5}, headers=dispatcher).status_code
        == 422
    )
    assert client.post(url, json={"status": "planned"}, headers=dispatcher).status_code == 422
    missing = client.post(
        "/trips/999999/status", json={"status": "planned", "reason": "typo"}, headers=dispatcher
    )
    assert missing.status_code == 404
    assert (
        session.scalars(select(AuditLog).where(AuditLog.action == "trip.status_correct")).all()
        == []
    )


def test_status_correction_refuses_unknown_fields(client, session, dispatcher) -> None:
    trip = make_trip(session, status=TripStatus.IN_TRANSIT)
    response = client.post(
        f"/trips/{trip.id}/status",
        json={"status": "delivered", "reason": "POD received", "driver_id": 1},
        headers=dispatcher,
    )
    assert response.status_code == 422
    session.expire_all()
    assert session.get(Trip, trip.id).status == TripStatus.IN_TRANSIT


def test_board_filters_by_customer_and_fleet_manager_and_lists_the_facets(
    client, session, dispatcher
) -> None:
    pat = make_driver(session, fleet_manager="Pat Kim", terminal="Dallas")
    lee = make_driver(session, fleet_manager="Lee Ortiz", terminal=None)
    a = make_trip(session, driver=pat, customer="Zeta Corp", terminal="Memphis")
    b = make_trip(session, driver=lee, customer="Acme Foods", terminal=None)

    def ids(query: str) -> set[int]:
        response = client.get(f"/trips?{query}", headers=dispatcher)
        assert response.status_code == 200, response.text
        return {t["id"] for t in response.json()["items"]}

    assert ids("customer=Zeta%20Corp") == {a.id}
    assert ids("fleet_manager=Lee%20Ortiz") == {b.id}
    assert ids("fleet_manager=Nobody") == set()
    assert client.get("/trips?customer=" + "x" * 101, headers=dispatcher).status_code == 422

    facets = client.get("/trips/facets", headers=dispatcher)
    assert facets.status_code == 200, facets.text
    assert facets.json() == {
        "terminals": ["Dallas", "Memphis"],  # a driver's terminal counts, empty ones do not
        "customers": ["Acme Foods", "Zeta Corp"],
        "fleet_managers": ["Lee Ortiz", "Pat Kim"],
    }
    assert client.get("/trips/facets").status_code == 401
