"""The customer notice outbox: each `customer_notice` row emailed through the outbox kit
(`logic/outbox.py`: claim, lease, backoff, shutdown hand-back); only the sending lives here.

SMTP has no idempotency key. A notice's Message-ID is its row's (`<customer-notice-<id>@<our
domain>>`) and its Date the row's creation, so a resend after an outage, or after a lost "250",
is the very same message, which mail systems (and people) recognise. An outage (4xx, refused
connection) waits and retries; a rejection (5xx) fails the row for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import formatdate, parseaddr
from typing import Any

from sqlmodel import Session

from logic import outbox as kit
from logic.customers import notice_mail
from models.customer_notice import CustomerNotice

NAME = "customer_notices"
LEASE = timedelta(seconds=120)
# A hub without SMTP keeps its notices queued, without spending attempts, until it has one.
NOT_CONFIGURED_WAIT_SECONDS = 300.0


@dataclass(frozen=True)
class NoticeJob:
    id: int
    kind: str
    email: str
    facts: dict[str, Any]
    created_at: datetime


def message_id(notice_id: int, sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "fleet-hub.invalid"
    return f"<customer-notice-{notice_id}@{domain}>"


def _prepare(session: Session, row: CustomerNotice, attempt: kit.Attempt) -> NoticeJob:
    return NoticeJob(row.id, row.kind, row.email, dict(row.facts or {}), row.created_at)


def _send(mailer: Any | None, job: NoticeJob) -> kit.Result:
    if mailer is None:
        return kit.RetryAfter(
            "email is not configured (SMTP_HOST)",
            seconds=NOT_CONFIGURED_WAIT_SECONDS,
            attempt=False,
        )
    message = notice_mail.email_message(
        job.kind,
        job.facts,
        job.email,
        sender=mailer.sender,
        message_id=message_id(job.id, mailer.sender),
        date=formatdate(job.created_at.timestamp(), usegmt=True),
    )
    mailer.send(message)
    return kit.Sent()


OUTBOX: kit.Outbox[NoticeJob] = kit.Outbox(
    name=NAME,
    model=CustomerNotice,
    prepare=_prepare,
    send=_send,
    policy=kit.settings_policy("CUSTOMER_NOTICE"),
    lease=LEASE,
)


def drain(
    mailer: Any | None,
    *,
    now: datetime | None = None,
    ids: list[int] | None = None,
    limit: int = 100,
) -> kit.DrainResult:
    """Email due notices (or just `ids`); a hub without SMTP (mailer None) keeps them queued."""
    return kit.drain(OUTBOX, mailer, now=now, ids=ids, limit=limit)
