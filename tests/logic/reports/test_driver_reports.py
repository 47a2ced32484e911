"""Driver report metrics on hand-made facts: each metric, the local-day edges, regeneration."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from config import get_settings
from logic.reports.driver_reports import build_driver_reports, compute_metrics
from logic.reports.sql import local_day_window
from models.hos import DutyStatus
from models.report import DriverReport
from models.trip import StopStatus, TripStatus
from tests.factories import (
    make_driver,
    make_hos_log,
    make_location,
    make_safety_event,
    make_stop,
    make_trip,
    make_vehicle,
    make_violation,
)
from tests.factories_reports import make_alert, make_call, make_insight, make_recipients

DAY = date(2026, 3, 10)  # a plain Tuesday; Chicago is UTC-5 (CDT) that day
START = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)  # local midnight in Chicago
NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)


def _metrics(session, day=DAY):
    return {row["driver_id"]: row for row in compute_metrics(session, day, now=NOW)}


def test_window_follows_the_zone_including_dst():
    assert local_day_window(DAY, "America/Chicago") == (START, START + timedelta(hours=24))
    start, end = local_day_window(date(2026, 3, 8), "America/Chicago")  # spring forward
    assert (start, end - start) == (datetime(2026, 3, 8, 6, 0, tzinfo=UTC), timedelta(hours=23))
    start, end = local_day_window(date(2026, 11, 1), "America/Chicago")  # fall back
    assert end - start == timedelta(hours=25)


def test_on_time_boundary_and_late_minutes(session):
    driver = make_driver(session)
    trip = make_trip(session, driver=driver, status=TripStatus.DELIVERED)
    deadline = START + timedelta(hours=10)
    for sequence, arrived in enumerate(
        [deadline, deadline + timedelta(minutes=30), deadline - timedelta(hours=1)], start=1
    ):
        make_stop(
            session,
            trip=trip,
            sequence=sequence,
            status=StopStatus.DEPARTED,
            appointment_start=deadline - timedelta(hours=2),
            appointment_end=deadline,
            arrived_at=arrived,
            departed_at=arrived + timedelta(minutes=20),
        )
    # No appointment end: its start is the deadline; one second late is late.
    make_stop(
        session,
        trip=trip,
        sequence=4,
        appointment_start=deadline,
        arrived_at=deadline + timedelta(seconds=1),
    )
    row = _metrics(session)[driver.id]
    assert row["stops_completed"] == 4
    assert (row["stops_with_appointment"], row["stops_on_time"]) == (4, 2)
    assert row["on_time_pct"] == 50.0
    assert row["late_minutes"] == pytest.approx(30.0 + 1 / 60, abs=0.01)


def test_local_midnight_splits_the_days(session):
    driver = make_driver(session, timezone="America/Chicago")
    just_before = START - timedelta(seconds=1)  # 23:59:59 the day before, local time
    make_violation(session, driver=driver, started_at=just_before)
    make_violation(session, driver=driver, violation_type="cycleHours", started_at=START)
    make_safety_event(session, driver=driver, occurred_at=START + timedelta(hours=23, minutes=59))
    make_safety_event(session, driver=driver, occurred_at=START + timedelta(hours=24))
    today, before = _metrics(session)[driver.id], _metrics(session, DAY - timedelta(1))[driver.id]
    assert today["hos_violations_by_type"] == {"cycleHours": 1}
    assert before["hos_violations_by_type"] == {"shiftDrivingHours": 1}
    assert today["safety_events"] == 1


def test_the_terminal_zone_wins_over_the_drivers_own(session):
    make_recipients(session, terminal="Phoenix", timezone="America/Phoenix")
    driver = make_driver(session, terminal="Phoenix", timezone="America/New_York")
    row = _metrics(session)[driver.id]
    assert row["timezone"] == "America/Phoenix"
    assert row["window_start"] == datetime(2026, 3, 10, 7, 0, tzinfo=UTC)


def test_dst_day_counts_23_hours_of_duty(session):
    driver = make_driver(session)
    day = date(2026, 3, 8)
    start, end = local_day_window(day, "America/Chicago")
    make_hos_log(
        session, driver=driver, start_at=start - timedelta(hours=1), end_at=end + timedelta(hours=1)
    )
    row = _metrics(session, day)[driver.id]
    assert row["drive_hours"] == 23.0 and row["on_duty_hours"] == 23.0


def test_duty_hours_are_clipped_and_typed(session):
    driver = make_driver(session)
    make_hos_log(
        session,
        driver=driver,
        start_at=START - timedelta(hours=2),
        end_at=START + timedelta(hours=3),
    )
    make_hos_log(
        session,
        driver=driver,
        duty_status=DutyStatus.ON_DUTY,
        start_at=START + timedelta(hours=3),
        end_at=START + timedelta(hours=4, minutes=30),
    )
    make_hos_log(
        session,
        driver=driver,
        duty_status=DutyStatus.OFF_DUTY,
        start_at=START + timedelta(hours=4, minutes=30),
        end_at=START + timedelta(hours=14),
    )
    row = _metrics(session)[driver.id]
    assert (row["drive_hours"], row["on_duty_hours"]) == (3.0, 4.5)


def test_miles_from_positions_else_trip_miles(session):
    with_gps, without_gps = make_driver(session), make_driver(session, first_name="Lee")
    truck = make_vehicle(session)
    make_trip(
        session,
        driver=with_gps,
        vehicle=truck,
        status=TripStatus.DELIVERED,
        actual_start=START + timedelta(hours=6),
        actual_end=START + timedelta(hours=12),
        planned_miles=999.0,
    )
    for hour, odometer in ((5, 1000.0), (7, 1100.0), (11, 1350.5), (13, 1400.0)):
        make_location(
            session,
            vehicle=truck,
            recorded_at=START + timedelta(hours=hour),
            odometer_miles=odometer,
        )
    make_trip(
        session,
        driver=without_gps,
        status=TripStatus.DELIVERED,
        actual_end=START + timedelta(hours=20),
        planned_miles=412.0,
    )
    rows = _metrics(session)
    assert (rows[with_gps.id]["miles"], rows[with_gps.id]["miles_source"]) == (250.5, "positions")
    assert (rows[without_gps.id]["miles"], rows[without_gps.id]["miles_source"]) == (412.0, "trips")
    assert rows[with_gps.id]["trips_completed"] == 1


def _track(session, truck, start, points=5, step_minutes=15):
    """Positions due north 0.25 degrees apart (17.27 miles a hop), no odometer: what the
    Samsara location feed gives."""
    for i in range(points):
        make_location(
            session,
            vehicle=truck,
            recorded_at=start + timedelta(minutes=step_minutes * i),
            latitude=35.0 + 0.25 * i,
            longitude=-90.0,
        )


ONE_DEGREE_MILES = 69.09  # of latitude, on the 3958.8-mile sphere


def test_miles_come_from_the_truck_the_hos_logs_name(session):
    """Issue 21.3: the driver logged 11 h driving truck A, whose GPS track is the only record of
    the miles (no odometer, no delivered trip); the trip names truck B. Main reported 0 miles."""
    driver = make_driver(session)
    truck_a, truck_b = make_vehicle(session), make_vehicle(session)
    make_trip(
        session,
        driver=driver,
        vehicle=truck_b,
        status=TripStatus.IN_TRANSIT,
        actual_start=START + timedelta(hours=1),
    )
    _track(session, truck_b, START + timedelta(hours=2), points=9)  # someone else drove B
    driving = START + timedelta(hours=2)
    make_hos_log(
        session,
        driver=driver,
        vehicle=truck_a,
        start_at=driving,
        end_at=driving + timedelta(hours=11),
    )
    _track(session, truck_a, driving)  # 4 hops: one degree of latitude
    make_location(  # before the driver took the truck: not theirs
        session,
        vehicle=truck_a,
        recorded_at=driving - timedelta(hours=1),
        latitude=34.0,
        longitude=-90.0,
    )

    row = _metrics(session)[driver.id]

    assert row["drive_hours"] == 11.0
    assert row["miles_source"] == "positions"
    assert row["miles"] == pytest.approx(ONE_DEGREE_MILES, abs=0.05)


def test_miles_from_the_trips_truck_when_the_logs_name_none(session):
    driver = make_driver(session)
    truck = make_vehicle(session)
    make_trip(
        session,
        driver=driver,
        vehicle=truck,
        status=TripStatus.IN_TRANSIT,
        actual_start=START + timedelta(hours=1),
    )
    make_hos_log(  # an ELD log without a vehicle
        session,
        driver=driver,
        start_at=START + timedelta(hours=2),
        end_at=START + timedelta(hours=6),
    )
    _track(session, truck, START + timedelta(hours=2), points=3)
    # A GPS glitch: 300 miles north and back within 15 minutes is not driving.
    make_location(
        session,
        vehicle=truck,
        recorded_at=START + timedelta(hours=3),
        latitude=40.0,
        longitude=-90.0,
    )

    row = _metrics(session)[driver.id]

    assert row["miles_source"] == "positions"
    assert row["miles"] == pytest.approx(ONE_DEGREE_MILES / 2, abs=0.05)


def test_a_track_spanning_little_of_the_driving_gives_way_to_delivered_trip_miles(session):
    """Positions ingested for one hour of a ten-hour drive (a first ingest) are a lower bound:
    the delivered trip's planned miles say more; a track spanning the drive wins."""
    partial, whole = make_driver(session), make_driver(session, first_name="Lee")
    for driver, points, step in ((partial, 5, 15), (whole, 11, 60)):
        truck = make_vehicle(session)
        driving = START + timedelta(hours=2)
        make_hos_log(
            session,
            driver=driver,
            vehicle=truck,
            start_at=driving,
            end_at=driving + timedelta(hours=10),
        )
        _track(session, truck, driving, points=points, step_minutes=step)
        _delivered(session, driver, miles=800.0)

    rows = _metrics(session)

    assert (rows[partial.id]["miles"], rows[partial.id]["miles_source"]) == (800.0, "trips")
    assert rows[whole.id]["miles_source"] == "positions"
    assert rows[whole.id]["miles"] == pytest.approx(2.5 * ONE_DEGREE_MILES, abs=0.1)


