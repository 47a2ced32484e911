"""The webhook inbox for VAPI and ElevenLabs: store each verified event once, process it later.

`receive` runs inside the request: one `INSERT … ON CONFLICT DO NOTHING` keyed by (provider,
fingerprint), so duplicates and concurrent identical deliveries insert one row and only the
request that inserted it schedules processing. `process_call_events` runs after that commit in
its own transaction: it locks the call row, applies every unprocessed event of the call in
provider order, then finalizes the call once (insights and write-back). An event whose call we do
not know yet stays unlinked; `match_unlinked_events` links it when the call appears (by provider
id or `hub_call_id`), after a placement commits and on every reconciliation pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, func, null, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from db.database import session_scope
from db.retry import db_retry
from helpers.time_utils import utc_now
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


def _call_id_expression(key: EventKey) -> Any:
    """SQL for the event's call id: by provider id, else by `hub_call_id`, else NULL."""
    candidates = []
    if key.provider_call_id:
        candidates.append(
            select(Call.id)
            .where(Call.provider == key.provider, Call.provider_call_id == key.provider_call_id)
            .scalar_subquery()
        )
    if key.hub_call_id is not None:
        # hub_call_id alone is trusted only for a call of the same provider that has no
        # provider id yet or the same one (an id from another call must not hijack it).
        candidates.append(
            select(Call.id)
            .where(
                Call.id == key.hub_call_id,
                Call.provider == key.provider,
                or_(
                    Call.provider_call_id.is_(None),
                    Call.provider_call_id == key.provider_call_id,
                ),
            )
            .scalar_subquery()
        )
    if not candidates:
        return null()
    return candidates[0] if len(candidates) == 1 else func.coalesce(*candidates)


def receive(session: Session, key: EventKey, payload: dict[str, Any], *, now: datetime) -> Intake:
    """Insert the event unless its fingerprint is already in the inbox: one statement, which
    also resolves the event's call."""
    values = {
        "provider": key.provider,
        "fingerprint": key.fingerprint,
        "event_type": key.event_type,
        "provider_call_id": key.provider_call_id,
        "hub_call_id": key.hub_call_id,
        "call_id": _call_id_expression(key),
        "occurred_at": key.occurred_at,
        "received_at": now,
        "payload": payload,
        "attempts": 0,
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(WebhookEvent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["provider", "fingerprint"])
        .returning(WebhookEvent.id, WebhookEvent.call_id)
    )
    row = session.execute(stmt).first()
    if row is None:
        return Intake(stored=False, event_id=None, call_id=None)
    return Intake(stored=True, event_id=row[0], call_id=row[1])


def _lock_call(session: Session, call_id: int) -> Call | None:
    return session.scalars(
        select(Call)
        .where(Call.id == call_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def apply_pending(session: Session, call: Call, *, now: datetime) -> int:
    """Apply the call's unprocessed events, oldest provider time first; returns how many."""
    events = list(
        session.scalars(
            select(WebhookEvent)
            .where(WebhookEvent.call_id == call.id, WebhookEvent.processed_at.is_(None))
            .order_by(WebhookEvent.occurred_at.nulls_last(), WebhookEvent.id)
        )
    )
    for event in events:
        event.attempts += 1
        try:
            # Applying touches only the call object (no SQL), so no savepoint is needed.
            apply_event(call, event.event_type, event.payload, now=now)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A payload we cannot read is kept with its error, never retried forever.
            event.error = f"{type(exc).__name__}: {exc}"[:1000]
            log.warning("call %s: webhook event %s not applied: %s", call.id, event.id, exc)
        event.processed_at = now
    return len(events)


@dataclass(frozen=True)
class Processed:
    applied: int
    finalized: bool  # this pass finalized the call (insights and write-back queued)


def process_call_events(
    session: Session, call_id: int, *, now: datetime | None = None
) -> Processed:
    """Lock the call, apply its pending events, finalize once it has its final report."""
    from logic.calls.insights import finalize_call

    now = now or utc_now()
    call = _lock_call(session, call_id)
    if call is None:
        return Processed(0, False)
    applied = apply_pending(session, call, now=now)
    finalized = False
    if call.report_received_at is not None and call.finalized_at is None:
        finalize_call(session, call, now=now)
        finalized = True
    session.flush()
    return Processed(applied, finalized)


@db_retry(max_retries=3)
def process_call_events_unit(call_id: int) -> Processed:
    """`process_call_events` as its own unit of work (the webhook endpoints' after-commit task).

    The events are already durable in the inbox and this state is derived from them, so on
    PostgreSQL the commit does not wait for the WAL flush; if a crash loses it, the events stay
    unprocessed and reconciliation applies them again (`pending_call_ids`).
    """
    with session_scope() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL synchronous_commit = off"))
        return process_call_events(session, call_id)


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
    return [process_call_events_unit(call_id) for call_id in linked]
