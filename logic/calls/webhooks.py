"""The webhook inbox for VAPI and ElevenLabs: store each verified event once, process it later.

`receive_many` stores the deliveries that arrived together (helpers/group_commit.py batches the
concurrent requests): one `INSERT … ON CONFLICT DO NOTHING` keyed by (provider, fingerprint), so
duplicates and concurrent identical deliveries insert one row and only the request that inserted
it schedules processing. `process_calls` runs after that commit in its own transaction: it locks
the calls (in id order), applies every unprocessed event of each call in provider order, then
finalizes each call once (insights and write-back). An event whose call we do not know yet stays
unlinked; `match_unlinked_events` links it when the call appears (by provider id or
`hub_call_id`), after a placement commits and on every reconciliation pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlmodel import Session

from db.database import session_scope
from db.retry import db_retry
from helpers.time_utils import utc_now
from logic.alerts import outbox
from logic.calls.events import EventKey, apply_event
from models.call import Call
from models.webhook_event import WebhookEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Intake:
    """What `receive` did: `stored` is False for a duplicate; `call_id` when already linked."""

    stored: bool
    event_id: int | None
    call_id: int | None


def _known_calls(session: Session, keys: Sequence[EventKey]) -> dict[EventKey, int]:
    """The call of each event that can be resolved now: by provider id, else by `hub_call_id`."""
    provider_ids: dict[str, set[str]] = {}
    for key in keys:
        if key.provider_call_id:
            provider_ids.setdefault(key.provider, set()).add(key.provider_call_id)
    hub_ids = {k.hub_call_id for k in keys if k.hub_call_id is not None}
    if not provider_ids and not hub_ids:
        return {}
    # One IN list per provider (at most two), so the unique (provider, provider_call_id) index
    # serves each and the statement's shape, hence its compiled form, is reused.
    wanted = [
        and_(Call.provider == provider, Call.provider_call_id.in_(sorted(ids)))
        for provider, ids in sorted(provider_ids.items())
    ]
    if hub_ids:
        wanted.append(Call.id.in_(sorted(hub_ids)))
    rows = session.execute(
        select(Call.id, Call.provider, Call.provider_call_id).where(or_(*wanted))
    ).all()
    by_pid = {(provider, pid): call_id for call_id, provider, pid in rows if pid}
    by_id = {call_id: (provider, pid) for call_id, provider, pid in rows}
    resolved: dict[EventKey, int] = {}
    for key in keys:
        call_id = by_pid.get((key.provider, key.provider_call_id))
        if call_id is None and key.hub_call_id in by_id:
            # hub_call_id alone is trusted only for a call of the same provider that has no
            # provider id yet or the same one (an id from another call must not hijack it).
            provider, pid = by_id[key.hub_call_id]
            if provider == key.provider and pid in (None, key.provider_call_id):
                call_id = key.hub_call_id
        if call_id is not None:
            resolved[key] = call_id
    return resolved


def receive_many(
    session: Session, events: Sequence[tuple[EventKey, dict[str, Any]]], *, now: datetime
) -> list[Intake]:
    """Insert each event unless its fingerprint is already in the inbox (or earlier in
    `events`): one `INSERT … ON CONFLICT DO NOTHING` for all of them, each linked to its call."""
    calls = _known_calls(session, [key for key, _ in events])
    first: dict[tuple[str, str], int] = {}
    for n, (key, _) in enumerate(events):
        first.setdefault((key.provider, key.fingerprint), n)
    rows = [
        {
            "provider": key.provider,
            "fingerprint": key.fingerprint,
            "event_type": key.event_type,
            "provider_call_id": key.provider_call_id,
            "hub_call_id": key.hub_call_id,
            "call_id": calls.get(key),
            "occurred_at": key.occurred_at,
            "received_at": now,
            "payload": payload,
            "attempts": 0,
        }
        for n, (key, payload) in enumerate(events)
        if first[(key.provider, key.fingerprint)] == n
    ]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = WebhookEvent.__table__
    stmt = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["provider", "fingerprint"])
        .returning(table.c.provider, table.c.fingerprint, table.c.id)
    )
    # A Core insert (no ORM bulk machinery) with a parameter list: SQLAlchemy sends one
    # multi-row INSERT (insertmanyvalues).
    inserted = {(p, fp): event_id for p, fp, event_id in session.execute(stmt, rows)}
    intakes = []
    for n, (key, _) in enumerate(events):
        event_id = inserted.get((key.provider, key.fingerprint))
        if event_id is None or first[(key.provider, key.fingerprint)] != n:
            intakes.append(Intake(stored=False, event_id=None, call_id=None))
        else:
            intakes.append(Intake(stored=True, event_id=event_id, call_id=calls.get(key)))
    return intakes


def receive(session: Session, key: EventKey, payload: dict[str, Any], *, now: datetime) -> Intake:
    """`receive_many` for one event."""
    return receive_many(session, [(key, payload)], now=now)[0]


@db_retry(max_retries=3)
def _receive_committed(events: Sequence[tuple[EventKey, dict[str, Any]]]) -> list[Intake]:
    with session_scope() as session:
        return receive_many(session, events, now=utc_now())


def receive_unit(
    events: Sequence[tuple[EventKey, dict[str, Any]]],
) -> list[Intake | DBAPIError]:
    """`receive_many` in its own transaction, committed (durably) before anyone is answered.

    A value one delivery carries that its column cannot hold fails the whole statement; the
    batch is then stored one event at a time, so only that delivery fails (its error in its
    place) and the others are kept.
    """
    try:
        return list(_receive_committed(events))
    except (DataError, IntegrityError):
        if len(events) == 1:
            raise
    results: list[Intake | DBAPIError] = []
    for event in events:
        try:
            results.append(_receive_committed([event])[0])
        except (DataError, IntegrityError) as exc:
            results.append(exc)
    return results


def _lock_calls(session: Session, call_ids: Sequence[int]) -> list[Call]:
    # In id order, so two batches sharing calls cannot deadlock.
    return list(
        session.scalars(
            select(Call)
            .where(Call.id.in_(sorted(set(call_ids))))
            .order_by(Call.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


@dataclass(frozen=True)
class _PendingEvent:
    id: int
    event_type: str
    payload: dict[str, Any]
    provider_call_id: str | None = None


def _pending_events(session: Session, call_ids: Sequence[int]) -> dict[int, list[_PendingEvent]]:
    """Each call's unprocessed events, oldest provider time first."""
    events: dict[int, list[_PendingEvent]] = {call_id: [] for call_id in call_ids}
    rows = session.execute(
        select(
            WebhookEvent.call_id,
            WebhookEvent.id,
            WebhookEvent.event_type,
            WebhookEvent.payload,
            WebhookEvent.provider_call_id,
        )
        .where(WebhookEvent.call_id.in_(list(call_ids)), WebhookEvent.processed_at.is_(None))
        .order_by(WebhookEvent.call_id, WebhookEvent.occurred_at.nulls_last(), WebhookEvent.id)
    )
    for call_id, event_id, event_type, payload, provider_call_id in rows:
        events[call_id].append(_PendingEvent(event_id, event_type, payload, provider_call_id))
    return events