def test_a_driver_who_drove_without_any_miles_is_not_scored(session):
    """Issue 21.3: 7 of 25 demo drivers had 0 miles and 9-13 drive hours, one scored 100."""
    driver = make_driver(session)
    make_hos_log(
        session,
        driver=driver,
        start_at=START + timedelta(hours=2),
        end_at=START + timedelta(hours=12),
    )

    build_driver_reports(session, DAY, now=NOW)

    report = session.scalars(select(DriverReport).where(DriverReport.driver_id == driver.id)).one()
    assert (report.miles, report.miles_source, report.drive_hours) == (0.0, "none", 10.0)
    assert report.safety_score is None and report.trend_7d is None
    assert "10 drive hours" in report.score_withheld_reason


def test_events_speeding_alerts_and_calls(session):
    driver = make_driver(session)
    at = START + timedelta(hours=8)
    make_safety_event(session, driver=driver, occurred_at=at, behavior_labels=["HarshBrake"])
    make_safety_event(
        session,
        driver=driver,
        occurred_at=at,
        behavior_labels=["Speeding"],
        severity="high",
        ended_at=at + timedelta(minutes=4),
    )
    make_alert(session, driver_id=driver.id, type="speeding", first_seen_at=at)
    call = make_call(session, driver_id=driver.id, created_at=at)
    make_call(session, driver_id=driver.id, created_at=at, outcome="no_answer")
    make_insight(session, call=call, issues=["traffic", "weather"], needs_follow_up=True)
    row = _metrics(session)[driver.id]
    assert row["safety_events_by_type"] == {"HarshBrake": 1, "Speeding": 1}
    assert row["safety_events_by_severity"] == {"medium": 1, "high": 1}
    assert row["speeding_minutes"] == 4.0
    assert row["alerts_by_type"] == {"speeding": 1}
    assert row["calls"] == 2 and row["call_outcomes"] == {"completed": 1, "no_answer": 1}
    assert row["call_issues"] == {"traffic": 1, "weather": 1} and row["follow_ups"] == 1


