"""The outbox kit once, for every outbox: claim, lease expiry, backoff, shutdown hand-back, and
exactly one message at the vendor through a lost response and through kill -9 between the
vendor's acceptance and the record (the last two on the alert outbox against the sandbox)."""

from __future__ import annotations

import ast
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from config import get_settings
from db.database import session_scope
from helpers import shutdown
from logic import outbox as kit
from logic.alerts import outbox as alert_outbox
from models.alert import Alert, AlertDelivery
from tests.logic.alerts.test_outbox import messages, raise_alerts, slack
from tests.process_support import ROOT, process_env

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


class Vendor:
    """A fake vendor answering each send with the next scripted result (default: `Sent`)."""

    def __init__(self, *results: kit.Result) -> None:
        self.results = list(results)
        self.sent: list[int] = []

    def send(self, row_id: int) -> kit.Result:
        self.sent.append(row_id)
        return self.results.pop(0) if self.results else kit.Sent()


def _probe(max_attempts: int = 3, prepared: list[bool] | None = None) -> kit.Outbox[int]:
    def prepare(session: Session, row: AlertDelivery, attempt: kit.Attempt) -> int:
        if prepared is not None:
            prepared.append(attempt.in_doubt)
        return row.id

    return kit.Outbox(
        name="probe",
        model=AlertDelivery,
        prepare=prepare,
        send=lambda vendor, row_id: vendor.send(row_id),
        policy=lambda: kit.RetryPolicy(max_attempts, 10.0, 60.0),
        lease=timedelta(seconds=60),
        group=lambda row: row.channel,
    )


def _rows(session: Session, n: int, channel: str = "#c") -> list[int]:
    rows = [
        AlertDelivery(channel=channel, kind="digest", next_attempt_at=NOW, created_at=NOW)
        for _ in range(n)
    ]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]


def _row(session: Session, row_id: int) -> AlertDelivery:
    row = session.get(AlertDelivery, row_id)
    session.refresh(row)
    return row


@pytest.fixture
def flag() -> Iterator[None]:
    shutdown.reset()
    yield
    shutdown.reset()


def test_claim_takes_due_rows_oldest_first_and_leases_them(session):
    ids = _rows(session, 5)
    probe = _probe()

    first = kit.claim(session, probe, now=NOW, limit=2, token="a")
    second = kit.claim(session, probe, now=NOW, limit=10, token="b")
    narrowed = kit.claim(session, probe, now=NOW, limit=10, token="c", ids=ids[:1])

    assert [c.id for c in first] == ids[:2] and [c.id for c in second] == ids[2:]
    assert narrowed == []  # already claimed: not due
    row = _row(session, ids[0])
    assert (row.status, row.claim_token, row.claimed_until) == ("sending", "a", NOW + probe.lease)
    assert not any(c.in_doubt for c in first + second)


def test_a_lease_that_ran_out_is_claimed_again_in_doubt(session):
    [row_id] = _rows(session, 1)
    probe = _probe()
    kit.claim(session, probe, now=NOW, limit=1, token="dead-worker")

    assert kit.claim(session, probe, now=NOW + timedelta(seconds=59), limit=1, token="b") == []
    [again] = kit.claim(session, probe, now=NOW + timedelta(seconds=61), limit=1, token="b")
    assert again == kit.Claimed(row_id, in_doubt=True)


def test_drain_sends_only_the_rows_asked_for(session):
    ids = _rows(session, 3)
    vendor = Vendor()

    result = kit.drain(_probe(), vendor, now=NOW, ids=ids[1:2])

    assert (result.claimed, result.sent, vendor.sent) == (1, 1, ids[1:2])
    assert [_row(session, i).status for i in ids] == ["pending", "sent", "pending"]


def test_backoff_grows_with_jitter_until_the_last_attempt(session):
    [row_id] = _rows(session, 1)
    vendor = Vendor(*[kit.RetryAfter("down")] * 3)
    probe = _probe(max_attempts=3)
    rng = random.Random(7)
    waits = []
    now = NOW
    for _ in range(2):
        assert kit.drain(probe, vendor, now=now, rng=rng).retried == 1
        row = _row(session, row_id)
        waits.append((row.next_attempt_at - now).total_seconds())
        now = row.next_attempt_at
    assert 5.0 <= waits[0] <= 10.0 and 10.0 <= waits[1] <= 20.0  # half fixed, half random

    last = kit.drain(probe, vendor, now=now, rng=rng)
    row = _row(session, row_id)
    assert (last.failed, row.status, row.attempts, row.last_error) == (1, "failed", 3, "down")


def test_retry_after_wins_holds_back_the_group_and_waiting_costs_no_attempt(session):
    throttled, same_channel = _rows(session, 2, channel="#busy")
    [waiting] = _rows(session, 1, channel="#other")
    vendor = Vendor(
        kit.RetryAfter("429", seconds=7, throttled=True),
        kit.RetryAfter("parent not posted yet", seconds=5, attempt=False),
    )

    result = kit.drain(_probe(), vendor, now=NOW)

    assert (result.retried, result.deferred) == (1, 2)
    assert vendor.sent == [throttled, waiting]  # the channel's second row never went out
    assert _row(session, same_channel).next_attempt_at == NOW + timedelta(seconds=7)
    assert (_row(session, waiting).attempts, _row(session, waiting).status) == (0, "pending")


