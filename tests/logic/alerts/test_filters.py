"""Noise control: dedupe, re-occurrence, cooldown, auto-resolve, minimum duration, quiet hours,
rate limit → digest and escalation, each with the decision it records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from logic.alerts.candidate import Candidate
from logic.alerts.filters import ChannelLimit, apply_filters, quiet_window_end
from logic.alerts.rules import load_rules
from models.alert import Alert, AlertDelivery, AlertRule, AlertStatus, DeliveryKind

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
GPS = "gps_stale"
HARSH = "harsh_event"
LATE = "late_for_appointment"


def cand(type_: str = GPS, subject: str = "trip:1", key: str | None = None, **kw) -> Candidate:
    return Candidate(
        type=type_,
        subject=subject,
        title=f"{type_} {subject}",
        message="m",
        occurrence_key=key,
        **kw,
    )


def rule(session, type_: str = GPS, **kw) -> AlertRule:
    row = AlertRule(name=f"{type_} rule", type=type_, created_at=NOW, updated_at=NOW, **kw)
    session.add(row)
    session.flush()
    return row


def run(session, cands, now=NOW, types=(GPS, HARSH, LATE), limit=None):
    return apply_filters(
        session,
        list(cands),
        rules=load_rules(session),
        evaluated_types=list(types),
        now=now,
        limit=limit or ChannelLimit(max_posts=100),
    )


def alerts(session, fingerprint: str | None = None) -> list[Alert]:
    query = select(Alert).order_by(Alert.id)
    if fingerprint:
        query = query.where(Alert.fingerprint == fingerprint)
    return list(session.scalars(query))


def deliveries(session, kind: str | None = None) -> list[AlertDelivery]:
    query = select(AlertDelivery).order_by(AlertDelivery.id)
    if kind:
        query = query.where(AlertDelivery.kind == kind)
    return list(session.scalars(query))


def test_redetection_bumps_the_one_open_alert_without_a_new_message(session):
    run(session, [cand()])
    report = run(session, [cand(), cand()], now=NOW + timedelta(minutes=5))

    [alert] = alerts(session)
    assert alert.status == AlertStatus.OPEN
    assert alert.occurrences == 2
    assert alert.last_seen_at == NOW + timedelta(minutes=5)
    assert report.bumped == 1 and report.created == 0
    assert [d.kind for d in deliveries(session)] == [DeliveryKind.POST]
    assert [d["decision"] for d in alert.decisions] == ["detected", "notified"]


def test_new_event_under_an_open_alert_is_a_thread_reply_and_same_event_is_ignored(session):
    run(session, [cand(HARSH, "vehicle:7", key="safety:1")])
    run(session, [cand(HARSH, "vehicle:7", key="safety:1")], now=NOW + timedelta(minutes=1))
    [alert] = alerts(session)
    assert alert.occurrences == 1

    run(session, [cand(HARSH, "vehicle:7", key="safety:2")], now=NOW + timedelta(minutes=2))
    session.refresh(alert)
    assert alert.occurrences == 2
    assert alert.occurrence_key == "safety:2"
    [reply] = deliveries(session, DeliveryKind.REPLY)
    assert "Happened again" in reply.payload["text"]


def test_condition_clearing_auto_resolves_and_updates_the_message(session):
    run(session, [cand()])
    report = run(session, [], now=NOW + timedelta(minutes=3))

    [alert] = alerts(session)
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_at == NOW + timedelta(minutes=3)
    assert alert.resolution == "auto-resolved: condition cleared"
    assert report.auto_resolved == 1
    assert [d.kind for d in deliveries(session)] == [DeliveryKind.POST, DeliveryKind.UPDATE]


def test_event_alerts_are_not_auto_resolved_and_failed_detectors_resolve_nothing(session):
    run(session, [cand(HARSH, "vehicle:7", key="safety:1"), cand()])
    run(session, [], now=NOW + timedelta(minutes=3), types=(HARSH,))  # gps_stale did not run

    statuses = {a.type: a.status for a in alerts(session)}
    assert statuses == {HARSH: AlertStatus.OPEN, GPS: AlertStatus.OPEN}


def test_cooldown_after_resolve_suppresses_then_allows_a_new_alert(session):
    rule(session, cooldown_minutes=30)
    run(session, [cand()])
    run(session, [], now=NOW + timedelta(minutes=1))  # resolved at +1

    report = run(session, [cand()], now=NOW + timedelta(minutes=20))
    [resolved] = alerts(session)
    assert report.suppressed_cooldown == 1
    assert resolved.suppressed_count == 1
    assert resolved.decisions[-1]["decision"] == "suppressed"
    assert "30 min cooldown" in resolved.decisions[-1]["reason"]

    run(session, [cand()], now=NOW + timedelta(minutes=31))
    first, second = alerts(session)
    assert second.status == AlertStatus.OPEN and second.id != first.id


def test_resolved_event_is_never_realerted_even_after_the_cooldown(session):
    rule(session, HARSH, cooldown_minutes=0)
    run(session, [cand(HARSH, "vehicle:7", key="safety:1")])
    [alert] = alerts(session)
    alert.status, alert.resolved_at = AlertStatus.RESOLVED, NOW
    session.flush()

    run(session, [cand(HARSH, "vehicle:7", key="safety:1")], now=NOW + timedelta(minutes=5))
    assert len(alerts(session)) == 1
    run(session, [cand(HARSH, "vehicle:7", key="safety:9")], now=NOW + timedelta(minutes=6))
    assert len(alerts(session)) == 2


def test_minimum_duration_holds_the_alert_pending_until_the_condition_lasts(session):
    rule(session, min_duration_minutes=10)
    run(session, [cand()])
    [alert] = alerts(session)
    assert alert.status == AlertStatus.PENDING and deliveries(session) == []

    run(session, [cand()], now=NOW + timedelta(minutes=9, seconds=59))
    session.refresh(alert)
    assert alert.status == AlertStatus.PENDING

    run(session, [cand()], now=NOW + timedelta(minutes=10))
    session.refresh(alert)
    assert alert.status == AlertStatus.OPEN
    assert [d.kind for d in deliveries(session)] == [DeliveryKind.POST]
    assert "lasted 10 min" in alert.decisions[-2]["reason"]


def test_condition_clearing_before_the_minimum_duration_never_notifies(session):
    rule(session, min_duration_minutes=10)
    run(session, [cand()])
    run(session, [], now=NOW + timedelta(minutes=4))

    [alert] = alerts(session)
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolution == "condition cleared before the minimum duration"
    assert deliveries(session) == []


def test_quiet_hours_follow_the_rules_time_zone(session):
    # 03:30 UTC on 2026-03-10 is 23:30 in New York (inside 22:00-06:00) but 20:30 in LA.
    at = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)
    rule(
        session,
        GPS,
        quiet_hours_start="22:00",
        quiet_hours_end="06:00",
        quiet_hours_timezone="America/New_York",
    )
    rule(
        session,
        LATE,
        quiet_hours_start="22:00",
        quiet_hours_end="06:00",
        quiet_hours_timezone="America/Los_Angeles",
        severity="warning",
    )

    run(session, [cand(GPS), cand(LATE, "trip:2")], now=at)

    posts = {d.alert_id: d for d in deliveries(session, DeliveryKind.POST)}
    gps, late = alerts(session)
    # New York's quiet hours end at 06:00 EDT = 10:00 UTC.
    assert posts[gps.id].next_attempt_at == datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    assert posts[gps.id].payload == {"deferred": "quiet_hours"}
    assert gps.decisions[-1]["decision"] == "deferred"
    assert posts[late.id].next_attempt_at == at


def test_critical_alerts_ignore_quiet_hours(session):
    at = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)
    rule(
        session,
        GPS,
        severity="critical",
        quiet_hours_start="22:00",
        quiet_hours_end="06:00",
        quiet_hours_timezone="America/New_York",
    )
    run(session, [cand()], now=at)
    [post] = deliveries(session, DeliveryKind.POST)
    assert post.next_attempt_at == at
    assert alerts(session)[0].decisions[-2]["decision"] == "quiet_hours_bypassed"


def test_quiet_window_end_handles_same_day_overnight_and_dst():
    chicago = "America/Chicago"
    # Same-day window 12:00-13:00 CDT; 17:30 UTC = 12:30 CDT.
    assert quiet_window_end(
        datetime(2026, 7, 1, 17, 30, tzinfo=UTC), "12:00", "13:00", chicago
    ) == datetime(2026, 7, 1, 18, 0, tzinfo=UTC)
    assert (
        quiet_window_end(datetime(2026, 7, 1, 18, 0, tzinfo=UTC), "12:00", "13:00", chicago) is None
    )
    # Overnight window on the night DST starts (2026-03-08): 06:00 CDT is 11:00 UTC, not 12:00.
    assert quiet_window_end(
        datetime(2026, 3, 8, 5, 0, tzinfo=UTC), "22:00", "06:00", chicago
    ) == datetime(2026, 3, 8, 11, 0, tzinfo=UTC)
    assert quiet_window_end(datetime(2026, 3, 8, 5, 0, tzinfo=UTC), None, None, chicago) is None


def test_channel_rate_limit_rolls_overflow_into_one_digest(session):
    limit = ChannelLimit(max_posts=2, window=timedelta(minutes=10))
    report = run(session, [cand(subject=f"trip:{i}") for i in range(5)], limit=limit)

    assert report.posts_enqueued == 2 and report.digested == 3
    [digest] = deliveries(session, DeliveryKind.DIGEST)
    digested = [a for a in alerts(session) if a.decisions[-1]["decision"] == "digested"]
    assert sorted(digest.payload["alert_ids"]) == sorted(a.id for a in digested)
    assert "limit 2" in digested[0].decisions[-1]["reason"]

    # Still inside the window: the next overflow joins the same pending digest.
    run(session, [cand(subject="trip:99")], now=NOW + timedelta(minutes=1), limit=limit)
    [digest] = deliveries(session, DeliveryKind.DIGEST)
    assert len(digest.payload["alert_ids"]) == 4


def test_unacknowledged_critical_alert_escalates_after_its_delay(session):
    rule(session, LATE, severity="critical", escalate_after_minutes=15, escalation_channel="#esc")
    run(session, [cand(LATE, "trip:5")])
    run(session, [cand(LATE, "trip:5")], now=NOW + timedelta(minutes=14, seconds=59))
    assert deliveries(session, DeliveryKind.ESCALATION) == []

    report = run(session, [cand(LATE, "trip:5")], now=NOW + timedelta(minutes=15))
    [escalation] = deliveries(session, DeliveryKind.ESCALATION)
    assert escalation.channel == "#esc" and report.escalated == 1
    assert [d.kind for d in deliveries(session, DeliveryKind.REPLY)] == [DeliveryKind.REPLY]
    run(session, [cand(LATE, "trip:5")], now=NOW + timedelta(minutes=40))
    assert len(deliveries(session, DeliveryKind.ESCALATION)) == 1


def test_acknowledged_alert_does_not_escalate(session):
    rule(session, LATE, severity="critical", escalate_after_minutes=15)
    run(session, [cand(LATE, "trip:5")])
    [alert] = alerts(session)
    alert.status = AlertStatus.ACKNOWLEDGED
    session.flush()
    run(session, [cand(LATE, "trip:5")], now=NOW + timedelta(minutes=30))
    assert deliveries(session, DeliveryKind.ESCALATION) == []


def test_scoped_rule_routes_matching_subjects_to_its_channel(session):
    rule(session, GPS, channel="#general")
    rule(session, GPS, terminal="Dallas", channel="#dallas")
    run(session, [cand(subject="trip:1", terminal="Dallas"), cand(subject="trip:2")])
    channels = sorted(d.channel for d in deliveries(session, DeliveryKind.POST))
    assert channels == ["#dallas", "#general"]


def test_redetection_with_fresher_text_updates_it_in_place_even_on_a_held_object(session):
    run(session, [cand()])
    [held] = alerts(session)
    fresher = cand()
    fresher.message, fresher.details = "ETA moved", {"eta": "16:05"}
    report = run(session, [fresher], now=NOW + timedelta(minutes=5))

    assert report.bumped == 1 and report.created == 0
    # Written set-based, yet the object the caller held shows the new state.
    assert held.message == "ETA moved" and held.details == {"eta": "16:05"}
    assert held.occurrences == 2 and held.last_seen_at == NOW + timedelta(minutes=5)
    assert [d["decision"] for d in held.decisions] == ["detected", "notified"]
    assert [d.kind for d in deliveries(session)] == [DeliveryKind.POST]