def _apply(call: Call, events: list[_PendingEvent], *, now: datetime) -> dict[int, str]:
    """Apply `events` to `call`; returns the error of each event that could not be applied."""
    errors: dict[int, str] = {}
    for event in events:
        if call.provider_call_id is None and event.provider_call_id:
            # Linked by `hub_call_id` before the dial was recorded (or while it was unknown):
            # the event proves the provider placed it and names its id.
            call.provider_call_id = event.provider_call_id
            call.dialed_at = call.dialed_at or now
        try:
            # Applying touches only the call object (no SQL), so no savepoint is needed.
            apply_event(call, event.event_type, event.payload, now=now)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A payload we cannot read is kept with its error, never retried forever.
            errors[event.id] = f"{type(exc).__name__}: {exc}"[:1000]
            log.warning("call %s: webhook event %s not applied: %s", call.id, event.id, exc)
    return errors


def _mark_processed(
    session: Session, event_ids: list[int], errors: dict[int, str], now: datetime
) -> None:
    """One UPDATE for the applied events, one per event that failed (rare)."""
    done = {"processed_at": now, "attempts": WebhookEvent.attempts + 1}
    if event_ids:
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(event_ids)).values(done))
    for event_id, error in errors.items():
        session.execute(
            update(WebhookEvent).where(WebhookEvent.id == event_id).values(done, error=error)
        )


@dataclass(frozen=True)
class Processed:
    applied: int
    finalized: bool  # this pass finalized the call (insights and write-back queued)
    deliveries: tuple[int, ...] = ()  # alert outbox rows the finalization queued


