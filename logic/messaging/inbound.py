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

Applying a batch is on the webhooks' hot path, so it loads no entities: its statements are built
once, select plain columns and run on the session's connection (Core), since the ORM's loading,
change tracking and execution layers cost more than the statements' own work.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select, text, update
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


@lru_cache(maxsize=4096)
def _number(raw: str | None) -> str | None:
    """E.164 of a sender's number (cached: the same drivers text again and again)."""
    if not raw:
        return None
    try:
        return to_e164(raw)
    except InvalidPhoneNumber:
        return raw[:20]


@dataclass(frozen=True)
class _Sender:
    """The driver a message came from: the two things processing needs, not the whole row."""

    id: int
    full_name: str


# A sender's columns, by Samsara driver id or by number (built once; the IN lists are bound).
_SENDER = (Driver.id, Driver.samsara_id, Driver.phone, Driver.first_name, Driver.last_name)
_BY_SAMSARA_ID = select(*_SENDER).where(Driver.samsara_id.in_(bindparam("ids", expanding=True)))
_BY_PHONE = (
    select(*_SENDER)
    .where(Driver.phone.in_(bindparam("numbers", expanding=True)))
    .order_by(Driver.id.desc())
)


def _drivers_for(session: Session, items: Sequence[Received]) -> dict[int, _Sender]:
    """Each item's driver (by Samsara driver id, else number), in two queries for all."""
    samsara_ids = {i.samsara_driver_id for i in items if i.samsara_driver_id}
    numbers = {_number(i.phone_number) for i in items if i.phone_number and not i.samsara_driver_id}
    by_samsara = (
        {
            row.samsara_id: row
            for row in session.connection().execute(_BY_SAMSARA_ID, {"ids": sorted(samsara_ids)})
        }
        if samsara_ids
        else {}
    )
    by_phone: dict[str, Any] = {}
    if numbers:
        rows = session.connection().execute(_BY_PHONE, {"numbers": sorted(numbers)})
        by_phone = {row.phone: row for row in rows}  # the lowest id wins
    found = {}
    for n, item in enumerate(items):
        row = (
            by_samsara.get(item.samsara_driver_id)
            if item.samsara_driver_id
            else by_phone.get(_number(item.phone_number) or "")
        )
        if row is not None:  # named as `Driver.full_name` names them
            found[n] = _Sender(row.id, f"{row.first_name} {row.last_name}".strip())
    return found


# The columns a reply takes from what it answers (`_contexts`).
CONTEXT_COLUMNS = ("reply_to_id", "alert_id", "trip_id", "campaign_id", "contact_run_id", "purpose")


@dataclass
class _Reply:
    """A known driver's message as it is stored (what it answers, what it says), and what it
    does once stored: consent, the trip, the alert's thread."""

    context: dict[str, Any]
    word: str | None = None  # a consent keyword
    insight: dict[str, Any] = field(default_factory=dict)
    facts: str | None = None
    delay_minutes: int | None = None
    held: bool = False


def _body(item: Received) -> str:
    return (item.body or "")[:1600]


def _insert_new(insert: Any) -> Any:
    """Insert inbound messages unless stored already, returning the new rows' keys and ids."""
    table = DriverMessage.__table__
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["channel", "provider_message_id"])
        .returning(table.c.channel, table.c.provider_message_id, table.c.id)
    )


# The inbound insert, built once per dialect.
_INSERT_INBOUND = {"postgresql": _insert_new(pg_insert), "sqlite": _insert_new(sqlite_insert)}


def _insert_inbound(
    session: Session,
    items: Sequence[Received],
    drivers: dict[int, _Sender],
    replies: dict[int, _Reply],
) -> dict[int, int]:
    """Insert the messages not stored yet, in one statement, each with what it answers and
    says already filled in (no second statement per row); item index → new row id."""
    if not items:
        return {}
    rows = []
    for n, item in enumerate(items):
        reply = replies.get(n)
        context = reply.context if reply is not None else {}
        rows.append(
            {
                "driver_id": drivers[n].id if n in drivers else None,
                "channel": item.channel,
                "direction": MessageDirection.INBOUND.value,
                "body": _body(item),
                "phone_number": _number(item.phone_number),
                "samsara_driver_id": item.samsara_driver_id,
                "provider_message_id": item.provider_message_id,
                "delivery_status": DeliveryStatus.RECEIVED.value,
                "status": "received",
                "attempts": 0,
                "insight": reply.insight if reply is not None else {},
                **{name: context.get(name) for name in CONTEXT_COLUMNS},
                "created_at": item.occurred_at,
                "updated_at": item.occurred_at,
            }
        )
    stmt = _INSERT_INBOUND[session.get_bind().dialect.name]
    inserted = {(c, pid): row_id for c, pid, row_id in session.connection().execute(stmt, rows)}
    new: dict[int, int] = {}
    for n, item in enumerate(items):
        row_id = inserted.pop((item.channel, item.provider_message_id), None)
        if row_id is not None:  # a message twice in one batch is new once
            new[n] = row_id
    return new


