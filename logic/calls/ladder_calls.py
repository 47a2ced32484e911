"""The escalation ladder's `ai_call` rung: the calls domain requests the check call.

`logic/alerts/ladder.py` owns the ladder and takes a `CallStep` callback, so alerts never import
calls; this module supplies it. The step's call is queued in the step's transaction (the pre-dial
checks and the alert-belongs-to-the-driver check of `prepare_call`), and the one dialer places it
after the commit; `record_ladder_dials` marks the steps whose dial the provider refused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from db.database import session_scope
from logic.alerts import outbox
from logic.alerts.filters import record_decision
from logic.alerts.ladder import CALL_PURPOSE, DueStep, LadderResult, run_ladder, skip
from logic.calls.placement import (
    CallingPolicy,
    CallRefused,
    CallRequest,
    SubjectMismatch,
    pre_dial_refusal,
    prepare_call,
)
from models.alert import Alert
from models.alert_ladder import AlertLadderStep, LadderStepStatus
from models.call import Call, CallProvider, CallStatus
from models.driver import Driver


def ladder_call_step(policy: CallingPolicy):
    """The `CallStep` for `run_ladder`, with the calling policy it checks against."""

    def step(
        session: Session, row: AlertLadderStep, alert: Alert, due: DueStep, now: datetime
    ) -> int | None:
        purpose = CALL_PURPOSE.get(alert.type)
        if purpose is None:
            skip(row, alert, f"no check-call purpose for {alert.type} alerts", now)
            return None
        driver = session.get(Driver, alert.driver_id) if alert.driver_id else None
        if driver is None:
            skip(row, alert, "the alert names no driver", now)
            return None
        refusal = pre_dial_refusal(session, driver, now=now, policy=policy)
        if refusal is not None:
            skip(row, alert, refusal.message, now)
            return None
        request = CallRequest(
            driver_id=driver.id,
            purpose=purpose,
            provider=due.step.provider or CallProvider.VAPI,
            alert_id=alert.id,
            placed_by_label=f"ladder:alert:{alert.id}",
            idempotency_key=f"alert-ladder:{alert.id}:{due.index}",
        )
        try:
            call = prepare_call(session, request, policy=policy, now=now, refusal=None)
        except (CallRefused, SubjectMismatch) as refused:
            skip(row, alert, str(refused), now)
            return None
        row.call_id = call.id
        row.status = LadderStepStatus.PLACED
        row.updated_at = now
        record_decision(
            alert,
            "ladder_call",
            f"ai_call step {row.step_index + 1}: call {call.id} to driver {driver.id} "
            f"({purpose.value}) requested",
            now,
            call_id=call.id,
        )
        alert.updated_at = now
        outbox.enqueue_reply(
            session,
            alert,
            f":telephone_receiver: Not acknowledged after {due.step.after_minutes} min: "
            f"AI check call to {driver.full_name} ({purpose.value.replace('_', ' ')}).",
            now,
        )
        return call.id

    return step


def run_ladder_with_calls(*, policy: CallingPolicy, now: datetime) -> LadderResult:
    """`run_ladder` with this domain's `ai_call` rung."""
    return run_ladder(now=now, call_step=ladder_call_step(policy))


def record_ladder_dials(
    result: LadderResult, statuses: dict[int, str | None], *, now: datetime
) -> None:
    """Steps whose call the provider refused are `failed`, with its words in the thread."""
    failed = [call_id for call_id, status in statuses.items() if status == CallStatus.FAILED]
    if not failed:
        return
    with session_scope() as session:
        rows = session.execute(
            select(AlertLadderStep, Call, Alert)
            .join(Call, Call.id == AlertLadderStep.call_id)
            .join(Alert, Alert.id == AlertLadderStep.alert_id)
            .where(AlertLadderStep.call_id.in_(failed))
        ).all()
        for row, call, alert in rows:
            row.status = LadderStepStatus.FAILED
            row.reason = (call.error or "the provider refused the call")[:500]
            row.updated_at = now
            outbox.enqueue_reply(
                session,
                alert,
                f":warning: AI check call {call.id} could not be placed: {row.reason}",
                now,
            )
    result.placed -= len(rows)
    result.failed += len(rows)
    result.call_ids = [i for i in result.call_ids if i not in set(failed)]