def process_calls(
    session: Session, call_ids: Sequence[int], *, now: datetime | None = None
) -> dict[int, Processed]:
    """Lock the calls, apply their pending events, finalize each that has its final report."""
    from logic.calls.insights import finalize_call

    now = now or utc_now()
    calls = _lock_calls(session, call_ids)
    pending = _pending_events(session, [call.id for call in calls])
    results = {call_id: Processed(0, False) for call_id in call_ids}
    applied: list[int] = []
    errors: dict[int, str] = {}
    for call in calls:
        events = pending[call.id]
        failed = _apply(call, events, now=now)
        errors.update(failed)
        applied += [event.id for event in events if event.id not in failed]
        finalized = call.report_received_at is not None and call.finalized_at is None
        queued_before = len(outbox.queued_ids(session))
        if finalized:
            finalize_call(session, call, now=now)
        deliveries = tuple(outbox.queued_ids(session)[queued_before:])
        results[call.id] = Processed(len(events), finalized, deliveries)
    session.flush()
    _mark_processed(session, applied, errors, now)
    return results


def process_call_events(
    session: Session, call_id: int, *, now: datetime | None = None
) -> Processed:
    """`process_calls` for one call."""
    return process_calls(session, [call_id], now=now)[call_id]


@db_retry(max_retries=3)
def process_calls_unit(call_ids: Sequence[int]) -> dict[int, Processed]:
    """`process_calls` as its own unit of work (the webhook endpoints' after-commit task).

    The events are already durable in the inbox and this state is derived from them, so on
    PostgreSQL the commit does not wait for the WAL flush; if a crash loses it, the events stay
    unprocessed and reconciliation applies them again (`pending_call_ids`).
    """
    with session_scope() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL synchronous_commit = off"))
        return process_calls(session, call_ids)


def pending_call_ids(session: Session, *, older_than: datetime, limit: int = 500) -> list[int]:
    """Calls with linked events still unprocessed since before `older_than` (a lost task)."""
    query = (
        select(WebhookEvent.call_id)
        .where(
            WebhookEvent.processed_at.is_(None),
            WebhookEvent.call_id.is_not(None),
            WebhookEvent.received_at < older_than,
        )
        .distinct()
        .limit(limit)
    )
    return [call_id for call_id in session.scalars(query) if call_id is not None]


def match_unlinked_events(
    session: Session, *, call_ids: list[int] | None = None, now: datetime | None = None
) -> list[int]:
    """Link events that arrived before their call; returns the ids of calls that gained events."""
    unlinked = session.execute(
        select(WebhookEvent.provider, WebhookEvent.provider_call_id, WebhookEvent.hub_call_id)
        .where(WebhookEvent.call_id.is_(None))
        .distinct()
    ).all()
    provider_ids = {(p, pid) for p, pid, _ in unlinked if pid}
    hub_ids = {hub for _, _, hub in unlinked if hub is not None}
    if not provider_ids and not hub_ids:
        return []
    candidates = select(Call.id, Call.provider, Call.provider_call_id).where(
        or_(
            tuple_(Call.provider, Call.provider_call_id).in_(list(provider_ids))
            if provider_ids
            else false(),
            Call.id.in_(list(hub_ids)),
        )
    )
    if call_ids is not None:
        candidates = candidates.where(Call.id.in_(call_ids))
    linked: set[int] = set()
    for call_id, provider, provider_call_id in session.execute(candidates).all():
        by_hub = and_(
            WebhookEvent.hub_call_id == call_id,
            or_(
                WebhookEvent.provider_call_id.is_(None),
                WebhookEvent.provider_call_id == provider_call_id,
            ),
        )
        result = session.execute(
            update(WebhookEvent)
            .where(
                WebhookEvent.call_id.is_(None),
                WebhookEvent.provider == provider,
                or_(WebhookEvent.provider_call_id == provider_call_id, by_hub),
            )
            .values(call_id=call_id)
        )
        if result.rowcount:
            linked.add(call_id)
    return sorted(linked)


@db_retry(max_retries=3)
def match_and_process(call_ids: list[int]) -> list[Processed]:
    """After a placement commits: link early events to the new calls and apply them."""
    with session_scope() as session:
        linked = match_unlinked_events(session, call_ids=call_ids)
    return list(process_calls_unit(linked).values()) if linked else []