def _newest(model: Any, columns: Sequence[Any], *where: Any) -> Select[Any]:
    """Each driver's newest row of `model` matching `where`, for the `driver_ids` bound at
    execution (a window), as plain rows of `columns`: loading and tracking whole entities cost
    more than the query. Built once: building a subquery costs more than running it."""
    rank = (
        func.row_number()
        .over(partition_by=model.driver_id, order_by=(model.created_at.desc(), model.id.desc()))
        .label("rank")
    )
    ranked = (
        select(model.driver_id, *columns, rank)
        .where(model.driver_id.in_(bindparam("driver_ids", expanding=True)), *where)
        .subquery()
    )
    return select(ranked).where(ranked.c.rank == 1)


# What a reply answers (`_contexts`): the latest message we sent, call, active contact run.
_LATEST_SENT = _newest(
    DriverMessage,
    [DriverMessage.id, DriverMessage.created_at, DriverMessage.alert_id, DriverMessage.trip_id,
     DriverMessage.campaign_id, DriverMessage.contact_run_id, DriverMessage.purpose],
    DriverMessage.direction == MessageDirection.OUTBOUND,
    DriverMessage.created_at >= bindparam("since"),
)  # fmt: skip
_LATEST_CALL = _newest(
    Call,
    [Call.created_at, Call.alert_id, Call.trip_id, Call.purpose],
    Call.created_at >= bindparam("since"),
)
_ACTIVE_RUN = _newest(
    ContactRun,
    [ContactRun.id, ContactRun.alert_id, ContactRun.trip_id, ContactRun.campaign_id,
     ContactRun.purpose],
    ContactRun.status == RunStatus.ACTIVE,
)  # fmt: skip


def _contexts(session: Session, driver_ids: set[int], now: datetime) -> dict[int, dict[str, Any]]:
    """What each driver's reply answers, in three statements for the batch: the active contact
    run they are being reached by, else the latest message we sent them, else their latest
    call (within `REPLY_WINDOW`); the run fills what the message or call does not say."""
    if not driver_ids:
        return {}
    bound = {"driver_ids": sorted(driver_ids), "since": now - REPLY_WINDOW}
    sent, calls, runs = (
        {row.driver_id: row for row in session.connection().execute(query, bound)}
        for query in (_LATEST_SENT, _LATEST_CALL, _ACTIVE_RUN)
    )
    contexts: dict[int, dict[str, Any]] = {}
    for driver_id in driver_ids:
        message, call, run = sent.get(driver_id), calls.get(driver_id), runs.get(driver_id)
        context: dict[str, Any] = {}
        if message is not None and (call is None or message.created_at >= call.created_at):
            context = {
                "reply_to_id": message.id,
                "alert_id": message.alert_id,
                "trip_id": message.trip_id,
                "campaign_id": message.campaign_id,
                "contact_run_id": message.contact_run_id,
                "purpose": message.purpose,
            }
        elif call is not None:
            context = {"alert_id": call.alert_id, "trip_id": call.trip_id, "purpose": call.purpose}
        if run is not None:
            context = {
                **context,
                "contact_run_id": run.id,
                "alert_id": run.alert_id or context.get("alert_id"),
                "trip_id": run.trip_id or context.get("trip_id"),
                "campaign_id": run.campaign_id or context.get("campaign_id"),
                "purpose": run.purpose,
            }
        contexts[driver_id] = context
    return contexts


def _read_reply(session: Session, item: Received, context: dict[str, Any]) -> _Reply:
    """A known driver's message before it is stored: consent is no answer to a contact plan (the
    run goes on, and texts no more); anything else is read with the call transcript rules."""
    body = _body(item)
    word = consent.keyword(body) if item.channel == MessageChannel.SMS else None
    if word is not None and _number(item.phone_number):
        return _Reply({**context, "contact_run_id": None}, word)
    trip_id = context.get("trip_id")
    stops = (
        list(session.scalars(select(TripStop).where(TripStop.trip_id == trip_id)))
        if trip_id
        else []
    )
    found = extract_insights(
        turns=[Turn("user", body)],
        stop_cities=[s.city for s in stops if s.city],
        purpose=context.get("purpose"),
    )
    reply = _Reply(context)
    insight = reply.insight
    facts = []
    if found.delay_minutes is not None:
        minutes = int(found.delay_minutes.value)
        insight["reported_delay_minutes"] = reply.delay_minutes = minutes
        facts.append("on time" if minutes == 0 else f"{format_duration(minutes)} late")
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
        reply.held = True
    if found.needs_follow_up is not None and found.needs_follow_up.value:
        insight["needs_follow_up"] = True
        insight["follow_up_reason"] = found.follow_up_reason
    if insight:
        insight["provenance"] = found.provenance()
    reply.facts = ("Driver reported: " + "; ".join(facts)) if facts else None
    return reply


