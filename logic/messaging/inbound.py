"""What comes back from drivers: replies, delivery and read statuses — stored once, applied once.

Twilio's webhooks enter through the shared webhook inbox (`logic.calls.webhooks.receive_unit`,
provider `twilio`, fingerprint `sms:<sid>` or `status:<sid>:<status>`), so a redelivery or three
identical concurrent posts are one event; `process_twilio_events` applies them after the commit.
Samsara's in-cab replies and read flags are polled (`poll_channels`). Both end in
`apply_received`:

- a status moves the message it names forward (`sending.advance`); a status for a message whose
  send is not recorded yet stays pending in the inbox and is applied by a later pass;
- a driver's message is inserted once (unique channel + provider id), matched to the driver by
  number or Samsara driver id, linked to the latest message we sent them (its alert, trip,
  campaign and contact run), checked for STOP/START (`consent.py`), posted to the alert's Slack
  thread, and read with the call transcript rules (`utils/call_insights.py`): a reported delay
  is written on the trip exactly as a call's is (`logic.calls.insights.record_reported_delay`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from config import Settings, get_settings
from db.database import session_scope
from db.retry import db_retry
from helpers.errors import UpstreamNotConfigured
from helpers.phone import InvalidPhoneNumber, to_e164
from helpers.time_utils import format_duration, utc_now
from logic.alerts import outbox as alert_outbox
from logic.calls.events import EventKey
from logic.calls.insights import record_reported_delay
from logic.messaging import consent, sending
from logic.messaging.channel import Received
from logic.messaging.registry import MessageChannels
from logic.messaging.sms_channel import webhook_received
from logic.trips import stop_visits
from models.alert import Alert
from models.call import Call
from models.contact_plan import ContactRun, RunStatus
from models.driver import Driver
from models.driver_message import (
    DeliveryStatus,
    DriverMessage,
    MessageChannel,
    MessageDirection,
)
from models.ingest import IngestCursor
from models.trip import TripStop
from models.webhook_event import WebhookEvent
from utils.call_insights import Turn, extract_insights
from utils.http import VendorError
from utils.slack_client import build_slack_client

log = logging.getLogger(__name__)

PROVIDER = "twilio"
# A reply belongs to the latest message (or call) we sent the driver within this long.
REPLY_WINDOW = timedelta(hours=48)
# An in-cab message we sent is matched in Samsara's list up to this long after its row.
MATCH_SLACK = timedelta(minutes=10)
# Read flags are polled for messages this young; replies since the cursor, with this overlap.
READ_WATCH = timedelta(hours=24)
POLL_OVERLAP = timedelta(minutes=2)
CHANNEL_LABEL = {MessageChannel.SMS: "by text", MessageChannel.SAMSARA_MESSAGE: "in-cab"}


def twilio_event_key(form: Mapping[str, str]) -> EventKey | None:
    """The inbox key of a verified Twilio webhook; None for a form that is neither an inbound
    text nor a status callback."""
    received = webhook_received(form, utc_now())
    if received is None or not received.provider_message_id:
        return None
    sid = received.provider_message_id
    if received.kind == "message":
        return EventKey(PROVIDER, "message", f"sms:{sid}", None, None, None)
    return EventKey(PROVIDER, "status", f"status:{sid}:{received.status}", None, None, None)


@dataclass
class Applied:
    """What a pass did, and what to send once it has committed."""

    replies: int = 0
    statuses: int = 0
    unmatched: int = 0
    opted_out: int = 0
    alert_deliveries: list[int] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)


def _driver_for(session: Session, item: Received) -> Driver | None:
    if item.samsara_driver_id:
        return Driver.get_by_samsara_id(session, item.samsara_driver_id)
    if item.phone_number:
        try:
            return Driver.find_by_phone(session, to_e164(item.phone_number))
        except InvalidPhoneNumber:
            return None
    return None


def _insert_inbound(session: Session, item: Received, driver: Driver | None) -> int | None:
    """The new row's id, or None when this message is already stored."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    number = None
    if item.phone_number:
        try:
            number = to_e164(item.phone_number)
        except InvalidPhoneNumber:
            number = item.phone_number[:20]
    stmt = (
        insert(DriverMessage)
        .values(
            driver_id=driver.id if driver else None,
            channel=item.channel,
            direction=MessageDirection.INBOUND.value,
            body=(item.body or "")[:1600],
            phone_number=number,
            samsara_driver_id=item.samsara_driver_id,
            provider_message_id=item.provider_message_id,
            delivery_status=DeliveryStatus.RECEIVED.value,
            status="received",
            attempts=0,
            insight={},
            created_at=item.occurred_at,
            updated_at=item.occurred_at,
        )
        .on_conflict_do_nothing(index_elements=["channel", "provider_message_id"])
        .returning(DriverMessage.id)
    )
    return session.execute(stmt).scalar()


