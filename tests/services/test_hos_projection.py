"""`GET /drivers/{id}/hos-projection`: clocks, run-outs, rests and legal ETA per stop; the legal
columns on the trips list."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from helpers.time_utils import utc_now
from logic.trips.eta import compute_etas
from logic.trips.legal_eta import compute_legal_etas
from models.trip import TripStatus
from tests.factories import make_driver, make_hos_clock, make_location, make_trip, make_vehicle

MEMPHIS = (35.1495, -90.049)
NORTH = (MEMPHIS[0] + 100 / 1.2 / 69.09, MEMPHIS[1])  # a 2-hour leg at 50 mph


@pytest.fixture
def viewer(auth_headers):
    return auth_headers(role="viewer")


def driver_on_a_trip(session, *, shift_left: int, clock: bool = True):
    now = utc_now()
    driver = make_driver(session)
    truck = make_vehicle(session)
    trip = make_trip(
        session,
        driver=driver,
        vehicle=truck,
        status=TripStatus.IN_TRANSIT,
        stops=[
            {
                "latitude": NORTH[0],
                "longitude": NORTH[1],
                "appointment_end": now + timedelta(hours=4),
            }
        ],
    )
    make_location(
        session, vehicle=truck, recorded_at=now, latitude=MEMPHIS[0], longitude=MEMPHIS[1]
    )
    if clock:
        make_hos_clock(
            session,
            driver=driver,
            as_of=now,
            drive_remaining_minutes=300,
            shift_remaining_minutes=shift_left,
        )
    return driver, trip


def test_projection_names_the_window_the_reset_and_the_legal_eta(client, session, viewer):
    driver, trip = driver_on_a_trip(session, shift_left=30)
    session.commit()

    response = client.get(f"/drivers/{driver.id}/hos-projection", headers=viewer)

    assert response.status_code == 200, response.text
    body = response.json()
    now = datetime.fromisoformat(body["computed_at"])
    assert body["trip_id"] == trip.id and body["binding_clock"] == "shift"
    clocks = {c["clock"]: c for c in body["clocks"]}
    assert clocks["shift"]["minutes_left"] == pytest.approx(30, abs=1)
    window_ends = datetime.fromisoformat(clocks["shift"]["runs_out_at"])
    assert (window_ends - now).total_seconds() == pytest.approx(30 * 60, abs=90)
    assert clocks["drive"]["runs_out_at"] is None
    [rest] = body["rests"]
    assert rest["kind"] == "reset" and rest["clock"] == "shift"
    [stop] = body["stops"]
    physical = datetime.fromisoformat(stop["eta_no_rest"]) - now
    legal = datetime.fromisoformat(stop["eta_legal"]) - now
    assert physical.total_seconds() / 60 == pytest.approx(120, abs=2)
    assert legal.total_seconds() / 60 == pytest.approx(720, abs=2)
    assert stop["legal_late_minutes"] > 400
    # What is left to drive, on the same route the ETAs use (a 100-mile leg at 50 mph).
    assert body["miles_left"] == pytest.approx(100, abs=2)
    assert body["drive_minutes_left"] == pytest.approx(120, abs=2)


def test_unknown_driver_or_no_clock_is_404_and_viewers_need_hos_read(
    client, session, viewer, auth_headers
):
    driver, _ = driver_on_a_trip(session, shift_left=30, clock=False)
    session.commit()
    assert client.get("/drivers/999999/hos-projection", headers=viewer).status_code == 404
    missing = client.get(f"/drivers/{driver.id}/hos-projection", headers=viewer)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert client.get(f"/drivers/{driver.id}/hos-projection").status_code == 401


def test_trips_list_shows_the_legal_eta_and_binding_clock(client, session, viewer):
    _, trip = driver_on_a_trip(session, shift_left=30)
    now = utc_now()
    compute_legal_etas(session, compute_etas(session, now=now), now=now)
    session.commit()

    items = client.get("/trips", headers=viewer).json()["items"]

    [row] = [t for t in items if t["id"] == trip.id]
    assert row["hos_binding_clock"] == "shift"
    legal = datetime.fromisoformat(row["eta_next_stop_legal"])
    physical = datetime.fromisoformat(row["eta_next_stop"])
    assert (legal - physical).total_seconds() / 3600 == pytest.approx(10, abs=0.1)
