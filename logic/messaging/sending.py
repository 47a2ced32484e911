"""Asking for one message to one driver, and sending it through the outbox kit.

`queue_message(session, MessageRequest)` runs the pre-contact checks (`checks.py`) and adds the
`DriverMessage` row (pending) with its audit row — a pass queuing many uses its parts,
`add_message` then one flush then `note_queued`; nothing here commits or talks to a vendor. The
row is its own outbox row (`logic/outbox.py`): `send_queued(ids)` after the caller's commit, or
any drain, sends it outside every transaction — a send in doubt (a lease that ran out mid-send)
is looked for at the channel before it is sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlmodel import Session

from config import Settings, get_settings
from helpers.errors import Conflict, Unprocessable, UpstreamNotConfigured
from helpers.time_utils import utc_now
from logic import outbox as kit
from logic.auth import audit
from logic.auth.audit import ClientInfo
from logic.calls.placement import ContactSubject, contact_subject, dial_number
from logic.messaging.channel import Outgoing, Receipt
from logic.messaging.checks import MessageRefusal, MessagingPolicy, message_refusals
from logic.messaging.registry import MessageChannels
from models.driver_message import (
    DELIVERY_RANK,
    DeliveryStatus,
    DriverMessage,
    MessageChannel,
    MessageDirection,
    SmsOptOut,
)
from models.user import User

NAME = "messages"
LEASE = timedelta(seconds=60)
# Sent to an opted-out number once, the one text carrier rules allow after STOP.
CONSENT_PURPOSE = "consent_confirmation"


class MessageRefused(Conflict):
    """A pre-contact check said no; `code` is the reason (409)."""

    def __init__(self, refusal: MessageRefusal) -> None:
        super().__init__(refusal.message)
        self.code = refusal.reason
        self.refusal = refusal


@dataclass(frozen=True)
class MessageRequest:
    driver_id: int
    channel: MessageChannel | str
    body: str
    purpose: str | None = None
    alert_id: int | None = None
    trip_id: int | None = None
    campaign_id: int | None = None
    contact_run_id: int | None = None
    reply_to_id: int | None = None
    created_by: User | None = None
    actor_label: str | None = None
    client: ClientInfo | None = None


def queue_message(
    session: Session,
    request: MessageRequest,
    *,
    policy: MessagingPolicy | None = None,
    now: datetime | None = None,
    refusal: MessageRefusal | bool | None = False,
    checked: bool = True,
) -> DriverMessage:
    """Check and record one outbound message as pending (audited); sent after the commit.

    Raises `MessageRefused` when a check fails (only the audit row is written). `checked=False`
    skips the checks: the one confirmation of an opt-out goes to a number that just opted out.
    """
    now = now or utc_now()
    policy = policy or MessagingPolicy()
    subject = message_subject(session, request)
    if checked and refusal is False:
        driver = subject.driver
        refusal = message_refusals(session, [driver], request.channel, now=now, policy=policy)[
            driver.id
        ]
    message = add_message(session, request, subject, now=now, refusal=refusal if checked else None)
    session.flush()
    note_queued(session, [(request, message)])
    return message


def message_subject(session: Session, request: MessageRequest) -> ContactSubject:
    """The request's driver, alert and trip once its channel and text are valid (422 first).

    A reply is written back to the message's alert thread and trip: they must be this driver's
    (the calls' own rule). Alerts and trips already in the session cost no query.
    """
    _channel_and_body(request)
    return contact_subject(session, request.driver_id, request.alert_id, request.trip_id)


def add_message(
    session: Session,
    request: MessageRequest,
    subject: ContactSubject,
    *,
    now: datetime,
    refusal: MessageRefusal | bool | None,
) -> DriverMessage:
    """Add the pending message row without flushing, or raise `MessageRefused` (audited).

    A pass that queues many messages adds them all, flushes once, then calls `note_queued`:
    the outbox note and the audit row name the message's id, known only after that flush.
    """
    channel, body = _channel_and_body(request)
    driver, alert, trip = subject.driver, subject.alert, subject.trip
    if isinstance(refusal, MessageRefusal):
        _audit(session, "message.refused", request, driver.id, {"reason": refusal.reason})
        raise MessageRefused(refusal)
    message = DriverMessage(
        driver_id=driver.id,
        channel=channel.value,
        direction=MessageDirection.OUTBOUND,
        body=body[:1600],
        phone_number=dial_number(driver),
        samsara_driver_id=driver.samsara_id,
        delivery_status=DeliveryStatus.PENDING,
        purpose=request.purpose,
        alert_id=request.alert_id,
        trip_id=trip.id if trip else (alert.trip_id if alert else None),
        campaign_id=request.campaign_id,
        contact_run_id=request.contact_run_id,
        reply_to_id=request.reply_to_id,
        status=kit.PENDING,
        next_attempt_at=now,
        created_by_id=request.created_by.id if request.created_by else None,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    return message


def note_queued(session: Session, queued: Sequence[tuple[MessageRequest, DriverMessage]]) -> None:
    """After the flush that gave the messages their ids: each one's outbox note and audit row."""
    for request, message in queued:
        kit.queued(session, NAME, message)
        _audit(
            session,
            "message.queue",
            request,
            message.driver_id,
            {"message_id": message.id, "channel": message.channel, "purpose": request.purpose},
        )


def _channel_and_body(request: MessageRequest) -> tuple[MessageChannel, str]:
    channel = MessageChannel(request.channel)
    body = request.body.strip()
    if not body:
        raise Unprocessable("a message needs text", loc=("body", "body"), input=request.body)
    return channel, body


def _audit(
    session: Session, action: str, request: MessageRequest, driver_id: int, details: dict
) -> None:
    audit.record(
        session,
        action,
        actor=request.created_by,
        actor_label=request.actor_label,
        resource_type="driver",
        resource_id=driver_id,
        details={"channel": str(request.channel), **details},
        client=request.client,
    )


@dataclass(frozen=True)
class SendJob:
    channel: str
    outgoing: Outgoing
    in_doubt: bool


def _prepare(session: Session, row: DriverMessage, attempt: kit.Attempt) -> SendJob | kit.Result:
    if row.direction != MessageDirection.OUTBOUND:
        return kit.PermanentFailure("cancelled: not an outbound message", status="cancelled")
    if (
        row.channel == MessageChannel.SMS
        and row.purpose != CONSENT_PURPOSE
        and row.phone_number
        and SmsOptOut.blocked_numbers(session, [row.phone_number])
    ):
        row.delivery_status = DeliveryStatus.REFUSED
        row.error = "the number opted out of texts before this one was sent"
        return kit.PermanentFailure(f"cancelled: {row.error}", status="cancelled")
    return SendJob(
        row.channel,
        Outgoing(
            message_id=row.id,
            body=row.body,
            created_at=row.created_at,
            to_number=row.phone_number,
            samsara_driver_id=row.samsara_driver_id,
        ),
        attempt.in_doubt,
    )


# A channel whose vendor is not configured keeps its messages pending this long between looks.
UNCONFIGURED_WAIT_SECONDS = 300.0


def _send(channels: MessageChannels, job: SendJob) -> kit.Result:
    channel = channels.channel(job.channel)
    try:
        if job.in_doubt and (found := channel.find_sent(job.outgoing)) is not None:
            return _sent(found)
        return _sent(channel.send(job.outgoing))
    except UpstreamNotConfigured as exc:
        return kit.RetryAfter(str(exc), UNCONFIGURED_WAIT_SECONDS, attempt=False)
    except ValueError as exc:
        return kit.PermanentFailure(str(exc))


def _sent(receipt: Receipt) -> kit.Sent:
    return kit.Sent({"id": receipt.provider_message_id, "status": receipt.status})


def _record(session: Session, row: DriverMessage, result: kit.Result) -> None:
    now = utc_now()
    row.updated_at = now
    if isinstance(result, kit.Sent):
        if result.note.get("id") and not row.provider_message_id:
            row.provider_message_id = result.note["id"]
        advance(row, result.note.get("status") or DeliveryStatus.SENT, now)
    elif isinstance(result, kit.PermanentFailure) and result.status == kit.FAILED:
        row.delivery_status = DeliveryStatus.FAILED
        row.error = result.reason[:500]


class Delivery(Protocol):
    """What `advance` reads and moves: a `DriverMessage`, or a copy of just these columns."""

    delivery_status: str
    delivered_at: datetime | None
    read_at: datetime | None
    error: str | None
    updated_at: datetime


def advance(row: Delivery, status: str, at: datetime, error: str | None = None) -> bool:
    """Move the message's delivery status forward only; True when it moved."""
    rank = DELIVERY_RANK.get(status)
    if rank is None or rank <= DELIVERY_RANK.get(row.delivery_status, 0):
        return False
    row.delivery_status = status
    if status == DeliveryStatus.DELIVERED:
        row.delivered_at = at
    elif status == DeliveryStatus.READ:
        row.read_at = at
        row.delivered_at = row.delivered_at or at
    if error:
        row.error = error[:500]
    row.updated_at = at
    return True


OUTBOX: kit.Outbox[SendJob] = kit.Outbox(
    name=NAME,
    model=DriverMessage,
    prepare=_prepare,
    send=_send,
    record=_record,
    policy=kit.settings_policy("MESSAGE_DELIVERY"),
    lease=LEASE,
    group=lambda row: row.channel,  # a vendor's 429 holds back that channel's other rows
)


def drain(
    channels: MessageChannels,
    *,
    ids: Sequence[int] | None = None,
    now: datetime | None = None,
    limit: int = 100,
) -> kit.DrainResult:
    return kit.drain(OUTBOX, channels, ids=ids, now=now, limit=limit)


def queued_ids(session: Session) -> list[int]:
    return kit.queued_ids(session, NAME)


def send_queued(ids: Sequence[int], settings: Settings | None = None) -> dict[str, Any]:
    """A request's after-commit step: send the messages it queued (its own channel clients)."""
    if not ids:
        return {}
    channels = MessageChannels.from_settings(settings or get_settings())
    try:
        result = drain(channels, ids=ids)
    finally:
        channels.close()
    return {"sent": result.sent, "failed": result.failed, "retried": result.retried}