def _context(session: Session, driver_id: int, now: datetime) -> dict[str, Any]:
    """What a reply answers: the latest message we sent the driver, else their latest call."""
    since = now - REPLY_WINDOW
    sent = session.scalars(
        select(DriverMessage)
        .where(
            DriverMessage.driver_id == driver_id,
            DriverMessage.direction == MessageDirection.OUTBOUND,
            DriverMessage.created_at >= since,
        )
        .order_by(DriverMessage.created_at.desc(), DriverMessage.id.desc())
        .limit(1)
    ).first()
    call = session.scalars(
        select(Call)
        .where(Call.driver_id == driver_id, Call.created_at >= since)
        .order_by(Call.created_at.desc(), Call.id.desc())
        .limit(1)
    ).first()
    if sent is not None and (call is None or sent.created_at >= call.created_at):
        return {
            "reply_to_id": sent.id,
            "alert_id": sent.alert_id,
            "trip_id": sent.trip_id,
            "campaign_id": sent.campaign_id,
            "contact_run_id": sent.contact_run_id,
            "purpose": sent.purpose,
        }
    context: dict[str, Any] = {}
    if call is not None:
        context = {"alert_id": call.alert_id, "trip_id": call.trip_id, "purpose": call.purpose}
    return context


def _with_run(session: Session, driver_id: int, context: dict[str, Any]) -> dict[str, Any]:
    """A driver being reached by a contact plan answers that run (whatever step spoke last)."""
    run = session.scalars(
        select(ContactRun)
        .where(ContactRun.driver_id == driver_id, ContactRun.status == RunStatus.ACTIVE)
        .order_by(ContactRun.id.desc())
        .limit(1)
    ).first()
    if run is None:
        return context
    return {
        **context,
        "contact_run_id": run.id,
        "alert_id": run.alert_id or context.get("alert_id"),
        "trip_id": run.trip_id or context.get("trip_id"),
        "campaign_id": run.campaign_id or context.get("campaign_id"),
        "purpose": run.purpose,
    }


def _read_reply(
    session: Session, message: DriverMessage, now: datetime
) -> tuple[dict[str, Any], str | None]:
    """The call transcript rules over the reply's text, written back to its trip."""
    stops = (
        list(session.scalars(select(TripStop).where(TripStop.trip_id == message.trip_id)))
        if message.trip_id
        else []
    )
    found = extract_insights(
        turns=[Turn("user", message.body)],
        stop_cities=[s.city for s in stops if s.city],
        purpose=message.purpose,
    )
    insight: dict[str, Any] = {}
    facts = []
    if found.delay_minutes is not None:
        minutes = int(found.delay_minutes.value)
        insight["reported_delay_minutes"] = minutes
        facts.append("on time" if minutes == 0 else f"{format_duration(minutes)} late")
        if message.trip_id is not None:
            record_reported_delay(session, message.trip_id, minutes, message.created_at)
    if found.eta is not None:
        insight["reported_eta_text"] = found.eta.value
        facts.append(f"ETA {found.eta.value}")
    if found.location is not None:
        insight["reported_location"] = found.location.value
    if found.issues is not None and found.issues.value:
        insight["issues"] = list(found.issues.value)
        facts.append("issues: " + ", ".join(i.replace("_", " ") for i in found.issues.value))
    if found.hold_reason is not None:
        insight["hold_reason"] = found.hold_reason.value
        if message.trip_id is not None:
            stop_visits.record_driver_report(session, message.trip_id, message.created_at)
    if found.needs_follow_up is not None and found.needs_follow_up.value:
        insight["needs_follow_up"] = True
        insight["follow_up_reason"] = found.follow_up_reason
    if insight:
        insight["provenance"] = found.provenance()
    return insight, ("Driver reported: " + "; ".join(facts)) if facts else None


