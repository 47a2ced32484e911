"""Slack cards read like a dispatcher talks: local times with their zone, "1 h 25 min"."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from logic.alerts import outbox
from logic.alerts.slack import alert_zone, render_alert
from models.alert import Alert, AlertRule, AlertStatus
from models.trip import StopStatus
from tests.factories import make_driver, make_trip
from tests.logic.alerts.test_outbox import messages, raise_alerts, slack

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 10:00 CDT (DST began on March 8)


def _card_text(blocks) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def _alert(**extra) -> Alert:
    fields = {
        "id": 7, "type": "late_for_appointment", "fingerprint": "late_for_appointment:trip:1",
        "title": "Late for appointment: L1", "message": "ETA past the window.",
        "first_seen_at": datetime(2026, 3, 10, 14, 55, 12, 345678, tzinfo=UTC),
        "last_seen_at": NOW, "created_at": NOW,
    }  # fmt: skip
    return Alert(**{**fields, **extra})


def test_card_shows_local_times_with_their_zone_and_readable_durations():
    details = {
        "eta": "2026-03-10T19:05:41.123456+00:00",
        "late_minutes": 85,
        "drive_minutes_left": 45,
        "speed_mph": 71.0,
    }
    _, blocks = render_alert(_alert(details=details), zone="America/Chicago")
    card = _card_text(blocks)
    assert "*ETA:*\\nTue 14:05 CDT" in card
    assert "*Late by:*\\n1 h 25 min" in card
    assert "*Drive time left:*\\n45 min" in card
    assert "*Speed:*\\n71 mph" in card
    assert "first seen Tue 09:55 CDT" in card
    assert "2026-03-10T19:05" not in card and ".123456" not in card and "(min)" not in card


def test_status_line_uses_the_zone_and_no_zone_means_utc():
    alert = _alert(status=AlertStatus.ACKNOWLEDGED, acknowledged_at=NOW)
    _, blocks = render_alert(alert, actor="amy", zone="America/New_York")
    assert "Acknowledged by amy at Tue 11:00 EDT" in _card_text(blocks)
    _, blocks = render_alert(alert, actor="amy")
    assert "Acknowledged by amy at Tue 15:00 UTC" in _card_text(blocks)


def test_an_unreadable_value_is_shown_as_it_is():
    _, blocks = render_alert(_alert(details={"eta": "soon", "late_minutes": "n/a"}))
    card = _card_text(blocks)
    assert "*ETA:*\\nsoon" in card and "*Late by:*\\nn/a" in card


def test_zone_is_a_late_loads_stop_else_the_drivers_else_the_rules(session):
    driver = make_driver(session, timezone="America/Denver")
    trip = make_trip(
        session,
        driver=driver,
        stops=[
            {"state": "GA", "status": StopStatus.DEPARTED, "departed_at": NOW},
            {"state": "TX"},
            {"state": "CA"},
        ],
    )
    rule = AlertRule(
        type="late_for_appointment",
        name="late",
        quiet_hours_timezone="America/Phoenix",
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(rule)
    session.flush()
    late = _alert(trip_id=trip.id, driver_id=driver.id)
    assert alert_zone(session, late) == "America/Chicago"  # the next stop, in Texas
    no_state = make_trip(session, driver=driver, stops=[{"state": None}])
    assert alert_zone(session, _alert(trip_id=no_state.id, driver_id=driver.id)) == "America/Denver"
    stale = _alert(type="gps_stale", trip_id=trip.id, driver_id=driver.id)
    assert alert_zone(session, stale) == "America/Denver"  # not about the stop: the driver's
    assert alert_zone(session, _alert(rule_id=rule.id)) == "America/Phoenix"
    assert alert_zone(session, _alert()) == "America/Chicago"  # the default rules' desk zone
    assert alert_zone(session, _alert(driver_id=make_driver(session, timezone="Nope/X").id)) == (
        "America/Chicago"
    )


def test_a_posted_card_is_in_the_drivers_zone(session, sandbox_clean):
    driver = make_driver(session, timezone="America/Chicago")
    trip = make_trip(session, driver=driver, stops=[{"state": "CA"}])
    [alert] = raise_alerts(session, 1)  # gps_stale
    alert.trip_id, alert.driver_id = trip.id, driver.id
    alert.details = {"last_position_at": "2026-03-10T13:20:00+00:00", "minutes": 100}
    session.flush()

    assert outbox.drain(slack(sandbox_clean), now=NOW).sent == 1
    [message] = messages(sandbox_clean)
    card = _card_text(message["blocks"])
    assert "*Last position:*\\nTue 08:20 CDT" in card and "*For:*\\n1 h 40 min" in card
