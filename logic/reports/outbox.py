"""The report outbox: one row per morning report and target (a Slack channel, an email list),
claimed and delivered with the alert outbox's guarantees (see `logic/alerts/outbox.py`).

Claiming is `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL plus a lease; each delivery is
sent and recorded in its own transaction; transient failures back off exponentially and are
retried until `REPORT_DELIVERY_MAX_ATTEMPTS`. A Slack delivery is two steps — the Block Kit
message, then the chart uploaded into its thread — and each finished step is written to the
row's `progress` in the same transaction as the failure of the next, so a retry after an
outage resumes where it stopped and never posts the message twice. An email delivery keeps its
`Message-ID` and `Date` there, so every attempt sends the same message.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from config import get_settings
from db.claims import claim_due_rows
from db.database import session_scope
from helpers.time_utils import utc_now
from logic.reports import charts, render, scorecards
from models.report import (
    MorningReport,
    ReportChannel,
    ReportDelivery,
    ReportDeliveryStatus,
    ReportRecipients,
)
from utils.http import VendorError, VendorTransientError

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=300)


def enqueue(
    session: Session, report: MorningReport, recipients: ReportRecipients | None, now: datetime
) -> int:
    """Queue the report for each of the scope's targets; a target already queued for this
    report is left alone (regenerating a report never sends it twice). Returns rows added."""
    if recipients is None or not recipients.enabled:
        return 0
    rows = [
        {"channel": ReportChannel.SLACK.value, "target": channel}
        for channel in recipients.slack_channels
    ]
    if recipients.emails:
        rows.append({"channel": ReportChannel.EMAIL.value, "target": ",".join(recipients.emails)})
    if not rows:
        return 0
    values = [
        {
            **row,
            "morning_report_id": report.id,
            "status": ReportDeliveryStatus.PENDING.value,
            "attempts": 0,
            "progress": {},
            "next_attempt_at": now,
            "created_at": now,
        }
        for row in rows
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(ReportDelivery)
        .on_conflict_do_nothing(index_elements=["morning_report_id", "channel", "target"])
        .returning(ReportDelivery.id)
    )
    return len(session.execute(stmt, values).all())


def _due(now: datetime):
    return or_(
        and_(
            ReportDelivery.status == ReportDeliveryStatus.PENDING,
            ReportDelivery.next_attempt_at <= now,
        ),
        and_(
            ReportDelivery.status == ReportDeliveryStatus.SENDING,
            ReportDelivery.claimed_until < now,
        ),
    )


def claim(session: Session, *, now: datetime, limit: int, token: str) -> list[int]:
    """Mark up to `limit` due deliveries as ours, oldest first (`db/claims.py`)."""
    return claim_due_rows(
        session,
        ReportDelivery,
        _due(now),
        sending_status=ReportDeliveryStatus.SENDING,
        now=now,
        lease=LEASE,
        limit=limit,
        token=token,
    )


@dataclass
class DrainResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def drain(
    *, slack: Any | None, mailer: Any | None, now: datetime | None = None, limit: int = 50
) -> DrainResult:
    """Claim due deliveries and send them; owns its transactions (claim, then one each).

    A channel whose client is not configured (None) is retried later like an outage.
    """
    now = now or utc_now()
    token = uuid.uuid4().hex
    result = DrainResult()
    with session_scope() as session:
        ids = claim(session, now=now, limit=limit, token=token)
    result.claimed = len(ids)
    for delivery_id in ids:
        with session_scope() as session:
            delivery = session.get(ReportDelivery, delivery_id)
            if delivery is None or delivery.claim_token != token:
                continue
            _process(session, delivery, slack, mailer, now, result)
    return result


def _process(session, delivery, slack, mailer, now, result) -> None:
    settings = get_settings()
    report = session.get(MorningReport, delivery.morning_report_id)
    try:
        if delivery.channel == ReportChannel.SLACK:
            _send_slack(delivery, report.body, slack)
        else:
            _send_email(session, delivery, report, mailer, now)
    except VendorTransientError as exc:
        delivery.attempts += 1
        delivery.last_error = str(exc)[:1000]
        result.errors.append(str(exc))
        if delivery.attempts >= settings.REPORT_DELIVERY_MAX_ATTEMPTS:
            _finish(delivery, ReportDeliveryStatus.FAILED)
            result.failed += 1
        else:
            wait = exc.retry_after if exc.retry_after is not None else _backoff(delivery.attempts)
            _release(delivery, now + timedelta(seconds=max(wait, 0.0)))
            result.retried += 1
        log.warning("report delivery %s will retry: %s", delivery.id, exc)
        return
    except VendorError as exc:
        delivery.attempts += 1
        delivery.last_error = str(exc)[:1000]
        _finish(delivery, ReportDeliveryStatus.FAILED)
        result.failed += 1
        result.errors.append(str(exc))
        log.error("report delivery %s rejected: %s", delivery.id, exc)
        return
    delivery.attempts += 1
    delivery.last_error = None
    delivery.sent_at = now
    _finish(delivery, ReportDeliveryStatus.SENT)
    result.sent += 1


class _NotConfigured(VendorTransientError):
    def __init__(self, what: str) -> None:
        super().__init__(what, "not configured; delivery waits for the next drain")


def _send_slack(delivery: ReportDelivery, body: dict[str, Any], slack: Any | None) -> None:
    if slack is None:
        raise _NotConfigured("slack")
    progress = dict(delivery.progress or {})
    if "ts" not in progress:
        text, blocks = render.slack_message(body)
        message = slack.post_message(delivery.target, text, blocks=blocks)
        progress.update(channel=message.channel, ts=message.ts)
        delivery.progress = progress  # a new dict, so the JSON column is written
    if "file_id" not in progress:
        file_id = slack.upload_file(
            progress["channel"],
            filename=f"morning-report-{body['report_date']}.png",
            content=charts.morning_chart(body),
            title=render.title(body),
            alt_txt="Loads on time and late by customer; drivers by safety score band",
            thread_ts=progress["ts"],
        )
        progress["file_id"] = file_id
        delivery.progress = dict(progress)


def _send_email(
    session: Session, delivery: ReportDelivery, report: MorningReport, mailer, now: datetime
) -> None:
    if mailer is None:
        raise _NotConfigured("smtp")
    body = report.body
    rows = scorecards.rows_for_day(
        session, date.fromisoformat(body["yesterday"]), terminal=report.terminal or None
    )
    progress = dict(delivery.progress or {})
    if "message_id" not in progress:
        # Made once and kept on the row (committed with a failed attempt too): SMTP has no
        # idempotency key, so a retry after a lost "250" carries the same Message-ID and Date
        # and mail systems (and people) can tell it is the same message.
        domain = parseaddr(mailer.sender)[1].rpartition("@")[2] or None
        progress["message_id"] = make_msgid(
            idstring=f"morning-report-{report.id}.delivery-{delivery.id}", domain=domain
        )
        progress["date"] = formatdate(now.timestamp(), usegmt=True)
        delivery.progress = progress  # a new dict, so the JSON column is written
    message = render.email_message(
        body,
        delivery.target.split(","),
        render.scorecard_csv(rows),
        sender=mailer.sender,
        message_id=progress["message_id"],
        date=progress["date"],
    )
    mailer.send(message)


def _release(delivery: ReportDelivery, at: datetime) -> None:
    delivery.status = ReportDeliveryStatus.PENDING
    delivery.next_attempt_at = at
    delivery.claim_token = None
    delivery.claimed_until = None


def _finish(delivery: ReportDelivery, status: ReportDeliveryStatus) -> None:
    delivery.status = status
    delivery.claim_token = None
    delivery.claimed_until = None


def _backoff(attempts: int) -> float:
    settings = get_settings()
    base = settings.REPORT_DELIVERY_BACKOFF_SECONDS
    return min(base * (2 ** max(attempts - 1, 0)), settings.REPORT_DELIVERY_MAX_BACKOFF_SECONDS)


def for_report(session: Session, report_id: int) -> list[ReportDelivery]:
    stmt = select(ReportDelivery).where(ReportDelivery.morning_report_id == report_id)
    return list(session.scalars(stmt.order_by(ReportDelivery.id)))
