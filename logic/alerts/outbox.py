"""The Slack outbox: enqueue deliveries with the alert change, drain them from any instance.

Claiming: due rows are picked with `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL (concurrent
workers take disjoint rows) and marked `sending` under a fresh claim token with a lease by an
UPDATE that re-checks due-ness (on SQLite, one writer at a time, that makes the claim atomic).
A worker that dies mid-send leaves a lease that expires, and the row is taken again; one that is
shut down (SIGTERM) stops between deliveries and hands its unsent claims back at once. Sending
happens outside the claim transaction; each result is written in its own short transaction.
Transient failures are retried with exponential backoff (`Retry-After` wins on a 429); the
row only fails for good after `ALERT_DELIVERY_MAX_ATTEMPTS`, so a Slack outage loses nothing.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlmodel import Session

from config import get_settings
from db.claims import claim_due_rows
from db.database import session_scope
from helpers.shutdown import shutting_down
from helpers.time_utils import utc_now
from models.alert import Alert, AlertDelivery, AlertStatus, DeliveryKind, DeliveryStatus
from utils.http import VendorError, VendorTransientError

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
PARENT_WAIT = timedelta(seconds=5)


def enqueue(
    session: Session,
    *,
    channel: str,
    kind: str,
    now: datetime,
    alert: Alert | None = None,
    at: datetime | None = None,
    payload: dict[str, Any] | None = None,
    flush: bool = True,
) -> AlertDelivery:
    """Add one outbox row; `flush=False` leaves the INSERT to the caller's next flush (a
    pass that queues many rows batches them instead of one round trip each)."""
    delivery = AlertDelivery(
        alert_id=alert.id if alert is not None else None,
        channel=channel,
        kind=kind,
        payload=payload or {},
        next_attempt_at=at or now,
        created_at=now,
    )
    session.add(delivery)
    if flush:
        session.flush()
    return delivery


def enqueue_reply(
    session: Session, alert: Alert, text: str, now: datetime, *, flush: bool = True
) -> AlertDelivery | None:
    """A thread reply under the alert's message (only if the alert has or will have one)."""
    if alert.notified_at is None:
        return None
    return enqueue(
        session,
        alert=alert,
        channel=alert.slack_channel or "",
        kind=DeliveryKind.REPLY,
        now=now,
        payload={"text": text},
        flush=flush,
    )


def enqueue_update(
    session: Session,
    alert: Alert,
    now: datetime,
    *,
    actor: str | None = None,
    flush: bool = True,
) -> AlertDelivery | None:
    """Re-render the alert's message(s) in place after a state change."""
    if alert.notified_at is None:
        return None
    return enqueue(
        session,
        alert=alert,
        channel=alert.slack_channel or "",
        kind=DeliveryKind.UPDATE,
        now=now,
        payload={"actor": actor} if actor else {},
        flush=flush,
    )


def _due(now: datetime):
    return or_(
        and_(AlertDelivery.status == DeliveryStatus.PENDING, AlertDelivery.next_attempt_at <= now),
        and_(AlertDelivery.status == DeliveryStatus.SENDING, AlertDelivery.claimed_until < now),
    )


