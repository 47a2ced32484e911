"""Reconciliation: a lost webhook must lose nothing (neither vendor retries by default).

First the dialer's recovery (`logic.calls.dialing.recover`): an unknown dial is looked for at
the vendor before anything may dial that driver again. Then calls still without their final
report `after` past their expected end are polled
(`GET /call/{id}`, `GET /v1/convai/conversations/{id}`); a finished call's record is stored in
the inbox as a `poll` event and applied like a webhook, so one code path fills every call. The
same pass links inbox events that arrived before their call was committed, and applies
events whose after-commit processing was lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from db.database import session_scope
from helpers.errors import UpstreamNotConfigured
from helpers.time_utils import utc_now
from logic.calls.dialing import Dialer, recover
from logic.calls.events import EventKey
from logic.calls.voice.registry import CallProviders, UnknownProvider
from logic.calls.webhooks import (
    match_unlinked_events,
    pending_call_ids,
    process_call_events,
    receive,
)
from models.call import ACTIVE_CALL_STATUSES, TERMINAL_CALL_STATUSES, Call
from utils.http import VendorError, VendorRejectedError

log = logging.getLogger(__name__)


@dataclass
class ReconcileResult:
    checked: int = 0
    filled: int = 0
    still_running: int = 0
    linked_events: int = 0
    errors: list[str] = field(default_factory=list)
    # From the dialer's recovery (`logic.calls.dialing.recover`).
    dialed: int = 0
    found_at_vendor: int = 0
    not_placed: int = 0
    still_unknown: int = 0
    given_up: int = 0


def _due_call_ids(after: timedelta, now: datetime, limit: int) -> list[int]:
    statuses = [s.value for s in (*ACTIVE_CALL_STATUSES, *TERMINAL_CALL_STATUSES)]
    with session_scope(immediate=False) as session:
        query = (
            select(Call.id)
            .where(
                Call.report_received_at.is_(None),
                Call.provider_call_id.is_not(None),
                Call.expected_end_at <= now - after,
                Call.status.in_(statuses),
            )
            .order_by(Call.expected_end_at)
            .limit(limit)
        )
        return list(session.scalars(query))


def reconcile_call(providers: CallProviders, call_id: int, *, now: datetime) -> str:
    """Poll one call; 'filled', 'running', or 'gone' (the provider has no such call).

    The call is read in one short transaction and written in another; the provider is asked
    in between, holding no connection.
    """
    with session_scope(immediate=False) as session:
        call = session.get(Call, call_id)
        if call is None or call.report_received_at is not None or not call.provider_call_id:
            return "filled"
        provider, provider_call_id = call.provider, call.provider_call_id
        expected_end = call.expected_end_at or now
    try:
        polled = providers.voice(provider).poll(
            provider_call_id, expected_end=expected_end, now=now
        )
        gone: VendorRejectedError | None = None
    except VendorRejectedError as exc:
        if exc.status != 404:
            raise
        polled, gone = None, exc
    with session_scope() as session:
        call = session.get(Call, call_id)
        if call is None or call.report_received_at is not None:
            return "filled"
        call.reconciled_at = now
        if gone is not None:
            call.error = f"reconciliation: the provider has no record of this call ({gone})"[:1000]
            call.report_received_at = now
            return "gone"
        if polled is None:
            return "running"
        key = EventKey(
            provider=call.provider,
            event_type=polled.event_type,
            fingerprint=f"{call.provider_call_id}:poll:{polled.event_type}",
            provider_call_id=call.provider_call_id,
            hub_call_id=call.id,
            occurred_at=now,
        )
        receive(session, key, polled.payload, now=now)
        process_call_events(session, call.id, now=now)
        return "filled"


def reconcile_calls(
    providers: CallProviders,
    *,
    after_minutes: float = 5,
    now: datetime | None = None,
    limit: int = 200,
    dialer: Dialer | None = None,
) -> ReconcileResult:
    """One pass: the dialer's recovery (undialed, interrupted and `dial_unknown` calls, calls
    to give up on), then link early events, then poll every overdue call (one transaction
    each, the provider asked between them)."""
    now = now or utc_now()
    result = ReconcileResult()
    recovered = recover(dialer or Dialer(providers), now=now, limit=limit)
    result.dialed = recovered.dialed
    result.found_at_vendor = recovered.found
    result.not_placed = recovered.not_placed
    result.still_unknown = recovered.still_unknown
    result.given_up = recovered.given_up
    with session_scope() as session:
        linked = match_unlinked_events(session, now=now)
        linked += pending_call_ids(session, older_than=now - timedelta(minutes=1))
    for call_id in sorted(set(linked)):
        with session_scope() as session:
            result.linked_events += process_call_events(session, call_id, now=now).applied
    for call_id in _due_call_ids(timedelta(minutes=after_minutes), now, limit):
        result.checked += 1
        try:
            outcome = reconcile_call(providers, call_id, now=now)
        except (VendorError, UpstreamNotConfigured, UnknownProvider) as exc:
            result.errors.append(f"call {call_id}: {exc}")
            log.warning("reconciling call %s failed: %s", call_id, exc)
            continue
        if outcome == "running":
            result.still_running += 1
        else:
            result.filled += 1
    return result
