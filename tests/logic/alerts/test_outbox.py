"""The Slack outbox against the sandbox over real HTTP: outage, 429, threads, updates,
escalation, and two workers draining concurrently."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from config import Settings
from db.database import session_scope
from logic.alerts import actions, outbox
from logic.alerts.candidate import Candidate
from logic.alerts.filters import ChannelLimit, apply_filters
from logic.alerts.rules import load_rules
from models.alert import Alert, AlertDelivery, AlertRule, DeliveryStatus
from tests.factories_auth import make_user
from utils.slack_client import build_slack_client

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def slack(sandbox, sleeps: list[float] | None = None):
    settings = Settings(**sandbox.settings_env())
    recorder = sleeps.append if sleeps is not None else (lambda _s: None)
    return build_slack_client(settings, sleep=recorder, retry_wait=0.0)


def messages(sandbox, **params) -> list[dict]:
    response = httpx.get(f"{sandbox.url}/_sandbox/slack/messages", params=params)
    return response.raise_for_status().json()["messages"]


def raise_alerts(session, n: int, *, type_: str = "gps_stale", now=NOW, key=None) -> list[Alert]:
    cands = [
        Candidate(
            type=type_,
            subject=f"trip:{i}",
            title=f"GPS lost {i}",
            message=f"m{i}",
            occurrence_key=key,
        )
        for i in range(n)
    ]
    apply_filters(
        session,
        cands,
        rules=load_rules(session),
        evaluated_types=[type_],
        now=now,
        limit=ChannelLimit(max_posts=1000),
    )
    return list(session.scalars(select(Alert).order_by(Alert.id)))


def test_post_renders_block_kit_with_the_three_buttons(session, sandbox_clean):
    [alert] = raise_alerts(session, 1)
    result = outbox.drain(slack(sandbox_clean), now=NOW)

    assert result.sent == 1
    [message] = messages(sandbox_clean)
    session.refresh(alert)
    assert (alert.slack_channel, alert.slack_ts) == (message["channel"], message["ts"])
    assert message["channel_name"] == "fleet-alerts"
    header, *_, actions_block = message["blocks"]
    assert header["type"] == "header" and "GPS lost 0" in header["text"]["text"]
    assert [b["action_id"] for b in actions_block["elements"]] == [
        "ack_alert",
        "snooze_alert_1h",
        "resolve_alert",
    ]
    assert {b["value"] for b in actions_block["elements"]} == {str(alert.id)}
    assert message["text"]  # the notification fallback is always sent


def test_slack_down_then_up_delivers_every_alert_exactly_once(session, sandbox_clean):
    alerts = raise_alerts(session, 3)
    sandbox_clean.fault("slack", "5xx", count=3)
    client = slack(sandbox_clean)

    down = outbox.drain(client, now=NOW)
    assert (down.sent, down.retried) == (0, 3)
    assert messages(sandbox_clean) == []
    rows = list(session.scalars(select(AlertDelivery)))
    assert {r.status for r in rows} == {DeliveryStatus.PENDING}
    # 15 s backoff with jitter: between half of it and all of it.
    assert all(
        NOW + timedelta(seconds=7.5) <= r.next_attempt_at <= NOW + timedelta(seconds=15)
        for r in rows
    )
    assert all("internal_error" in r.last_error for r in rows)

    assert outbox.drain(client, now=NOW + timedelta(seconds=7)).claimed == 0  # backing off
    up = outbox.drain(client, now=NOW + timedelta(seconds=15))
    assert up.sent == 3
    assert outbox.drain(client, now=NOW + timedelta(hours=1)).claimed == 0
    posted = messages(sandbox_clean)
    assert sorted(m["text"] for m in posted) == sorted(f"{a.title} — {a.message}" for a in alerts)


def test_429_retry_after_is_honoured_in_process_and_in_the_schedule(session, sandbox_clean):
    raise_alerts(session, 2)
    sandbox_clean.fault("slack", "429", count=3, retry_after=7)
    sleeps: list[float] = []
    client = slack(sandbox_clean, sleeps)

    result = outbox.drain(client, now=NOW)
    # The client slept Retry-After between its own attempts, then gave the row back.
    assert len(sleeps) == 2 and all(7 <= s <= 7.25 for s in sleeps)
    assert (result.retried, result.deferred) == (1, 1)  # the channel's next row waited too
    rows = list(session.scalars(select(AlertDelivery)))
    assert {r.next_attempt_at for r in rows} == {NOW + timedelta(seconds=7)}

    assert outbox.drain(client, now=NOW + timedelta(seconds=6)).claimed == 0
    assert outbox.drain(client, now=NOW + timedelta(seconds=7)).sent == 2
    assert len(messages(sandbox_clean)) == 2


def test_reoccurrence_and_escalation_are_thread_replies_and_ack_updates_the_message(
    session, sandbox_clean
):
    session.add(
        AlertRule(
            name="late",
            type="late_for_appointment",
            severity="critical",
            escalate_after_minutes=15,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    session.flush()
    [alert] = raise_alerts(session, 1, type_="late_for_appointment")
    client = slack(sandbox_clean)
    outbox.drain(client, now=NOW)

    raise_alerts(session, 1, type_="late_for_appointment", now=NOW + timedelta(minutes=15))
    outbox.drain(client, now=NOW + timedelta(minutes=15))
    session.refresh(alert)
    original, *rest = messages(sandbox_clean)
    escalation = next(m for m in rest if m["channel_name"] == "fleet-escalations")
    [reply] = [m for m in rest if m["thread_ts"] == original["ts"]]
    assert "Escalated to #fleet-escalations" in reply["text"]
    assert escalation["text"].startswith("ESCALATED:")

    user = make_user(session, username="amy")
    actions.acknowledge(session, alert, user, NOW + timedelta(minutes=16))
    outbox.drain(client, now=NOW + timedelta(minutes=16))
    by_ts = {m["ts"]: m for m in messages(sandbox_clean)}
    for ts in (original["ts"], escalation["ts"]):
        updated = by_ts[ts]
        assert updated["updates"], "the message was updated in place"
        assert any("Acknowledged by amy" in str(b) for b in updated["blocks"])
        buttons = next(b for b in updated["blocks"] if b["type"] == "actions")["elements"]
        assert [b["action_id"] for b in buttons] == ["resolve_alert"]


def test_post_delayed_by_an_outage_renders_the_current_state(session, sandbox_clean):
    [alert] = raise_alerts(session, 1)
    sandbox_clean.fault("slack", "5xx", count=1)
    client = slack(sandbox_clean)
    outbox.drain(client, now=NOW)
    actions.resolve(session, alert, make_user(session), NOW + timedelta(seconds=5))

    result = outbox.drain(client, now=NOW + timedelta(minutes=1))
    assert result.sent == 2  # the post, then the update queued behind it
    [message] = messages(sandbox_clean)
    assert not [b for b in message["blocks"] if b["type"] == "actions"]
    assert "Resolved" in str(message["blocks"])


def test_rejected_delivery_fails_and_can_be_retried(session, sandbox_clean):
    session.add(
        AlertRule(
            name="bad", type="gps_stale", channel="#missing-channel", created_at=NOW, updated_at=NOW
        )
    )
    session.flush()
    raise_alerts(session, 1)
    result = outbox.drain(slack(sandbox_clean), now=NOW)
    [row] = session.scalars(select(AlertDelivery)).all()
    assert result.failed == 1 and row.status == DeliveryStatus.FAILED
    assert "channel_not_found" in row.last_error

    assert outbox.retry_failed(session, [row.id], NOW) == 1
    session.refresh(row)
    assert row.status == DeliveryStatus.PENDING and row.attempts == 0


@pytest.mark.postgres
def test_two_workers_draining_concurrently_never_double_post(committed_db, sandbox_clean):
    with session_scope() as session:
        raise_alerts(session, 30)
    client_a, client_b = slack(sandbox_clean), slack(sandbox_clean)
    barrier = threading.Barrier(2)
    results = []

    def worker(client):
        barrier.wait()
        total = 0
        while True:
            drained = outbox.drain(client, now=NOW, limit=4)
            total += drained.sent
            if drained.claimed == 0:
                break
        results.append(total)

    threads = [threading.Thread(target=worker, args=(c,)) for c in (client_a, client_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    posted = messages(sandbox_clean)
    assert sum(results) == 30 and len(posted) == 30
    assert len({m["text"] for m in posted}) == 30
    assert all(r > 0 for r in results), "both workers took part"
    with session_scope() as session:
        statuses = {d.status for d in session.scalars(select(AlertDelivery))}
    assert statuses == {DeliveryStatus.SENT}