def claim(session: Session, *, now: datetime, limit: int, token: str) -> list[int]:
    """Mark up to `limit` due deliveries as ours, oldest first (`db/claims.py`)."""
    return claim_due_rows(
        session,
        AlertDelivery,
        _due(now),
        sending_status=DeliveryStatus.SENDING,
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
    cancelled: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


def drain(poster: Any, *, now: datetime | None = None, limit: int = 100) -> DrainResult:
    """Claim due deliveries and send them through `poster` (a `utils.slack_client.SlackClient`).

    Owns its transactions (claim, then one per delivery) so it can run beside requests and
    on several instances at once.
    """
    from logic.alerts import slack

    now = now or utc_now()
    token = uuid.uuid4().hex
    result = DrainResult()
    with _claims_lock:
        _claims.add(token)
    try:
        with session_scope() as session:
            ids = claim(session, now=now, limit=limit, token=token)
        result.claimed = len(ids)
        blocked: dict[str, datetime] = {}  # channel → rate-limited until
        for delivery_id in ids:
            if shutting_down():
                break
            with session_scope() as session:
                delivery = session.get(AlertDelivery, delivery_id)
                if delivery is None or delivery.claim_token != token:
                    continue  # lease expired and another worker took it
                _process(session, poster, delivery, now, blocked, result, slack)
    finally:
        with _claims_lock:
            _claims.discard(token)
    if shutting_down():
        release_claims([token])
    return result


_claims_lock = threading.Lock()
_claims: set[str] = set()


def release_claims(tokens: Iterable[str] | None = None) -> int:
    """Hand back the still-unsent deliveries claimed under `tokens` (default: every drain of
    this process still running) as due now, so another instance sends them without waiting
    for the lease to expire. Returns how many rows were released."""
    if tokens is None:
        with _claims_lock:
            tokens = list(_claims)
    tokens = list(tokens)
    if not tokens:
        return 0
    with session_scope() as session:
        released = session.execute(
            update(AlertDelivery)
            .where(
                AlertDelivery.claim_token.in_(tokens),
                AlertDelivery.status == DeliveryStatus.SENDING,
            )
            .values(
                status=DeliveryStatus.PENDING,
                next_attempt_at=utc_now(),
                claim_token=None,
                claimed_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        return released.rowcount or 0


def _process(session, poster, delivery, now, blocked, result, slack) -> None:
    settings = get_settings()
    alert = session.get(Alert, delivery.alert_id) if delivery.alert_id else None
    channel_key = delivery.channel or (alert.slack_channel if alert else "") or ""
    if channel_key in blocked:
        _release(delivery, blocked[channel_key])
        result.deferred += 1
        return
    try:
        outcome = slack.deliver(session, poster, delivery, alert, now)
    except VendorTransientError as exc:
        delivery.attempts += 1
        delivery.last_error = str(exc)[:1000]
        if delivery.attempts >= settings.ALERT_DELIVERY_MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            result.failed += 1
        else:
            wait = _backoff(delivery.attempts)
            if exc.retry_after is not None:
                wait = max(exc.retry_after, 0.0)
                blocked[channel_key] = now + timedelta(seconds=wait)
            _release(delivery, now + timedelta(seconds=wait))
            result.retried += 1
        result.errors.append(str(exc))
        log.warning("slack delivery %s will retry: %s", delivery.id, exc)
        return
    except VendorError as exc:
        delivery.attempts += 1
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = str(exc)[:1000]
        delivery.claim_token = None
        result.failed += 1
        result.errors.append(str(exc))
        log.error("slack delivery %s rejected: %s", delivery.id, exc)
        return
    if outcome == "wait_parent":
        _release(delivery, now + PARENT_WAIT)
        result.deferred += 1
    elif outcome.startswith("cancelled"):
        delivery.status = DeliveryStatus.CANCELLED
        delivery.last_error = outcome
        delivery.claim_token = None
        result.cancelled += 1
    else:
        delivery.attempts += 1
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = now
        delivery.claim_token = None
        delivery.last_error = None
        result.sent += 1


def _release(delivery: AlertDelivery, at: datetime) -> None:
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = at
    delivery.claim_token = None
    delivery.claimed_until = None


def _backoff(attempts: int) -> float:
    settings = get_settings()
    base = settings.ALERT_DELIVERY_BACKOFF_SECONDS
    return min(base * (2 ** max(attempts - 1, 0)), settings.ALERT_DELIVERY_MAX_BACKOFF_SECONDS)


def retry_failed(session: Session, ids: Iterable[int] | None, now: datetime) -> int:
    """Put failed deliveries (all, or `ids`) back in the queue for an immediate attempt."""
    stmt = (
        update(AlertDelivery)
        .where(AlertDelivery.status == DeliveryStatus.FAILED)
        .values(status=DeliveryStatus.PENDING, next_attempt_at=now, attempts=0, claim_token=None)
        .execution_options(synchronize_session=False)
    )
    if ids is not None:
        stmt = stmt.where(AlertDelivery.id.in_(list(ids)))
    return session.execute(stmt).rowcount or 0


def pending_post_exists(session: Session, alert_id: int) -> bool:
    return (
        session.scalar(
            select(AlertDelivery.id)
            .where(AlertDelivery.alert_id == alert_id)
            .where(AlertDelivery.kind == DeliveryKind.POST)
            .where(AlertDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]))
            .limit(1)
        )
        is not None
    )


def is_resolved(alert: Alert | None) -> bool:
    return alert is not None and alert.status == AlertStatus.RESOLVED
