"""`/hos`: current clocks with "time left below N" filters, a driver's logs by day, violations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from logic.auth.permissions import Permission
from tests.factories import make_driver, make_hos_clock, make_hos_log, make_violation
from tests.services.fleet_support import assert_constant_queries

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def viewer(auth_headers):
    return auth_headers(role="viewer")


def test_clock_filters_and_default_order(client, session, viewer) -> None:
    low = make_hos_clock(
        session, driver=make_driver(session, terminal="Dallas"), drive_remaining_minutes=30
    )
    mid = make_hos_clock(
        session,
        driver=make_driver(session),
        drive_remaining_minutes=90,
        duty_status="on_duty",
        time_until_break_minutes=15,
    )
    make_hos_clock(
        session,
        driver=make_driver(session),
        drive_remaining_minutes=600,
        cycle_remaining_minutes=100,
    )
    make_hos_clock(
        session,
        driver=make_driver(session),
        drive_remaining_minutes=None,
        duty_status="disconnected",
    )

    def driver_ids(query: str) -> list[int]:
        response = client.get(f"/hos/clocks?{query}", headers=viewer)
        assert response.status_code == 200, response.text
        return [c["driver_id"] for c in response.json()["items"]]

    body = client.get("/hos/clocks", headers=viewer).json()
    assert [c["drive_remaining_minutes"] for c in body["items"]] == [30, 90, 600, None]
    assert body["items"][0]["driver"]["terminal"] == "Dallas"
    assert driver_ids("drive_remaining_below=100") == [low.driver_id, mid.driver_id]
    assert driver_ids("duty_status=on_duty") == [mid.driver_id]
    assert driver_ids("break_due_within=15") == [mid.driver_id]
    assert len(driver_ids("cycle_remaining_below=200")) == 1
    assert driver_ids("terminal=Dallas") == [low.driver_id]
    assert driver_ids(f"driver_id={mid.driver_id}") == [mid.driver_id]
    assert client.get("/hos/clocks?duty_status=napping", headers=viewer).status_code == 422
    assert client.get("/hos/clocks?drive_remaining_below=-5", headers=viewer).status_code == 422
    assert client.get("/hos/clocks?sort=driver_name", headers=viewer).status_code == 422

    one = client.get(f"/hos/clocks/{low.driver_id}", headers=viewer).json()
    assert one["drive_remaining_minutes"] == 30
    assert client.get("/hos/clocks/999999", headers=viewer).status_code == 404


def test_logs_follow_the_drivers_day(client, session, viewer) -> None:
    driver = make_driver(session, timezone="America/Chicago")  # UTC-6 in March (before DST)
    # 2025-03-01 local = [06:00Z Mar 1, 06:00Z Mar 2)
    before = make_hos_log(
        session,
        driver=driver,
        start_at=datetime(2025, 3, 1, 1, tzinfo=UTC),
        end_at=datetime(2025, 3, 1, 5, tzinfo=UTC),
    )
    spanning = make_hos_log(
        session,
        driver=driver,
        start_at=datetime(2025, 3, 1, 4, tzinfo=UTC),
        end_at=datetime(2025, 3, 1, 8, tzinfo=UTC),
        duty_status="on_duty",
    )
    inside = make_hos_log(
        session, driver=driver, start_at=datetime(2025, 3, 1, 20, tzinfo=UTC), end_at=None
    )
    make_hos_log(
        session, driver=make_driver(session), start_at=datetime(2025, 3, 1, 20, tzinfo=UTC)
    )

    logs = client.get(f"/hos/logs?driver_id={driver.id}&start_date=2025-03-01", headers=viewer)
    assert logs.status_code == 200, logs.text
    assert [log["id"] for log in logs.json()] == [spanning.id, inside.id]
    wider = client.get(
        f"/hos/logs?driver_id={driver.id}&start_date=2025-02-28&end_date=2025-03-01", headers=viewer
    ).json()
    assert [log["id"] for log in wider] == [before.id, spanning.id, inside.id]

    assert client.get(f"/hos/logs?driver_id={driver.id}", headers=viewer).status_code == 422
    backwards = client.get(
        f"/hos/logs?driver_id={driver.id}&start_date=2025-03-02&end_date=2025-03-01", headers=viewer
    )
    assert backwards.status_code == 422
    too_long = client.get(
        f"/hos/logs?driver_id={driver.id}&start_date=2025-01-01&end_date=2025-03-01", headers=viewer
    )
    assert too_long.status_code == 422
    assert (
        client.get("/hos/logs?driver_id=999999&start_date=2025-03-01", headers=viewer).status_code
        == 404
    )


def test_violations_filters(client, session, viewer) -> None:
    ann = make_driver(session, terminal="Dallas")
    bob = make_driver(session, terminal="Memphis")
    old = make_violation(session, driver=ann, started_at=T0 - timedelta(days=3))
    new = make_violation(session, driver=ann, started_at=T0, violation_type="cycleHoursOn")
    other = make_violation(session, driver=bob, started_at=T0 - timedelta(days=1))

    def ids(query: str) -> list[int]:
        response = client.get(f"/hos/violations?{query}", headers=viewer)
        assert response.status_code == 200, response.text
        return [v["id"] for v in response.json()["items"]]

    assert ids("") == [new.id, other.id, old.id]
    assert ids(f"driver_id={ann.id}") == [new.id, old.id]
    assert ids("violation_type=cycleHoursOn") == [new.id]
    assert ids("terminal=Memphis") == [other.id]
    assert ids("start=2025-02-27T00:00:00Z&end=2025-03-01T00:00:00Z") == [other.id]
    assert ids("sort=started_at&limit=1") == [old.id]
    first = client.get("/hos/violations", headers=viewer).json()["items"][0]
    assert first["driver"]["id"] == ann.id
    bad = client.get(
        "/hos/violations?start=2025-03-02T00:00:00Z&end=2025-03-01T00:00:00Z", headers=viewer
    )
    assert bad.status_code == 422


def test_permissions_and_query_counts(client, session, auth_headers, query_counter) -> None:
    assert client.get("/hos/clocks").status_code == 401
    denied = auth_headers(permissions=[Permission.DRIVERS_READ])
    for url in ("/hos/clocks", "/hos/violations", "/hos/logs?driver_id=1&start_date=2025-03-01"):
        assert client.get(url, headers=denied).status_code == 403
    viewer = auth_headers(role="viewer")
    for _ in range(2):
        driver = make_driver(session)
        make_hos_clock(session, driver=driver)
        make_violation(session, driver=driver)

    def grow() -> None:
        for _ in range(8):
            driver = make_driver(session)
            make_hos_clock(session, driver=driver)
            make_violation(session, driver=driver)

    assert_constant_queries(client, "/hos/clocks", viewer, query_counter, grow)
    assert_constant_queries(client, "/hos/violations", viewer, query_counter, grow)


def test_driver_logs_run_a_constant_number_of_queries(
    client, session, auth_headers, query_counter
) -> None:
    viewer = auth_headers(role="viewer")
    driver = make_driver(session)
    url = f"/hos/logs?driver_id={driver.id}&start_date=2025-03-01"

    def add_logs(count: int, first_hour: int) -> None:
        for hour in range(first_hour, first_hour + count):
            make_hos_log(session, driver=driver, start_at=datetime(2025, 3, 1, hour, tzinfo=UTC))

    add_logs(2, 0)
    client.get(url, headers=viewer)  # warm caches
    query_counter.reset()
    assert len(client.get(url, headers=viewer).json()) == 2
    few = query_counter.count
    add_logs(10, 2)
    query_counter.reset()
    assert len(client.get(url, headers=viewer).json()) == 12
    assert query_counter.count == few
