"""The Slack outbox of alerts: deliveries are queued with the alert change and sent through the
outbox kit (`logic/outbox.py`: claim, lease, backoff, shutdown hand-back) from any instance.

Only the Slack part lives here. `prepare` renders the message from the alert's current state (so
a post delayed by an outage already shows an acknowledgement made meanwhile), `send` talks to
Slack outside any transaction, `record` keeps the message's channel and ts on the alert. Every
post and reply carries the delivery's tag in its message metadata; a delivery in doubt (an earlier
attempt may have reached Slack) is looked up in the channel or thread before it is posted again.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from logic import outbox as kit
from logic.alerts.slack import alert_zone, render_alert, render_digest
from models.alert import Alert, AlertDelivery, AlertStatus, DeliveryKind, DeliveryStatus
from utils.slack_client import SlackMessage

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
PARENT_WAIT = timedelta(seconds=5)
# A lost post is looked for in messages from a little before its row was queued.
LOOKBACK = timedelta(minutes=5)
NAME = "alerts"


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
    kit.queued(session, NAME, delivery)
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


@dataclass(frozen=True)
class SlackJob:
    """One Slack call, rendered: a post (to `channel`, or a reply under `thread_ts`) or an update
    of the message at `thread_ts` (plus its escalated copy)."""

    action: str  # "post" or "update"
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None
    tag: str
    in_doubt: bool
    oldest: float
    thread_ts: str | None = None
    escalated: tuple[SlackMessage, str, list[dict[str, Any]]] | None = None


def _prepare(
    session: Session, delivery: AlertDelivery, attempt: kit.Attempt
) -> SlackJob | kit.Result:
    alert = session.get(Alert, delivery.alert_id) if delivery.alert_id else None
    job = {
        "tag": f"alert-delivery-{delivery.id}",
        "in_doubt": attempt.in_doubt,
        "oldest": (delivery.created_at - LOOKBACK).timestamp(),
    }
    kind = delivery.kind
    if kind == DeliveryKind.DIGEST:
        ids = delivery.payload.get("alert_ids", [])
        alerts = [a for a in (session.get(Alert, i) for i in ids) if a is not None]
        if not alerts:
            return _cancel("empty digest")
        text, blocks = render_digest(alerts, delivery.channel)
        return SlackJob("post", delivery.channel, text, blocks, **job)
    if alert is None:
        return _cancel("alert deleted")
    if kind == DeliveryKind.POST:
        if alert.slack_ts:  # sent and recorded by an earlier delivery of the same post
            return kit.Sent({"channel": alert.slack_channel or "", "ts": alert.slack_ts})
        if delivery.payload.get("deferred") and alert.status == AlertStatus.RESOLVED:
            return _cancel("resolved during quiet hours")
        text, blocks = render_alert(alert, zone=alert_zone(session, alert))
        return SlackJob("post", delivery.channel, text, blocks, **job)
    if kind == DeliveryKind.ESCALATION:
        if alert.escalation_slack_ts:
            return kit.Sent(
                {"channel": alert.escalation_slack_channel or "", "ts": alert.escalation_slack_ts}
            )
        text, blocks = render_alert(alert, escalated=True, zone=alert_zone(session, alert))
        return SlackJob("post", delivery.channel, text, blocks, **job)
    if not alert.slack_ts:
        if pending_post_exists(session, alert.id):
            # The post renders the current state itself; a reply still needs its parent.
            if kind == DeliveryKind.REPLY:
                return kit.RetryAfter(
                    "waiting for the alert's post", PARENT_WAIT.total_seconds(), attempt=False
                )
            return _cancel("post pending")
        return _cancel("alert never posted")
    channel = alert.slack_channel or ""
    if kind == DeliveryKind.REPLY:
        text = str(delivery.payload.get("text", ""))
        return SlackJob("post", channel, text, None, thread_ts=alert.slack_ts, **job)
    if kind == DeliveryKind.UPDATE:
        actor = delivery.payload.get("actor")
        zone = alert_zone(session, alert)
        text, blocks = render_alert(alert, actor=actor, zone=zone)
        escalated = None
        if alert.escalation_slack_ts:
            copy = SlackMessage(alert.escalation_slack_channel or "", alert.escalation_slack_ts)
            escalated = (copy, *render_alert(alert, escalated=True, actor=actor, zone=zone))
        return SlackJob(
            "update", channel, text, blocks, thread_ts=alert.slack_ts, escalated=escalated, **job
        )
    return _cancel(f"unknown kind {kind}")


def _cancel(reason: str) -> kit.PermanentFailure:
    return kit.PermanentFailure(f"cancelled: {reason}", status=DeliveryStatus.CANCELLED)


def _send(poster: Any, job: SlackJob) -> kit.Result:
    """Talk to Slack (no database here); a post in doubt is looked up before it is repeated."""
    if job.action == "update":
        message = poster.update_message(
            SlackMessage(job.channel, job.thread_ts or ""), job.text, blocks=job.blocks
        )
        if job.escalated is not None:
            copy, text, blocks = job.escalated
            poster.update_message(copy, text, blocks=blocks)
        return _sent(message)
    if job.in_doubt:
        found = poster.find_tagged(job.channel, job.tag, thread_ts=job.thread_ts, oldest=job.oldest)
        if found is not None:
            log.info(
                "slack delivery %s was already posted (%s); not posting again", job.tag, found.ts
            )
            return _sent(found)
    message = poster.post_message(
        job.channel, job.text, blocks=job.blocks, thread_ts=job.thread_ts, tag=job.tag
    )
    return _sent(message)


def _sent(message: SlackMessage) -> kit.Sent:
    return kit.Sent({"channel": message.channel, "ts": message.ts})


def _record(session: Session, delivery: AlertDelivery, result: kit.Result) -> None:
    if not isinstance(result, kit.Sent) or "ts" not in result.note:
        return
    channel, ts = result.note["channel"], result.note["ts"]
    delivery.slack_channel, delivery.slack_ts = channel, ts
    alert = session.get(Alert, delivery.alert_id) if delivery.alert_id else None
    if alert is None:
        return
    if delivery.kind == DeliveryKind.POST and not alert.slack_ts:
        alert.slack_channel, alert.slack_ts = channel, ts
    elif delivery.kind == DeliveryKind.ESCALATION and not alert.escalation_slack_ts:
        alert.escalation_slack_channel, alert.escalation_slack_ts = channel, ts


OUTBOX: kit.Outbox[SlackJob] = kit.Outbox(
    name=NAME,
    model=AlertDelivery,
    prepare=_prepare,
    send=_send,
    record=_record,
    policy=kit.settings_policy("ALERT_DELIVERY"),
    lease=LEASE,
    group=lambda delivery: delivery.channel,  # a 429 holds back the channel's other rows
)


def drain(
    poster: Any,
    *,
    now: datetime | None = None,
    limit: int = 100,
    ids: Sequence[int] | None = None,
    rng: random.Random | None = None,
) -> kit.DrainResult:
    """Send due deliveries (or only `ids`) through `poster` (a `utils.slack_client.SlackClient`)."""
    return kit.drain(OUTBOX, poster, now=now, limit=limit, ids=ids, rng=rng)


def queued_ids(session: Session) -> list[int]:
    """The deliveries this session queued (to send just those once it has committed)."""
    return kit.queued_ids(session, NAME)


def retry_failed(session: Session, ids: Iterable[int] | None, now: datetime) -> int:
    """Put failed deliveries (all, or `ids`) back in the queue for an immediate attempt."""
    return kit.retry_failed(session, OUTBOX, ids, now)


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
