"""The report outbox: one row per morning report and target (a Slack channel, an email list),
sent through the outbox kit (`logic/outbox.py`: claim, lease, backoff, shutdown hand-back).

Only the sending lives here. A Slack delivery is two steps — the Block Kit message, then the chart
uploaded into its thread — and each finished step is written to the row's `progress` with the
result, so a retry after an outage resumes where it stopped. The message carries the delivery's
tag in its metadata: a delivery in doubt (the process died after Slack accepted the message, before
the row said so) finds its message in the channel instead of posting the report twice. An email
keeps its `Message-ID` and `Date` in `progress` from the first attempt, so a repeat is the same
message to every mailbox.
Nothing here talks to Slack or SMTP inside a transaction: `prepare` reads, `send` sends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from logic import outbox as kit
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
LOOKBACK = timedelta(minutes=5)
NAME = "reports"


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


@dataclass(frozen=True)
class ReportJob:
    """One delivery, ready to send: the report's body and, for email, the rendered message."""

    channel: str
    target: str
    body: dict[str, Any]
    progress: dict[str, Any]
    tag: str
    in_doubt: bool
    oldest: float
    now: datetime
    mail_id: str = ""
    scorecard_csv: bytes = b""


@dataclass(frozen=True)
class ReportClients:
    """Where reports go; a channel whose client is None waits as if its vendor were down."""

    slack: Any | None
    mailer: Any | None


def _prepare(session: Session, delivery: ReportDelivery, attempt: kit.Attempt) -> ReportJob:
    report = session.get(MorningReport, delivery.morning_report_id)
    csv = b""
    if delivery.channel == ReportChannel.EMAIL:
        rows = scorecards.rows_for_day(
            session, date.fromisoformat(report.body["yesterday"]), terminal=report.terminal or None
        )
        csv = render.scorecard_csv(rows)
    return ReportJob(
        channel=delivery.channel,
        target=delivery.target,
        body=report.body,
        progress=dict(delivery.progress or {}),
        tag=f"report-delivery-{delivery.id}",
        in_doubt=attempt.in_doubt,
        oldest=(delivery.created_at - LOOKBACK).timestamp(),
        now=attempt.now,
        mail_id=f"morning-report-{report.id}.delivery-{delivery.id}",
        scorecard_csv=csv,
    )


def _send(clients: ReportClients, job: ReportJob) -> kit.Result:
    progress = dict(job.progress)
    try:
        if job.channel == ReportChannel.SLACK:
            _send_slack(clients.slack, job, progress)
        else:
            _send_email(clients.mailer, job, progress)
    except VendorTransientError as exc:
        return kit.RetryAfter(
            str(exc),
            seconds=exc.retry_after,
            throttled=exc.retry_after is not None,
            note={"progress": progress},
        )
    except VendorError as exc:
        return kit.PermanentFailure(str(exc), note={"progress": progress})
    return kit.Sent({"progress": progress})


def _send_slack(slack: Any | None, job: ReportJob, progress: dict[str, Any]) -> None:
    """Post the message, then the chart into its thread; `progress` keeps each finished step."""
    if slack is None:
        raise _NotConfigured("slack")
    body = job.body
    if "ts" not in progress:
        found = slack.find_tagged(job.target, job.tag, oldest=job.oldest) if job.in_doubt else None
        if found is None:
            text, blocks = render.slack_message(body)
            found = slack.post_message(job.target, text, blocks=blocks, tag=job.tag)
        else:
            log.info("report delivery %s was already posted (%s); not again", job.tag, found.ts)
        progress.update(channel=found.channel, ts=found.ts)
    if "file_id" not in progress:
        filename = f"morning-report-{body['report_date']}.png"
        found_file = (
            slack.find_file(progress["channel"], progress["ts"], filename) if job.in_doubt else None
        )
        if found_file is not None:
            log.info("report delivery %s chart was already shared; not again", job.tag)
            progress["file_id"] = found_file
            return
        progress["file_id"] = slack.upload_file(
            progress["channel"],
            filename=filename,
            content=charts.morning_chart(body),
            title=render.title(body),
            alt_txt="Loads on time and late by customer; drivers by safety score band",
            thread_ts=progress["ts"],
        )


def _send_email(mailer: Any | None, job: ReportJob, progress: dict[str, Any]) -> None:
    if mailer is None:
        raise _NotConfigured("smtp")
    if "message_id" not in progress:
        # Made once and kept on the row (recorded with a failed attempt too): SMTP has no
        # idempotency key, so a retry after a lost "250" carries the same Message-ID and Date
        # and mail systems (and people) can tell it is the same message.
        domain = parseaddr(mailer.sender)[1].rpartition("@")[2] or None
        progress["message_id"] = make_msgid(idstring=job.mail_id, domain=domain)
        progress["date"] = formatdate(job.now.timestamp(), usegmt=True)
    message = render.email_message(
        job.body,
        job.target.split(","),
        job.scorecard_csv,
        sender=mailer.sender,
        message_id=progress["message_id"],
        date=progress["date"],
    )
    mailer.send(message)


class _NotConfigured(VendorTransientError):
    def __init__(self, what: str) -> None:
        super().__init__(what, "not configured; delivery waits for the next drain")


def _record(session: Session, delivery: ReportDelivery, result: kit.Result) -> None:
    if "progress" in result.note:
        delivery.progress = dict(result.note["progress"])  # a new dict: the JSON column is written


OUTBOX: kit.Outbox[ReportJob] = kit.Outbox(
    name=NAME,
    model=ReportDelivery,
    prepare=_prepare,
    send=_send,
    record=_record,
    policy=kit.settings_policy("REPORT_DELIVERY"),
    lease=LEASE,
)


def drain(
    *, slack: Any | None, mailer: Any | None, now: datetime | None = None, limit: int = 50
) -> kit.DrainResult:
    """Send due report deliveries; a channel whose client is None (not configured) waits."""
    return kit.drain(OUTBOX, ReportClients(slack, mailer), now=now, limit=limit)


def for_report(session: Session, report_id: int) -> list[ReportDelivery]:
    stmt = select(ReportDelivery).where(ReportDelivery.morning_report_id == report_id)
    return list(session.scalars(stmt.order_by(ReportDelivery.id)))