def _take_message(session: Session, item: Received, now: datetime, result: Applied) -> None:
    driver = _driver_for(session, item)
    message_id = _insert_inbound(session, item, driver)
    if message_id is None:
        return  # stored before: a redelivery or an overlapping poll
    result.replies += 1
    message = session.get(DriverMessage, message_id)
    if driver is None:
        log.info("%s message %s from an unknown sender", item.channel, item.provider_message_id)
        return
    context = _with_run(session, driver.id, _context(session, driver.id, item.occurred_at))
    for name, value in context.items():
        setattr(message, name, value)
    word = consent.keyword(message.body) if item.channel == MessageChannel.SMS else None
    if word is not None and message.phone_number:
        # Consent is no answer to a contact plan: the run goes on (and texts no more).
        message.contact_run_id = None
        if word in consent.OPT_OUT:
            result.opted_out += 1
            if consent.opt_out(session, message.phone_number, driver.id, word, now):
                sending.queue_message(
                    session,
                    sending.MessageRequest(
                        driver_id=driver.id,
                        channel=MessageChannel.SMS,
                        body=consent.CONFIRMATION,
                        purpose=sending.CONSENT_PURPOSE,
                        reply_to_id=message.id,
                        actor_label="sms consent",
                    ),
                    now=now,
                    checked=False,
                )
        else:
            consent.opt_in(session, message.phone_number, driver.id, word, now)
        return
    insight, facts = _read_reply(session, message, now)
    message.insight = insight
    alert = session.get(Alert, message.alert_id) if message.alert_id else None
    if alert is not None:
        who = driver.full_name or f"driver {driver.id}"
        text = f":speech_balloon: {who} replied {CHANNEL_LABEL[item.channel]}: “{message.body}”"
        alert_outbox.enqueue_reply(session, alert, text + (f"\n{facts}" if facts else ""), now)


def _find_sent_incab(session: Session, item: Received) -> DriverMessage | None:
    """Our in-cab message a Samsara list entry is: by its key once named, else by driver and
    text (the oldest unnamed one sent before it)."""
    named = DriverMessage.by_provider_id(session, item.channel, item.provider_message_id or "")
    if named is not None or item.channel != MessageChannel.SAMSARA_MESSAGE:
        return named
    row = session.scalars(
        select(DriverMessage)
        .where(
            DriverMessage.channel == item.channel,
            DriverMessage.direction == MessageDirection.OUTBOUND,
            DriverMessage.samsara_driver_id == item.samsara_driver_id,
            DriverMessage.provider_message_id.is_(None),
            DriverMessage.body == item.body,
            DriverMessage.created_at <= item.occurred_at + MATCH_SLACK,
        )
        .order_by(DriverMessage.created_at, DriverMessage.id)
        .limit(1)
    ).first()
    if row is not None:
        row.provider_message_id = item.provider_message_id
    return row


def _take_status(session: Session, item: Received, now: datetime, result: Applied) -> bool:
    """False when the message is not known (yet)."""
    row = _find_sent_incab(session, item)
    if row is None:
        return False
    if sending.advance(row, item.status or "", now, item.error):
        result.statuses += 1
    return True


def apply_received(
    session: Session, items: Sequence[Received], *, now: datetime
) -> tuple[Applied, list[int]]:
    """Apply what the channels reported; returns what was done and the indexes of statuses
    whose message is not known yet (their events wait for a later pass)."""
    result = Applied()
    waiting = []
    for n, item in enumerate(items):
        if item.kind == "message":
            _take_message(session, item, now, result)
        elif not _take_status(session, item, now, result):
            waiting.append(n)
    result.unmatched = len(waiting)
    session.flush()
    result.alert_deliveries = alert_outbox.queued_ids(session)
    result.messages = sending.queued_ids(session)
    return result, waiting