def _take_message(
    session: Session,
    row_id: int,
    item: Received,
    driver: _Sender,
    reply: _Reply,
    now: datetime,
    result: Applied,
) -> None:
    """A new message from a known driver, stored: consent, the trip, the alert's thread."""
    phone = _number(item.phone_number)
    if reply.word is not None and phone:
        if reply.word in consent.OPT_OUT:
            result.opted_out += 1
            if consent.opt_out(session, phone, driver.id, reply.word, now):
                sending.queue_message(
                    session,
                    sending.MessageRequest(
                        driver_id=driver.id,
                        channel=MessageChannel.SMS,
                        body=consent.CONFIRMATION,
                        purpose=sending.CONSENT_PURPOSE,
                        reply_to_id=row_id,
                        actor_label="sms consent",
                    ),
                    now=now,
                    checked=False,
                )
        else:
            consent.opt_in(session, phone, driver.id, reply.word, now)
        return
    trip_id, alert_id = reply.context.get("trip_id"), reply.context.get("alert_id")
    if reply.delay_minutes is not None and trip_id is not None:
        record_reported_delay(session, trip_id, reply.delay_minutes, item.occurred_at)
    if reply.held and trip_id is not None:
        stop_visits.record_driver_report(session, trip_id, item.occurred_at)
    alert = session.get(Alert, alert_id) if alert_id else None
    if alert is not None:
        who = driver.full_name or f"driver {driver.id}"
        text = f":speech_balloon: {who} replied {CHANNEL_LABEL[item.channel]}: “{_body(item)}”"
        alert_outbox.enqueue_reply(
            session, alert, text + (f"\n{reply.facts}" if reply.facts else ""), now
        )


# What a status moves on the message it names (`sending.advance`).
DELIVERY_COLUMNS = ("delivery_status", "delivered_at", "read_at", "error", "updated_at")


@dataclass
class _Sent:
    """A message we sent, as far as a status moves it: its id and delivery columns, and the
    values they were loaded with (to write back only what changed, as the ORM would)."""

    id: int
    delivery_status: str
    delivered_at: datetime | None
    read_at: datetime | None
    error: str | None
    updated_at: datetime
    loaded: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        self.loaded = self._values()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in DELIVERY_COLUMNS)

    def changes(self) -> dict[str, Any]:
        return {
            name: value
            for name, value, before in zip(
                DELIVERY_COLUMNS, self._values(), self.loaded, strict=True
            )
            if value != before
        }


_SENT = (DriverMessage.id, *(getattr(DriverMessage, name) for name in DELIVERY_COLUMNS))


def _find_sent(
    session: Session, item: Received, known: dict[tuple[str, str], _Sent]
) -> _Sent | None:
    """Our message a status names: by its provider id (looked up for the whole batch), else
    for in-cab messages by driver and text (the oldest unnamed one sent before it)."""
    named = known.get((item.channel, item.provider_message_id or ""))
    if named is not None or item.channel != MessageChannel.SAMSARA_MESSAGE:
        return named
    row = (
        session.connection()
        .execute(
            select(*_SENT)
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
        )
        .first()
    )
    if row is None:
        return None
    # Named at once, so the next unnamed status of the batch matches the next message.
    table = DriverMessage.__table__
    session.connection().execute(
        update(table)
        .where(table.c.id == row.id)
        .values(provider_message_id=item.provider_message_id)
    )
    sent = _Sent(*row)
    known[(item.channel, item.provider_message_id or "")] = sent
    return sent


# The messages of one channel named by provider ids (built once, the ids bound): by channel and
# id, so the unique (channel, provider_message_id) index serves it (by the id alone it cannot,
# and the table is scanned on every pass).
_NAMED = select(DriverMessage.provider_message_id, *_SENT).where(
    DriverMessage.channel == bindparam("channel"),
    DriverMessage.provider_message_id.in_(bindparam("ids", expanding=True)),
)


def _known(session: Session, items: Sequence[Received]) -> dict[tuple[str, str], _Sent]:
    """The messages the statuses name, by (channel, provider id): a statement per channel (a
    pass has statuses of one channel: Twilio's, or one polled channel's)."""
    ids: dict[str, set[str]] = {}
    for item in items:
        if item.provider_message_id:
            ids.setdefault(item.channel, set()).add(item.provider_message_id)
    known = {}
    for channel, pids in sorted(ids.items()):
        for row in session.connection().execute(_NAMED, {"channel": channel, "ids": sorted(pids)}):
            known[(channel, row[0])] = _Sent(*row[1:])
    return known