def _delivered(session, driver, day_start=START, miles=300.0):
    """A trip delivered that day: the driver's day has a mileage basis (planned miles)."""
    make_trip(
        session,
        driver=driver,
        status=TripStatus.DELIVERED,
        actual_end=day_start + timedelta(hours=20),
        planned_miles=miles,
    )


def test_regenerating_a_date_gives_identical_rows(session):
    driver = make_driver(session)
    _delivered(session, driver)
    make_violation(session, driver=driver, started_at=START + timedelta(hours=1))
    first = build_driver_reports(session, DAY, now=NOW)
    before = _rows(session)
    second = build_driver_reports(session, DAY, now=NOW + timedelta(hours=1))
    assert (first.inserted, second.inserted, second.updated) == (1, 0, 1)
    assert _rows(session) == before
    assert before[0]["safety_score"] == 100 - get_settings().REPORT_SCORE_HOS_VIOLATION


def test_trend_compares_with_the_previous_days(session):
    driver = make_driver(session)
    for offset in range(1, 4):
        _delivered(session, driver, START - timedelta(days=offset))
        build_driver_reports(session, DAY - timedelta(days=offset), now=NOW)
    _delivered(session, driver)
    make_violation(session, driver=driver, started_at=START + timedelta(hours=1))
    build_driver_reports(session, DAY, now=NOW)
    report = session.scalars(select(DriverReport).where(DriverReport.report_date == DAY)).one()
    assert report.score_avg_7d == 100.0 and report.trend_7d == -10.0 and report.trend_30d == -10.0