@db_retry(max_retries=3)
def _process_twilio(event_ids: Sequence[int], now: datetime) -> Applied:
    with session_scope() as session:
        claimed = session.execute(
            update(WebhookEvent)
            .where(
                WebhookEvent.id.in_(list(event_ids)),
                WebhookEvent.provider == PROVIDER,
                WebhookEvent.processed_at.is_(None),
            )
            .values(processed_at=now)
            .returning(WebhookEvent.id, WebhookEvent.payload, WebhookEvent.received_at)
            .execution_options(synchronize_session=False)
        ).all()
        claimed.sort(key=lambda row: row[0])
        pairs = [(row[0], webhook_received(row[1], row[2])) for row in claimed]
        items = [(event_id, item) for event_id, item in pairs if item is not None]
        result, waiting = apply_received(session, [item for _, item in items], now=now)
        if waiting:
            session.execute(
                update(WebhookEvent)
                .where(WebhookEvent.id.in_([items[n][0] for n in waiting]))
                .values(processed_at=None, attempts=WebhookEvent.attempts + 1)
                .execution_options(synchronize_session=False)
            )
        return result


def process_twilio_events(
    event_ids: Sequence[int], settings: Settings | None = None, *, now: datetime | None = None
) -> Applied:
    """Apply stored Twilio events (after their commit), then send what that queued: the Slack
    thread replies and the consent confirmations."""
    if not event_ids:
        return Applied()
    result = _process_twilio(event_ids, now or utc_now())
    after_commit(result, settings or get_settings())
    return result


def pending_twilio_events(limit: int = 500) -> list[int]:
    with session_scope(immediate=False) as session:
        return list(
            session.scalars(
                select(WebhookEvent.id)
                .where(WebhookEvent.provider == PROVIDER, WebhookEvent.processed_at.is_(None))
                .order_by(WebhookEvent.id)
                .limit(limit)
            )
        )


def after_commit(result: Applied, settings: Settings) -> None:
    if result.messages:
        sending.send_queued(result.messages, settings)
    if result.alert_deliveries:
        try:
            slack = build_slack_client(settings)
        except UpstreamNotConfigured:
            return  # the alert evaluation pass drains the outbox when Slack is configured
        alert_outbox.drain(slack, ids=result.alert_deliveries)


def _poll_since(session: Session, channel: str, now: datetime) -> datetime:
    """From the cursor (with an overlap), or further back to the oldest message of ours on
    the channel still waiting to be read."""
    cursor = IngestCursor.get_for(session, channel, "messages")
    since = now - timedelta(hours=1)
    if cursor is not None and cursor.cursor:
        since = datetime.fromisoformat(cursor.cursor) - POLL_OVERLAP
    unread = session.scalar(
        select(DriverMessage.created_at)
        .where(
            DriverMessage.channel == channel,
            DriverMessage.direction == MessageDirection.OUTBOUND,
            DriverMessage.read_at.is_(None),
            DriverMessage.status == "sent",
            DriverMessage.created_at >= now - READ_WATCH,
        )
        .order_by(DriverMessage.created_at)
        .limit(1)
    )
    return min(since, unread - POLL_OVERLAP) if unread is not None else since


def _save_cursor(session: Session, channel: str, now: datetime) -> None:
    cursor = IngestCursor.get_for(session, channel, "messages")
    if cursor is None:
        cursor = IngestCursor(source=channel, entity="messages")
        session.add(cursor)
    cursor.cursor = now.isoformat()
    cursor.updated_at = now


def poll_channels(
    channels: MessageChannels,
    settings: Settings,
    *,
    now: datetime | None = None,
    names: Sequence[str] = (MessageChannel.SAMSARA_MESSAGE,),
) -> dict[str, Any]:
    """Read each polled channel since its cursor (vendor I/O outside any transaction), then
    apply what came back in one transaction and move the cursor."""
    now = now or utc_now()
    summary: dict[str, Any] = {}
    for name in names:
        with session_scope(immediate=False) as session:
            since = _poll_since(session, name, now)
        try:
            received = channels.channel(name).receive(since, now)
        except UpstreamNotConfigured as exc:
            summary[name] = {"skipped": str(exc)}
            continue
        except VendorError as exc:
            log.warning("polling %s failed: %s", name, exc)
            summary[name] = {"error": str(exc)}
            continue
        with session_scope() as session:
            result, _ = apply_received(session, received, now=now)
            _save_cursor(session, name, now)
        after_commit(result, settings)
        summary[name] = {
            "fetched": len(received),
            "replies": result.replies,
            "statuses": result.statuses,
        }
    return summary
