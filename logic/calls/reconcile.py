"""Reconciliation: a lost webhook must lose nothing (neither vendor retries by default).

Calls still without their final report `after` past their expected end are polled
(`GET /call/{id}`, `GET /v1/convai/conversations/{id}`); a finished call's record is stored in
the inbox as a `poll` event and applied like a webhook, so one code path fills every call. The
same pass links inbox events that arrived before their call was committed, and applies
events whose after-commit processing was lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from db.database import session_scope
from helpers.errors import UpstreamNotConfigured
from helpers.time_utils import utc_now
from logic.calls.events import EventKey
from logic.calls.placement import CallProviders
from logic.calls.webhooks import (
    match_unlinked_events,
    pending_call_ids,
    process_call_events,
    receive,
)
from models.call import ACTIVE_CALL_STATUSES, TERMINAL_CALL_STATUSES, Call, CallProvider
from utils.http import VendorError, VendorRejectedError

log = logging.getLogger(__name__)

ELEVENLABS_FINISHED = ("done", "failed")


@dataclass
class ReconcileResult:
    checked: int = 0
    filled: int = 0
    still_running: int = 0
    linked_events: int = 0
    errors: list[str] = field(default_factory=list)


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


def _poll(providers: CallProviders, call: Call) -> tuple[str, dict[str, Any]] | None:
    """(event type, payload shaped like the webhook) when the provider says it is over."""
    if call.provider == CallProvider.VAPI:
        polled = providers.vapi().get_call(call.provider_call_id or "")
        if not polled.is_ended:
            return None
        raw = polled.raw
        message = {
            "type": "end-of-call-report",
            "endedReason": raw.get("endedReason"),
            "startedAt": raw.get("startedAt"),
            "endedAt": raw.get("endedAt"),
            "cost": raw.get("cost"),
            "artifact": raw.get("artifact") or {},
            "analysis": raw.get("analysis") or {},
            "call": raw,
        }
        return "end-of-call-report", {"message": message, "source": "poll"}
    conversation = providers.elevenlabs().get_conversation(call.provider_call_id or "")
    if conversation.status not in ELEVENLABS_FINISHED:
        return None
    return "post_call_transcription", {
        "type": "post_call_transcription",
        "data": conversation.raw,
        "source": "poll",
    }


def reconcile_call(providers: CallProviders, call_id: int, *, now: datetime) -> str:
    """Poll one call; 'filled', 'running', or 'gone' (the provider has no such call)."""
    with session_scope() as session:
        call = session.get(Call, call_id)
        if call is None or call.report_received_at is not None:
            return "filled"
        try:
            polled = _poll(providers, call)
        except VendorRejectedError as exc:
            if exc.status != 404:
                raise
            polled = None
            call.error = f"reconciliation: the provider has no record of this call ({exc})"[:1000]
            call.report_received_at = now
            call.reconciled_at = now
            return "gone"
        call.reconciled_at = now
        if polled is None:
            return "running"
        event_type, payload = polled
        key = EventKey(
            provider=call.provider,
            event_type=event_type,
            fingerprint=f"{call.provider_call_id}:poll:{event_type}",
            provider_call_id=call.provider_call_id,
            hub_call_id=call.id,
            occurred_at=now,
        )
        receive(session, key, payload, now=now)
        process_call_events(session, call.id, now=now)
        return "filled"


def reconcile_calls(
    providers: CallProviders,
    *,
    after_minutes: float = 5,
    now: datetime | None = None,
    limit: int = 200,
) -> ReconcileResult:
    """One pass: link early events, then poll every overdue call (one transaction each)."""
    now = now or utc_now()
    result = ReconcileResult()
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
        except (VendorError, UpstreamNotConfigured) as exc:
            result.errors.append(f"call {call_id}: {exc}")
            log.warning("reconciling call %s failed: %s", call_id, exc)
            continue
        if outcome == "running":
            result.still_running += 1
        else:
            result.filled += 1
    return result
