"""The escalation ladder past Slack: an AI check call to the driver, then paging the on-call.

The rungs before these exist already (the Slack post, then the re-post to the escalation
channel — `logic/alerts/filters.py`). A rule's `escalation_steps` fire once per alert,
`after_minutes` after its first Slack post, while the alert stays open (acknowledged, snoozed or
resolved alerts climb no further). Each step runs in its own transaction that first inserts its
`AlertLadderStep` row (UNIQUE alert + step): a concurrent pass conflicts and skips it, and a pass
that dies rolls the step back to be taken again.

- `ai_call`: taken by the calls domain's `CallStep` (`logic/calls/ladder_calls.py`, passed in
  so this package never imports `logic.calls`): purpose from the alert type; the placement's
  pre-dial checks decide (never outside the driver's window, never a do-not-call driver); a
  refusal is a skipped step with the reason. The call is requested (queued) in the step's
  transaction and placed by the one dialer after it commits. The call carries the alert, so
  the calls code threads its outcome into the alert's Slack thread
  (`logic/calls/insights.py`). When the rule says so, the ended call acknowledges the alert:
  `reached` (the driver talked) or `eta_reported` (they gave a delay or an ETA).
  Not safe to call yet (the driver is driving or resting): the step is `deferred` with the
  reason on the alert's ladder and taken again by every later pass until it is safe.
- `page_oncall`: a thread reply mentioning the on-call Slack user group.
- `contact_plan`: a contact plan run for the driver instead of a bare call (in-cab message, SMS,
  AI call, page…), started by the messaging domain's pass with its own step callback
  (`logic/messaging/contact_plans.py`); the calls' pass leaves these steps alone.

Every step is also recorded as a decision on the alert, so `GET /alerts/{id}` explains it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from config import get_settings
from db.database import session_scope
from helpers.time_utils import format_duration
from logic.alerts import outbox
from logic.alerts.filters import record_decision
from logic.alerts.rules import EffectiveRule, RuleSet, load_rules
from models.alert import Alert, AlertStatus, AlertType
from models.alert_ladder import AlertLadderStep, LadderStep, LadderStepKind, LadderStepStatus
from models.call import TERMINAL_CALL_STATUSES, Call, CallInsight, CallOutcome, CallPurpose

log = logging.getLogger(__name__)

CALL_PURPOSE: dict[str, CallPurpose] = {
    AlertType.LATE_FOR_APPOINTMENT: CallPurpose.LATE_LOAD_CHECK,
    AlertType.HOS_DRIVE_TIME_LOW: CallPurpose.HOS_CHECK,
    AlertType.CANNOT_LEGALLY_MAKE_APPOINTMENT: CallPurpose.HOS_CHECK,
    AlertType.SPEEDING: CallPurpose.VIOLATION_COACHING,
    AlertType.HARSH_EVENT: CallPurpose.VIOLATION_COACHING,
    AlertType.DETENTION: CallPurpose.FACILITY_CHECK,
}
ACTOR = "AI check call"


@dataclass
class LadderResult:
    due: int = 0
    placed: int = 0
    failed: int = 0
    paged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason → count
    acknowledged: int = 0
    deferred: dict[str, int] = field(default_factory=dict)  # not safe to call yet, by reason
    call_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "due": self.due,
            "placed": self.placed,
            "failed": self.failed,
            "paged": self.paged,
            "skipped": self.skipped,
            "acknowledged": self.acknowledged,
            "deferred": self.deferred,
        }


@dataclass(frozen=True)
class DueStep:
    alert_id: int
    index: int
    step: LadderStep
    notified_at: datetime


def rule_for(rules: RuleSet, alert_type: str, rule_id: int | None) -> EffectiveRule:
    """The rule an alert was routed by (its scoped rule when it has one)."""
    rule = rules.for_type(alert_type)
    if rule_id and rule_id != rule.rule_id:
        rule = next((r for r in rules.scoped.get(alert_type, []) if r.rule_id == rule_id), rule)
    return rule


def due_steps(
    session: Session, now: datetime, *, rules: RuleSet | None = None, type: str | None = None
) -> list[DueStep]:
    """Steps whose time has come on open, posted alerts and that no pass has taken yet.

    An `ai_call` step of a rule armed at `ladder_from` skips alerts first seen before then.
    `rules` and `type` let a rule's save preview what its ladder would do (a dry run)."""
    rules = rules or load_rules(session)
    query = (
        select(Alert.id, Alert.type, Alert.rule_id, Alert.notified_at, Alert.first_seen_at)
        .where(Alert.status == AlertStatus.OPEN, Alert.notified_at.is_not(None))
        .where(Alert.notified_at <= now)
        .order_by(Alert.id)
    )
    if type is not None:
        query = query.where(Alert.type == type)
    candidates: list[DueStep] = []
    for row in session.execute(query).all():
        rule = rule_for(rules, row.type, row.rule_id)
        for index, raw in enumerate(rule.escalation_steps):
            step = LadderStep.model_validate(raw)
            if (
                step.kind != LadderStepKind.PAGE_ONCALL
                and rule.ladder_from is not None
                and row.first_seen_at < rule.ladder_from
            ):
                continue
            if now >= row.notified_at + timedelta(minutes=step.after_minutes):
                candidates.append(DueStep(row.id, index, step, row.notified_at))
    if not candidates:
        return []
    taken = set(
        session.execute(
            select(AlertLadderStep.alert_id, AlertLadderStep.step_index)
            .where(AlertLadderStep.alert_id.in_({c.alert_id for c in candidates}))
            .where(AlertLadderStep.status != LadderStepStatus.DEFERRED)
        ).all()
    )
    return [c for c in candidates if (c.alert_id, c.index) not in taken]