def _take_status(
    session: Session,
    item: Received,
    known: dict[tuple[str, str], _Sent],
    now: datetime,
    result: Applied,
) -> bool:
    """False when the message is not known (yet)."""
    row = _find_sent(session, item, known)
    if row is None:
        return False
    if sending.advance(row, item.status or "", now, item.error):
        result.statuses += 1
    return True


# The SET clause is each executemany's parameter names other than `row_id`.
_SAVE_STATUSES = update(DriverMessage.__table__).where(
    DriverMessage.__table__.c.id == bindparam("row_id")
)


def _save_statuses(session: Session, sent: Sequence[_Sent]) -> None:
    """Write back what the statuses moved: one executemany UPDATE per set of changed columns
    (a batch of callbacks is nearly always one set), rows in id order as the ORM's flush (two
    workers' passes then lock shared rows in the same order)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in sorted(sent, key=lambda row: row.id):
        changed = row.changes()
        if changed:
            groups.setdefault(tuple(changed), []).append({"row_id": row.id, **changed})
    for params in groups.values():
        session.connection().execute(_SAVE_STATUSES, params)


def apply_received(
    session: Session, items: Sequence[Received], *, now: datetime
) -> tuple[Applied, list[int]]:
    """Apply what the channels reported; returns what was done and the indexes of statuses
    whose message is not known yet (their events wait for a later pass). Senders, what they
    answer and the new messages take one statement each for the whole batch."""
    result = Applied()
    messages = [item for item in items if item.kind == "message"]
    statuses = [(n, item) for n, item in enumerate(items) if item.kind == "status"]
    drivers = _drivers_for(session, messages)
    contexts = _contexts(session, {driver.id for driver in drivers.values()}, now)
    # One flush at the end (the trips' and alerts' changes batched), not one before every read.
    with session.no_autoflush:
        replies = {
            n: _read_reply(session, messages[n], contexts[driver.id])
            for n, driver in drivers.items()
        }
        new = _insert_inbound(session, messages, drivers, replies)
        result.replies = len(new)
        for index, row_id in sorted(new.items()):
            item, driver = messages[index], drivers.get(index)
            if driver is None:
                log.info(
                    "%s message %s from an unknown sender", item.channel, item.provider_message_id
                )
                continue
            _take_message(session, row_id, item, driver, replies[index], now, result)
    known = _known(session, [item for _, item in statuses])
    waiting = [n for n, item in statuses if not _take_status(session, item, known, now, result)]
    result.unmatched = len(waiting)
    _save_statuses(session, list(known.values()))
    session.flush()
    result.alert_deliveries = alert_outbox.queued_ids(session)
    result.messages = sending.queued_ids(session)
    return result, waiting


# A pass takes its events by primary key alone and locks them, then marks those still
# unprocessed (built once; the ids and time bound). With `processed_at IS NULL` in the
# statement, PostgreSQL may serve it from the pending index when its statistics say few events
# wait — and under a burst that scans every waiting event: 26 ms instead of 0.5 ms for a batch
# of 20 (EXPLAIN ANALYZE, bench/messaging_bench.py's inbox).
_LOCK = (
    select(
        WebhookEvent.id,
        WebhookEvent.provider,
        WebhookEvent.processed_at,
        WebhookEvent.payload,
        WebhookEvent.received_at,
    )
    .where(WebhookEvent.id.in_(bindparam("ids", expanding=True)))
    .order_by(WebhookEvent.id)
    .with_for_update()
)
_MARK = (
    update(WebhookEvent)
    .where(WebhookEvent.id.in_(bindparam("ids", expanding=True)))
    .values(processed_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


def _claim(session: Session, event_ids: Sequence[int], now: datetime) -> list[Any]:
    """The events of `event_ids` not processed yet, now marked processed, in id order."""
    rows = session.connection().execute(_LOCK, {"ids": list(event_ids)}).all()
    claimed = [row for row in rows if row.provider == PROVIDER and row.processed_at is None]
    if claimed:
        session.connection().execute(_MARK, {"ids": [row.id for row in claimed], "now": now})
    return claimed


@db_retry(max_retries=3)
def _process_twilio(event_ids: Sequence[int], now: datetime) -> Applied:
    """The events are durable in the inbox and all this is derived from them: on PostgreSQL
    the commit does not wait for the WAL flush (a crash that loses it leaves the events
    unprocessed, and the messaging tick applies them again), as the calls' processing does."""
    with session_scope() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL synchronous_commit = off"))
        claimed = _claim(session, event_ids, now)
        pairs = [(row.id, webhook_received(row.payload, row.received_at)) for row in claimed]
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