def test_permanent_failures_and_cancellations_end_the_row(session):
    rejected, cancelled = _rows(session, 2)
    vendor = Vendor(kit.PermanentFailure("channel_not_found"), kit.PermanentFailure("gone", "x"))

    result = kit.drain(_probe(), vendor, now=NOW)

    assert (result.failed, result.cancelled) == (1, 1)
    assert (_row(session, rejected).status, _row(session, rejected).attempts) == ("failed", 1)
    assert (_row(session, cancelled).status, _row(session, cancelled).attempts) == ("x", 0)


def test_shutdown_stops_between_rows_and_hands_the_rest_back(session, flag):
    ids = _rows(session, 3)

    class StopAfterFirst(Vendor):
        def send(self, row_id: int) -> kit.Result:
            shutdown.request_shutdown()  # SIGTERM while the first send is on the wire
            return super().send(row_id)

    result = kit.drain(_probe(), StopAfterFirst(), now=NOW)

    assert (result.claimed, result.sent) == (3, 1)
    rows = [_row(session, i) for i in ids]
    assert [r.status for r in rows] == ["sent", "pending", "pending"]
    assert all(r.claim_token is None for r in rows[1:])


def test_release_claims_hands_back_every_running_drain_of_the_process(session):
    [row_id] = _rows(session, 1)
    released: list[int] = []

    class ReleasedMidSend(Vendor):
        def send(self, row_id: int) -> kit.Result:
            released.append(kit.release_claims())  # what the lifespan does at exit
            return kit.RetryAfter("interrupted")

    kit.drain(_probe(), ReleasedMidSend(), now=NOW)
    assert released == [1]
    assert kit.release_claims() == 0  # nothing held once the drain is over
    assert _row(session, row_id).claim_token is None


def test_the_send_holds_no_pooled_connection(committed_db):
    with session_scope() as session:
        _rows(session, 1)
    held: list[int] = []

    class Looks(Vendor):
        def send(self, row_id: int) -> kit.Result:
            held.append(committed_db.pool.checkedout())
            return super().send(row_id)

    assert kit.drain(_probe(), Looks(), now=NOW).sent == 1
    assert held == [0]  # no transaction, no connection while the vendor is called


def test_a_lost_response_is_found_at_slack_not_posted_twice(session, sandbox_clean):
    [alert] = raise_alerts(session, 1)
    sandbox_clean.fault("slack", "lost_response", count=1)
    client = slack(sandbox_clean)

    first = alert_outbox.drain(client, now=NOW)
    assert first.retried == 1 and len(messages(sandbox_clean)) == 1  # Slack did post it

    second = alert_outbox.drain(client, now=NOW + timedelta(minutes=1))
    [message] = messages(sandbox_clean)
    session.refresh(alert)
    assert second.sent == 1
    assert (alert.slack_channel, alert.slack_ts) == (message["channel"], message["ts"])
    [row] = session.scalars(select(AlertDelivery)).all()
    assert message["metadata"]["event_payload"] == {"tag": f"alert-delivery-{row.id}"}


def test_kill_9_after_slack_accepted_the_post_sends_it_once(committed_db, sandbox_clean):
    with session_scope() as session:
        [alert] = raise_alerts(session, 1, now=datetime.now(UTC))
    url = committed_db.url
    database = (
        {"DATABASE_URL": url.render_as_string(hide_password=False)}
        if url.get_backend_name() == "postgresql"
        else {"SQLITE_PATH": str(url.database)}
    )
    env = process_env(
        **sandbox_clean.settings_env(), **database, DB_SCHEMA=get_settings().DB_SCHEMA
    )
    worker = subprocess.run(
        [sys.executable, "-m", "tests.logic.outbox_kill_worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == -signal.SIGKILL, worker.stderr
    assert len(messages(sandbox_clean)) == 1
    with session_scope() as session:
        [row] = session.scalars(select(AlertDelivery)).all()
        assert row.status == "sending"  # accepted by Slack, never recorded

    later = datetime.now(UTC) + alert_outbox.LEASE + timedelta(seconds=1)
    result = alert_outbox.drain(slack(sandbox_clean), now=later)

    [message] = messages(sandbox_clean)
    with session_scope() as session:
        alert = session.get(Alert, alert.id)
        assert result.sent == 1 and alert.slack_ts == message["ts"]


def test_outbox_results_are_plain_values():
    assert kit.Sent() == kit.Sent({})
    assert kit.RetryAfter("x").attempt and not kit.RetryAfter("x").throttled
    assert kit.PermanentFailure("x").status == kit.FAILED


def test_the_alert_outbox_and_slack_rendering_import_one_way():
    tree = ast.parse((ROOT / "logic" / "alerts" / "slack.py").read_text())
    imported = {
        f"{node.module}.{alias.name}" if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {name for name in imported if "outbox" in name}