def test_unscored_earlier_days_leave_no_average(session):
    """A driver whose previous days had no mileage basis has no trend (and the build works)."""
    driver = make_driver(session)
    build_driver_reports(session, DAY - timedelta(days=1), now=NOW)  # no miles: not scored
    _delivered(session, driver)
    build_driver_reports(session, DAY, now=NOW)
    report = session.scalars(select(DriverReport).where(DriverReport.report_date == DAY)).one()
    assert report.safety_score == 100.0
    assert (report.score_avg_7d, report.trend_7d, report.trend_30d) == (None, None, None)


def _rows(session):
    session.expire_all()
    reports = session.scalars(select(DriverReport).order_by(DriverReport.id)).all()
    return [{k: v for k, v in r.model_dump().items() if k != "generated_at"} for r in reports]


def test_detention_hours_count_stops_left_that_day_once(session):
    from logic.trips.stop_visits import close_visit, new_visit

    driver = make_driver(session)
    trip = make_trip(session, driver=driver, status=TripStatus.DELIVERED, stops=2)
    arrived = START + timedelta(hours=8)
    for stop, source, held in (
        (trip.stops[0], "gps", timedelta(hours=3, minutes=30)),  # 90 min billable
        (trip.stops[0], "tms", timedelta(hours=5)),  # the same stop by the TMS: not counted
        (trip.stops[1], "tms", timedelta(hours=2, minutes=30)),  # 30 min, no GPS visit
    ):
        visit = new_visit(stop, trip.customer, source, arrived)
        close_visit(visit, arrived + held)
        session.add(visit)
    session.flush()
    assert _metrics(session)[driver.id]["detention_hours"] == 2.0
