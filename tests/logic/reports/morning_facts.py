"""Hand-made facts for the morning report tests: one terminal, yesterday's loads and calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from models.trip import StopStatus, TripStatus
from tests.factories import make_driver, make_hos_clock, make_trip, make_violation
from tests.factories_reports import make_alert, make_call, make_insight, make_recipients

REPORT_DATE = date(2026, 3, 11)  # the morning the report is read
YESTERDAY_START = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)  # local midnight in Chicago
NOW = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)  # 07:00 in Chicago


@dataclass
class Facts:
    on_time: object
    late: object
    careful: object
    risky: object


def make_morning_facts(session, *, slack_channels=("#ops-memphis",), emails=("ops@example.com",)):
    make_recipients(
        session,
        terminal="Memphis",
        slack_channels=list(slack_channels),
        emails=list(emails),
    )
    careful = make_driver(session, first_name="Casey", last_name="Careful")
    risky = make_driver(session, first_name="Riley", last_name="Risky")
    noon = YESTERDAY_START + timedelta(hours=12)
    on_time = make_trip(
        session,
        driver=careful,
        customer="Acme Foods",
        status=TripStatus.DELIVERED,
        scheduled_start=noon - timedelta(hours=8),
        scheduled_end=noon,
        actual_end=noon - timedelta(minutes=5),
        planned_miles=300.0,
        stops=[
            {
                "status": StopStatus.DEPARTED,
                "appointment_end": noon,
                "arrived_at": noon - timedelta(minutes=30),
                "departed_at": noon - timedelta(minutes=5),
            }
        ],
    )
    late = make_trip(
        session,
        driver=risky,
        customer="Beta Retail",
        status=TripStatus.DELIVERED,
        scheduled_start=noon - timedelta(hours=8),
        scheduled_end=noon,
        actual_end=noon + timedelta(minutes=100),
        planned_miles=200.0,
        stops=[
            {
                "status": StopStatus.DEPARTED,
                "appointment_end": noon,
                "arrived_at": noon + timedelta(minutes=45),
                "departed_at": noon + timedelta(minutes=100),
            }
        ],
    )
    for hours in (1, 2, 3):
        make_violation(session, driver=risky, started_at=YESTERDAY_START + timedelta(hours=hours))
    make_hos_clock(session, driver=risky, drive_remaining_minutes=30, as_of=NOW)
    make_alert(
        session,
        type="hos_violation",
        severity="critical",
        driver_id=risky.id,
        first_seen_at=noon,
        title="Riley Risky: HOS violation",
    )
    call = make_call(session, driver_id=risky.id, trip_id=late.id, created_at=noon)
    make_insight(
        session,
        call=call,
        issues=["shipper_delay"],
        reported_delay_minutes=45,
        needs_follow_up=True,
        follow_up_reason="receiver wants a new appointment",
    )
    make_call(session, driver_id=careful.id, created_at=noon, outcome="no_answer")
    return Facts(on_time=on_time, late=late, careful=careful, risky=risky)
