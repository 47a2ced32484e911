"""`cannot_legally_make_appointment`: legal ETA misses the window while the physical one does
not; the card names the binding clock; the ladder's call is an HOS check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from config import Settings
from logic.alerts import engine
from logic.alerts.ladder import CALL_PURPOSE
from logic.alerts.legal_detector import binding_phrase
from models.alert import Alert, AlertType
from models.call import CallPurpose
from models.trip import TripStatus
from tests.factories import make_driver, make_hos_clock, make_location, make_trip, make_vehicle
from utils.slack_client import build_slack_client

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 10:00 CDT
MEMPHIS = (35.1495, -90.049)
# 100 road miles north of Memphis: a 2-hour leg at the default 50 mph and 1.2 road factor.
NORTH = (MEMPHIS[0] + 100 / 1.2 / 69.09, MEMPHIS[1])


def trip_with_clock(session, *, shift_left: int, appointment_end: datetime):
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
                "state": "TN",
                "appointment_end": appointment_end,
            }
        ],
    )
    make_location(
        session, vehicle=truck, recorded_at=NOW, latitude=MEMPHIS[0], longitude=MEMPHIS[1]
    )
    make_hos_clock(
        session,
        driver=driver,
        as_of=NOW,
        drive_remaining_minutes=300,
        shift_remaining_minutes=shift_left,
    )
    return trip


def test_thirty_minutes_of_window_left_and_a_two_hour_leg(session):
    # The truck gets there at 12:00 CDT, inside a window ending 14:00; the driver's 14-hour
    # window ends at 10:30, so legally she arrives after a 10-hour reset.
    trip = trip_with_clock(session, shift_left=30, appointment_end=NOW + timedelta(hours=4))
    fine = trip_with_clock(session, shift_left=600, appointment_end=NOW + timedelta(hours=4))

    result = engine.evaluate(
        session, now=NOW, types=["late_for_appointment", "cannot_legally_make_appointment"]
    )

    assert result.by_type == {"late_for_appointment": 0, "cannot_legally_make_appointment": 1}
    alert = session.scalars(select(Alert)).one()
    assert alert.type == AlertType.CANNOT_LEGALLY_MAKE_APPOINTMENT and alert.trip_id == trip.id
    assert alert.trip_id != fine.id
    assert alert.message.startswith("14-hour window ends Tue 10:30 CDT, 1 h 30 min before arrival")
    assert alert.details["binding_clock"] == "shift"
    assert alert.details["legal_late_minutes"] > 400


def test_physically_late_trips_stay_late_for_appointment(session):
    trip_with_clock(session, shift_left=30, appointment_end=NOW + timedelta(hours=1))
    result = engine.evaluate(
        session, now=NOW, types=["late_for_appointment", "cannot_legally_make_appointment"]
    )
    assert result.by_type == {"late_for_appointment": 1, "cannot_legally_make_appointment": 0}


def test_the_card_reaches_slack_and_the_ladder_calls_for_an_hos_check(session, sandbox_clean):
    trip_with_clock(session, shift_left=30, appointment_end=NOW + timedelta(hours=4))
    slack = build_slack_client(Settings(**sandbox_clean.settings_env()), sleep=lambda _s: None)

    result = engine.run_evaluation(now=NOW, slack=slack)

    assert result.by_type["cannot_legally_make_appointment"] == 1
    assert result.delivery["sent"] >= 1
    messages = httpx.get(f"{sandbox_clean.url}/_sandbox/slack/messages").json()["messages"]
    assert any("14-hour window ends" in str(m["blocks"]) for m in messages)
    assert CALL_PURPOSE[AlertType.CANNOT_LEGALLY_MAKE_APPOINTMENT] == CallPurpose.HOS_CHECK


def test_binding_phrase_names_the_clock_and_the_margin() -> None:
    binds = datetime(2026, 3, 10, 22, 40, tzinfo=UTC)
    arrival = binds + timedelta(hours=2)
    assert (
        binding_phrase("shift", binds, arrival, "America/Chicago")
        == "14-hour window ends Tue 17:40 CDT, 2 h before arrival"
    )
    assert binding_phrase("cycle", binds, None, "America/Chicago").startswith("70-hour cycle")
    assert (
        binding_phrase("shift", binds, arrival, "America/Chicago", now=binds)
        == "14-hour window already used up (Tue 17:40 CDT)"
    )
