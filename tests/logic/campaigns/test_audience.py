"""Audience filters on hand-made data: each kind picks exactly the drivers it should, once each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from helpers.errors import Unprocessable
from logic.calls.audience import audience_query, preview
from models.alert import AlertStatus, AlertType
from models.campaign import (
    AlertAudience,
    DriverListAudience,
    HosViolationAudience,
    LateTripAudience,
    SafetyEventAudience,
)
from models.driver import DriverStatus
from models.trip import TripStatus
from tests.factories import make_driver, make_safety_event, make_trip, make_violation
from tests.logic.campaigns.support import make_alert

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def rows(session, audience):
    return sorted(tuple(r) for r in session.execute(audience_query(session, audience, NOW)))


def test_explicit_driver_list_dedupes_and_refuses_unknown_ids(session):
    a, b = make_driver(session), make_driver(session)
    got = rows(session, DriverListAudience(kind="drivers", driver_ids=[b.id, a.id, a.id]))
    assert got == sorted([(a.id, None, None), (b.id, None, None)])
    with pytest.raises(Unprocessable, match="unknown driver ids: 999999"):
        audience_query(session, DriverListAudience(kind="drivers", driver_ids=[a.id, 999999]), NOW)


def test_hos_violations_in_window_and_not_resolved(session):
    recent = make_driver(session)
    make_violation(session, driver=recent, started_at=NOW - timedelta(days=2))
    make_violation(
        session, driver=recent, started_at=NOW - timedelta(days=1), violation_type="cycleHours"
    )
    old = make_driver(session)
    make_violation(session, driver=old, started_at=NOW - timedelta(days=8))
    resolved = make_driver(session)
    make_violation(session, driver=resolved, started_at=NOW - timedelta(days=3))
    make_alert(
        session,
        driver=resolved,
        type=AlertType.HOS_VIOLATION,
        status=AlertStatus.RESOLVED,
        resolved_at=NOW - timedelta(days=2),
    )
    # Resolved before the violation happened: the new violation is still open.
    again = make_driver(session)
    make_violation(session, driver=again, started_at=NOW - timedelta(days=1))
    make_alert(
        session,
        driver=again,
        type=AlertType.HOS_VIOLATION,
        status=AlertStatus.RESOLVED,
        resolved_at=NOW - timedelta(days=4),
    )
    inactive = make_driver(session, status=DriverStatus.INACTIVE)
    make_violation(session, driver=inactive, started_at=NOW - timedelta(days=1))
    future = make_driver(session)
    make_violation(session, driver=future, started_at=NOW + timedelta(hours=1))

    got = rows(session, HosViolationAudience(kind="hos_violations", days=7))
    assert got == sorted([(recent.id, None, None), (again.id, None, None)])


def test_late_trips_by_threshold_with_the_latest_trip_as_context(session):
    late = make_driver(session)
    make_trip(session, driver=late, status=TripStatus.IN_TRANSIT, late_risk_minutes=45)
    worst = make_trip(session, driver=late, status=TripStatus.DISPATCHED, late_risk_minutes=90)
    barely = make_driver(session)
    make_trip(session, driver=barely, status=TripStatus.IN_TRANSIT, late_risk_minutes=30)
    delivered = make_driver(session)
    make_trip(session, driver=delivered, status=TripStatus.DELIVERED, late_risk_minutes=200)
    make_trip(session, driver=None, status=TripStatus.IN_TRANSIT, late_risk_minutes=200)

    got = rows(session, LateTripAudience(kind="late_trips", minutes=30))
    assert got == [(late.id, worst.id, None)]


def test_safety_events_by_label_case_insensitive_since_a_date(session):
    speeder = make_driver(session)
    make_safety_event(
        session, driver=speeder, behavior_labels=["Speeding"], occurred_at=NOW - timedelta(days=1)
    )
    make_safety_event(
        session, driver=speeder, behavior_labels=["speeding"], occurred_at=NOW - timedelta(hours=1)
    )
    braker = make_driver(session)
    make_safety_event(
        session,
        driver=braker,
        behavior_labels=["followingDistanceSevere", "braking"],
        occurred_at=NOW - timedelta(days=2),
    )
    before = make_driver(session)
    make_safety_event(
        session, driver=before, behavior_labels=["braking"], occurred_at=NOW - timedelta(days=9)
    )
    # A label that only contains the asked one is not a match.
    other = make_driver(session)
    make_safety_event(
        session,
        driver=other,
        behavior_labels=["followingDistanceSevere"],
        occurred_at=NOW - timedelta(days=1),
    )
    audience = SafetyEventAudience(
        kind="safety_events",
        types=["speeding", "BRAKING", "followingDistance"],
        since=NOW - timedelta(days=7),
    )
    assert rows(session, audience) == sorted([(speeder.id, None, None), (braker.id, None, None)])


def test_alerts_give_their_drivers_once_with_the_newest_alert_as_context(session):
    a, b = make_driver(session), make_driver(session)
    trip = make_trip(session, driver=a)
    first = make_alert(session, driver=a, trip_id=trip.id)
    newest = make_alert(session, driver=a, type=AlertType.HOS_DRIVE_TIME_LOW, trip_id=trip.id)
    other = make_alert(session, driver=b, type=AlertType.SPEEDING)
    no_driver = make_alert(session, driver=None, type=AlertType.GPS_STALE)
    audience = AlertAudience(kind="alerts", alert_ids=[first.id, newest.id, other.id, no_driver.id])
    assert rows(session, audience) == sorted([(a.id, trip.id, newest.id), (b.id, None, other.id)])


def test_preview_counts_and_lists_the_first_drivers_flagging_do_not_call(session):
    drivers = [make_driver(session, do_not_call=(i == 1)) for i in range(5)]
    for driver in drivers:
        make_violation(session, driver=driver, started_at=NOW - timedelta(days=1))
    result = preview(session, HosViolationAudience(kind="hos_violations", days=7), NOW, limit=3)
    assert result.count == 5
    assert [d.driver_id for d in result.drivers] == sorted(d.id for d in drivers)[:3]
    assert [d.do_not_call for d in result.drivers] == [False, True, False]
    assert result.drivers[0].name == drivers[0].full_name


def test_preview_statement_matches_what_creation_inserts(session):
    """The one statement feeds both; an audience is never re-resolved differently."""
    driver = make_driver(session)
    make_violation(session, driver=driver, started_at=NOW - timedelta(days=1))
    stmt = audience_query(session, HosViolationAudience(kind="hos_violations", days=7), NOW)
    assert session.execute(select(stmt.subquery().c.driver_id)).scalars().all() == [driver.id]