class StepDeferred(Exception):
    """Raised by a `CallStep` when it is not safe to call yet: the step is left untaken (a
    later pass takes it) and the reason recorded on the alert."""

    def __init__(self, reason: str, until: datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.until = until


# The `ai_call` rung, supplied by the calls domain (`logic/calls/ladder_calls.py`) so this
# package never imports it: given the step's row and its open, locked alert, it requests the
# call in the step's transaction and returns the queued call's id (None: the step was skipped).
CallStep = Callable[[Session, AlertLadderStep, Alert, "DueStep", datetime], int | None]


# The kinds the calls' pass takes; `contact_plan` steps are taken by the messaging pass, which
# supplies its own step (`logic/messaging/contact_plans.py`) as `call_step`.
CALL_KINDS = (LadderStepKind.AI_CALL, LadderStepKind.PAGE_ONCALL)


def run_ladder(
    *,
    now: datetime,
    call_step: CallStep | None = None,
    kinds: tuple[LadderStepKind, ...] = CALL_KINDS,
) -> LadderResult:
    """Acknowledge alerts their ended calls answered, then take every due step of `kinds` (one
    transaction each). Without `call_step`, `ai_call` steps wait (nothing takes them).
    Returns what happened; `call_ids` are the calls requested (queued for the dialer)."""
    result = LadderResult()
    with session_scope() as session:
        result.acknowledged = acknowledge_answered(session, now=now)
    with session_scope(immediate=False) as session:
        steps = [s for s in due_steps(session, now) if s.step.kind in kinds]
    if call_step is None:
        steps = [s for s in steps if s.step.kind == LadderStepKind.PAGE_ONCALL]
    result.due = len(steps)
    for due in steps:
        try:
            with session_scope() as session:
                take_step(session, due, now=now, call_step=call_step, result=result)
        except Exception:  # one broken step must not stop the others
            log.exception("ladder step %s of alert %s failed", due.index, due.alert_id)
    return result


def _claim(session: Session, due: DueStep, now: datetime) -> AlertLadderStep | None:
    """Insert the step's row (or take back a deferred one), or None when another pass has
    (or is taking) it."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(AlertLadderStep)
        .values(
            alert_id=due.alert_id,
            step_index=due.index,
            kind=due.step.kind.value,
            status=LadderStepStatus.SKIPPED.value,
            acknowledge_on=due.step.acknowledge_on,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["alert_id", "step_index"])
        .returning(AlertLadderStep.id)
    )
    step_id = session.execute(stmt).scalar()
    if step_id is None:
        # Deferred by an earlier pass: one UPDATE takes it, so two passes cannot both have it.
        step_id = session.execute(
            update(AlertLadderStep)
            .where(AlertLadderStep.alert_id == due.alert_id)
            .where(AlertLadderStep.step_index == due.index)
            .where(AlertLadderStep.status == LadderStepStatus.DEFERRED)
            .values(status=LadderStepStatus.SKIPPED.value, updated_at=now)
            .returning(AlertLadderStep.id)
            .execution_options(synchronize_session=False)
        ).scalar()
    if step_id is None:
        return None
    return session.scalars(
        select(AlertLadderStep)
        .where(AlertLadderStep.id == step_id)
        .execution_options(populate_existing=True)
    ).one()


def take_step(
    session: Session,
    due: DueStep,
    *,
    now: datetime,
    call_step: CallStep | None = None,
    result: LadderResult | None = None,
) -> AlertLadderStep | None:
    """Run one step for one alert in the caller's transaction; None if it was already taken."""
    result = result or LadderResult()
    row = _claim(session, due, now)
    if row is None:
        return None
    alert = session.scalars(select(Alert).where(Alert.id == due.alert_id).with_for_update()).first()
    if alert is None or alert.status != AlertStatus.OPEN:
        skip(row, alert, "the alert is no longer open", now, result)
        return row
    if due.step.kind in (LadderStepKind.AI_CALL, LadderStepKind.CONTACT_PLAN):
        if call_step is None:
            skip(row, alert, "no dialer is running", now, result)
        else:
            try:
                call_id = call_step(session, row, alert, due, now)
            except StepDeferred as deferred:
                _defer(session, row, alert, deferred, now, result)
                return None
            if call_id is not None:
                result.placed += 1
                result.call_ids.append(call_id)
            elif row.status == LadderStepStatus.SKIPPED:
                why = row.reason or "skipped"
                result.skipped[why] = result.skipped.get(why, 0) + 1
    else:
        _page(session, row, alert, due, now, result)
    return row


def _defer(
    session: Session,
    row: AlertLadderStep,
    alert: Alert,
    deferred: StepDeferred,
    now: datetime,
    result: LadderResult,
) -> None:
    """The step waits, `deferred` with the reason on the alert's ladder (a later pass takes it
    again); the alert's decisions say so once per reason."""
    row.status = LadderStepStatus.DEFERRED
    row.reason = deferred.reason[:500]
    row.updated_at = now
    session.flush()
    result.deferred[deferred.reason.split(":", 1)[0]] = (
        result.deferred.get(deferred.reason.split(":", 1)[0], 0) + 1
    )
    last = (alert.decisions or [])[-1:] or [{}]
    text = f"{row.kind} step {row.step_index + 1} waits: {deferred.reason}"
    if last[0].get("decision") != "ladder_step_deferred" or last[0].get("reason") != text:
        record_decision(alert, "ladder_step_deferred", text, now)
        alert.updated_at = now


def skip(
    row: AlertLadderStep,
    alert: Alert | None,
    reason: str,
    now: datetime,
    result: LadderResult | None = None,
) -> None:
    """The step is skipped with `reason`, recorded on the alert so `GET /alerts/{id}` says so."""
    row.status = LadderStepStatus.SKIPPED
    row.reason = reason[:500]
    row.updated_at = now
    if result is not None:
        result.skipped[reason] = result.skipped.get(reason, 0) + 1
    if alert is not None:
        record_decision(
            alert, "ladder_step_skipped", f"{row.kind} step {row.step_index + 1}: {reason}", now
        )


def _page(
    session: Session,
    row: AlertLadderStep,
    alert: Alert,
    due: DueStep,
    now: datetime,
    result: LadderResult,
) -> None:
    group = due.step.group_id or get_settings().SLACK_ONCALL_GROUP_ID
    if not group:
        skip(row, alert, "no on-call Slack group configured (SLACK_ONCALL_GROUP_ID)", now, result)
        return
    if alert.notified_at is None or not alert.slack_channel:
        skip(row, alert, "the alert has no Slack thread to page in", now, result)
        return
    outbox.enqueue_reply(
        session,
        alert,
        f"<!subteam^{group}> on-call: *{alert.title}* is still not acknowledged "
        f"{due.step.after_minutes} min after it was posted.",
        now,
    )
    row.status = LadderStepStatus.PAGED
    row.reason = f"paged <!subteam^{group}>"
    row.updated_at = now
    alert.updated_at = now
    record_decision(alert, "ladder_paged", f"page_oncall step {row.step_index + 1}: {group}", now)
    result.paged += 1


def acknowledge_answered(session: Session, *, now: datetime) -> int:
    """Placed ladder calls that ended: acknowledge their alert when the step says the outcome
    does (`reached`: the driver talked; `eta_reported`: they gave a delay or an ETA).

    Waits for the calls code to finalize the call (insights written) before deciding.
    """
    rows = session.execute(
        select(AlertLadderStep, Call, CallInsight)
        .join(Call, Call.id == AlertLadderStep.call_id)
        .outerjoin(CallInsight, CallInsight.call_id == Call.id)
        .where(AlertLadderStep.status == LadderStepStatus.PLACED)
        .where(Call.status.in_([s.value for s in TERMINAL_CALL_STATUSES]))
        .where(Call.finalized_at.is_not(None))
    ).all()
    acknowledged = 0
    for step, call, insight in rows:
        why = _acknowledges(step.acknowledge_on, call, insight)
        step.updated_at = now
        alert = session.scalars(
            select(Alert).where(Alert.id == step.alert_id).with_for_update()
        ).first()
        if why is None or alert is None or alert.status != AlertStatus.OPEN:
            step.status = (
                LadderStepStatus.ANSWERED
                if call.outcome == CallOutcome.COMPLETED
                else LadderStepStatus.UNANSWERED
            )
            step.reason = f"call {call.outcome or call.status}; alert not acknowledged by it"
            continue
        step.status = LadderStepStatus.ACKNOWLEDGED
        step.reason = why
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = now
        alert.updated_at = now
        record_decision(alert, "acknowledged", f"by the {ACTOR}: {why}", now, call_id=call.id)
        outbox.enqueue_update(session, alert, now, actor=ACTOR)
        acknowledged += 1
    session.flush()
    return acknowledged


def _acknowledges(rule: str | None, call: Call, insight: CallInsight | None) -> str | None:
    """Why the call acknowledges its alert under `rule`, or None."""
    if rule is None or call.outcome != CallOutcome.COMPLETED:
        return None
    if rule == "reached":
        return "the driver was reached"
    if insight is None:
        return None
    if insight.reported_delay_minutes is not None:
        late = insight.reported_delay_minutes
        return "driver reported " + (
            "being on time" if late == 0 else f"{format_duration(late)} delay"
        )
    if insight.reported_eta is not None or insight.reported_eta_text:
        return f"driver reported ETA {insight.reported_eta_text or insight.reported_eta}"
    return None
