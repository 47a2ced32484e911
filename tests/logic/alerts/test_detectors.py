"""Each detector fires on its condition and stays quiet at (and just inside) its boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from logic.alerts import detectors
from logic.alerts.detectors import DetectorContext, IncompleteDetection
from logic.alerts.rules import load_rules
from logic.trips.eta import compute_etas
from models.hos import DutyStatus
from models.ingest import IngestRun, IngestStatus
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

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def run(session, alert_type: str, ctx: DetectorContext | None = None, now=NOW, **params):
    rule = load_rules(session).for_type(alert_type)
    if params:
        from dataclasses import replace

        rule = replace(rule, params={**rule.params, **params})
    return detectors.DETECTORS[alert_type](session, rule, now, ctx or DetectorContext())


def trip_with_truck(session, *, status=TripStatus.IN_TRANSIT, stops=None):
    driver = make_driver(session)
    vehicle = make_vehicle(session)
    trip = make_trip(session, driver=driver, vehicle=vehicle, status=status, stops=stops or 0)
    return trip, driver, vehicle


def test_late_for_appointment_fires_past_the_window_and_not_on_time(session):
    # Memphis → Dallas is ~420 road miles: ~8.4 h at 50 mph.
    far = {"latitude": 32.7767, "longitude": -96.797}
    late_trip, _, truck = trip_with_truck(
        session, stops=[{**far, "appointment_end": NOW + timedelta(hours=4)}]
    )
    ok_trip, _, truck2 = trip_with_truck(
        session, stops=[{**far, "appointment_end": NOW + timedelta(hours=12)}]
    )
    for vehicle in (truck, truck2):
        make_location(session, vehicle=vehicle, recorded_at=NOW - timedelta(minutes=1))
    compute_etas(session, now=NOW)

    found = run(session, "late_for_appointment")
    assert [c.fingerprint for c in found] == [f"late_for_appointment:trip:{late_trip.id}"]
    assert found[0].details["late_minutes"] > 200
    assert ok_trip.id not in [c.trip_id for c in found]


def test_late_for_appointment_boundary_is_strictly_after_the_grace(session):
    trip, _, _ = trip_with_truck(session, stops=1)
    trip.late_risk_minutes = 10
    session.flush()
    assert run(session, "late_for_appointment", grace_minutes=10) == []
    assert len(run(session, "late_for_appointment", grace_minutes=9)) == 1


def test_hos_drive_time_low_fires_below_threshold_on_an_active_trip(session):
    _trip, driver, _ = trip_with_truck(session)
    make_hos_clock(session, driver=driver, drive_remaining_minutes=59)
    [found] = run(session, "hos_drive_time_low")
    assert found.fingerprint == f"hos_drive_time_low:driver:{driver.id}"
    assert found.details["drive_minutes_left"] == 59


@pytest.mark.parametrize(
    ("minutes", "duty", "status"),
    [
        (60, DutyStatus.DRIVING, TripStatus.IN_TRANSIT),  # exactly at the threshold
        (30, DutyStatus.SLEEPER_BERTH, TripStatus.IN_TRANSIT),  # resting: the rest is the fix
        (30, DutyStatus.DRIVING, TripStatus.DELIVERED),  # no active trip
    ],
)
def test_hos_drive_time_low_stays_quiet(session, minutes, duty, status):
    _, driver, _ = trip_with_truck(session, status=status)
    make_hos_clock(session, driver=driver, drive_remaining_minutes=minutes, duty_status=duty)
    assert run(session, "hos_drive_time_low") == []


def test_hos_violation_reports_the_newest_violation_within_the_lookback(session):
    driver = make_driver(session)
    make_violation(session, driver=driver, started_at=NOW - timedelta(hours=25))
    assert run(session, "hos_violation") == []
    newest = make_violation(
        session, driver=driver, violation_type="cycleHours", started_at=NOW - timedelta(hours=2)
    )
    [found] = run(session, "hos_violation")
    assert found.occurrence_key == f"violation:{newest.id}"
    assert found.fingerprint == f"hos_violation:driver:{driver.id}"


def test_harsh_event_fires_for_harsh_labels_and_crash_is_critical(session):
    _, driver, truck = trip_with_truck(session)
    make_safety_event(
        session, driver=driver, vehicle=truck, occurred_at=NOW - timedelta(minutes=61)
    )
    assert run(session, "harsh_event") == []  # outside the 60 min lookback
    make_safety_event(
        session,
        driver=driver,
        vehicle=truck,
        occurred_at=NOW - timedelta(minutes=5),
        behavior_labels=["speeding"],
    )
    assert run(session, "harsh_event") == []  # speeding is not a harsh event
    crash = make_safety_event(
        session,
        driver=driver,
        vehicle=truck,
        occurred_at=NOW - timedelta(minutes=2),
        behavior_labels=["crash"],
    )
    [found] = run(session, "harsh_event")
    assert found.severity == "critical" and found.occurrence_key == f"safety:{crash.id}"


@pytest.mark.parametrize(
    ("label", "harsh", "severity"),
    [
        ("braking", True, None),
        ("Acceleration", True, None),
        ("harshTurn", True, None),
        ("nearCollison", True, None),  # Samsara's spelling
        ("forwardCollisionWarning", True, None),
        ("Crash", True, "critical"),
        ("genericTailgating", False, None),
    ],
)
def test_harsh_event_reads_samsaras_spec_labels(session, label, harsh, severity):
    _, driver, truck = trip_with_truck(session)
    make_safety_event(
        session,
        driver=driver,
        vehicle=truck,
        occurred_at=NOW - timedelta(minutes=2),
        behavior_labels=[label],
    )
    found = run(session, "harsh_event")
    assert len(found) == int(harsh)
    if harsh:
        assert found[0].severity == severity


def test_speeding_from_a_safety_event(session):
    _, driver, truck = trip_with_truck(session)
    make_safety_event(
        session,
        driver=driver,
        vehicle=truck,
        occurred_at=NOW - timedelta(minutes=3),
        behavior_labels=["speeding"],
        speed_mph=82,
    )
    [found] = run(session, "speeding")
    assert found.details["source"] == "safety_event" and found.details["speed_mph"] == 82


def test_speeding_sustained_gps_needs_the_minimum_duration(session):
    _, _, truck = trip_with_truck(session)
    make_location(session, vehicle=truck, recorded_at=NOW - timedelta(minutes=5), speed_mph=60)
    for minute in (4, 3, 2):  # over 75 mph from 4 min ago until 2 min ago: 2 min streak
        make_location(
            session, vehicle=truck, recorded_at=NOW - timedelta(minutes=minute), speed_mph=80
        )
    assert run(session, "speeding", min_duration_minutes=3) == []
    [found] = run(session, "speeding", min_duration_minutes=2)
    assert found.details["source"] == "gps" and found.details["minutes"] == 2
    assert run(session, "speeding", speed_mph=80) == []  # at the limit is not over it


def test_stopped_too_long_fires_away_from_stops_only(session):
    trip, _, truck = trip_with_truck(session, stops=[{"latitude": 32.7767, "longitude": -96.797}])
    make_location(session, vehicle=truck, recorded_at=NOW - timedelta(minutes=60), speed_mph=55)
    for minute in (50, 20, 1):
        make_location(
            session, vehicle=truck, recorded_at=NOW - timedelta(minutes=minute), speed_mph=0
        )
    [found] = run(session, "stopped_too_long")
    assert found.fingerprint == f"stopped_too_long:trip:{trip.id}"
    assert run(session, "stopped_too_long", minutes=61) == []  # moving 60 min ago


def test_stopped_too_long_quiet_at_a_stop_and_when_resting(session):
    _, _driver, truck = trip_with_truck(
        session,
        stops=[{"latitude": 35.1495, "longitude": -90.049}],  # where the truck sits
    )
    make_location(session, vehicle=truck, recorded_at=NOW - timedelta(minutes=90), speed_mph=0)
    make_location(session, vehicle=truck, recorded_at=NOW - timedelta(minutes=1), speed_mph=0)
    assert run(session, "stopped_too_long") == []

    _, driver2, truck2 = trip_with_truck(session)
    make_location(session, vehicle=truck2, recorded_at=NOW - timedelta(minutes=90), speed_mph=0)
    make_location(session, vehicle=truck2, recorded_at=NOW - timedelta(minutes=1), speed_mph=0)
    make_hos_clock(session, driver=driver2, duty_status=DutyStatus.OFF_DUTY)
    assert run(session, "stopped_too_long") == []


def test_gps_stale_fires_after_the_limit_and_for_trucks_never_seen(session):
    stale, _, truck = trip_with_truck(session)
    make_location(session, vehicle=truck, recorded_at=NOW - timedelta(minutes=31))
    _fresh, _, truck2 = trip_with_truck(session)
    make_location(session, vehicle=truck2, recorded_at=NOW - timedelta(minutes=30))
    never, _, _ = trip_with_truck(session, status=TripStatus.DISPATCHED)
    _done, _, _truck4 = trip_with_truck(session, status=TripStatus.DELIVERED)

    found = {c.trip_id: c for c in run(session, "gps_stale")}
    assert set(found) == {stale.id, never.id}
    assert found[stale.id].details["last_position_at"] == (NOW - timedelta(minutes=31)).isoformat()
    assert found[stale.id].title.startswith("GPS lost: truck")
    assert found[never.id].title.startswith("No GPS yet: truck")
    assert found[never.id].message == "No position yet."


def test_severe_weather_needs_a_weather_client(session):
    with pytest.raises(IncompleteDetection):
        run(session, "severe_weather")


def test_integration_stale_fires_without_a_recent_success(session):
    def ingest(source, entity, status, finished):
        session.add(
            IngestRun(
                source=source,
                entity=entity,
                status=status,
                started_at=finished - timedelta(minutes=1),
                finished_at=finished,
            )
        )
        session.flush()

    ingest("samsara", "locations", IngestStatus.SUCCEEDED, NOW - timedelta(minutes=31))
    ingest("samsara", "locations", IngestStatus.FAILED, NOW - timedelta(minutes=1))
    ingest("ditat", "trips", IngestStatus.SUCCEEDED, NOW - timedelta(minutes=30))
    ingest("samsara", "hos", IngestStatus.FAILED, NOW - timedelta(minutes=45))

    found = {c.subject: c for c in run(session, "integration_stale")}
    assert set(found) == {"samsara:locations", "samsara:hos"}
    assert found["samsara:locations"].details["minutes"] == 31


def test_stops_already_left_are_not_the_next_stop(session):
    _trip, _, truck = trip_with_truck(
        session,
        stops=[
            {
                "status": StopStatus.DEPARTED,
                "departed_at": NOW - timedelta(hours=1),
                "appointment_end": NOW - timedelta(hours=2),
            },
            {"appointment_end": NOW + timedelta(days=2)},
        ],
    )
    make_location(session, vehicle=truck, recorded_at=NOW)
    compute_etas(session, now=NOW)
    assert run(session, "late_for_appointment") == []


def test_messages_give_local_times_with_their_zone_and_readable_durations(session):
    # NOW is 15:00 UTC on 2026-03-10: 10:00 CDT, 11:00 EDT, 09:00 MDT.
    trip, driver, truck = trip_with_truck(
        session,
        stops=[{"state": "GA", "appointment_end": NOW - timedelta(minutes=30)}],
    )
    driver.timezone = "America/Denver"
    trip.eta_next_stop, trip.late_risk_minutes = NOW + timedelta(minutes=55), 85
    make_location(session, vehicle=truck, recorded_at=NOW - timedelta(minutes=45))
    make_violation(session, driver=driver, started_at=NOW - timedelta(hours=2))
    session.flush()

    [late] = run(session, "late_for_appointment")
    assert late.message == (
        "ETA Tue 11:55 EDT at Stop 1, 1 h 25 min after the appointment window ends (Tue 10:30 EDT)."
    )  # the appointment's stop is in Georgia
    [stale] = run(session, "gps_stale")
    assert stale.message == "No position since Tue 08:15 MDT."  # the driver's zone
    [violation] = run(session, "hos_violation")
    assert violation.message.endswith(" since Tue 07:00 MDT.")

    driver.timezone = None  # unknown: the rule's quiet-hours zone, the desk's (Chicago)
    session.flush()
    [stale] = run(session, "gps_stale")
    assert stale.message == "No position since Tue 09:15 CDT."
