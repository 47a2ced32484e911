"""Contact plans at work: start a run for a driver, and the set-based tick that moves runs on.

The tick finds the runs that need a look in one statement — active runs whose wait is over, or
whose current step already has an answer: a reply linked to the run, the in-cab message read,
the call ended, the text failed — and takes them (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
ticks on several instances never take a run twice). For each: a reply ends it `replied`, a read
`read`, an answered call `answered`; otherwise the next step starts. Every step goes through the
same pre-contact checks as a manual contact (messages: `checks.py`; calls: the placement's
pre-dial checks, safe-to-call included); a refused step is recorded with its reason and the plan
moves straight on. A `page_oncall` step mentions the on-call group in the alert's Slack thread and
ends the run `paged`. Messages and calls are only queued here; they are sent and dialed after the
tick's commit, outside any transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from config import Settings, get_settings
from db.database import session_scope
from helpers.errors import AppError, NotFound, Unprocessable
from helpers.time_utils import utc_now
from logic.alerts import outbox as alert_outbox
from logic.alerts.filters import record_decision
from logic.alerts.ladder import CALL_PURPOSE, DueStep, run_ladder, skip
from logic.calls.placement import (
    CallingPolicy,
    CallRefused,
    CallRequest,
    SubjectMismatch,
    prepare_call,
)
from logic.calls.service import dial_after_commit
from logic.messaging import inbound, sending
from logic.messaging.checks import MessageRefusal, MessagingPolicy, message_refusals
from models.alert import Alert
from models.alert_ladder import AlertLadderStep, LadderStepKind, LadderStepStatus
from models.call import TERMINAL_CALL_STATUSES, Call, CallOutcome, CallProvider, CallPurpose
from models.campaign import CallCampaign, CampaignTarget
from models.contact_plan import (
    ContactPlan,
    ContactRun,
    ContactStep,
    ContactStepKind,
    RunOutcome,
    RunStatus,
)
from models.driver import Driver
from models.driver_message import (
    DeliveryStatus,
    DriverMessage,
    MessageChannel,
    MessageDirection,
)
from models.trip import Trip

log = logging.getLogger(__name__)

MESSAGE_CHANNELS = {
    ContactStepKind.IN_CAB: MessageChannel.SAMSARA_MESSAGE,
    ContactStepKind.SMS: MessageChannel.SMS,
}
TERMINAL = [s.value for s in TERMINAL_CALL_STATUSES]
NOT_DELIVERED = [DeliveryStatus.FAILED.value, DeliveryStatus.UNDELIVERED.value, "refused"]
DEFAULT_LIMIT = 500


class PlanNotFound(NotFound):
    code = "contact_plan_not_found"


def plan_steps(plan: ContactPlan) -> list[ContactStep]:
    return [ContactStep.model_validate(step) for step in plan.steps]


def start_run(
    session: Session,
    *,
    plan: ContactPlan | None,
    driver_id: int,
    purpose: str,
    now: datetime,
    alert_id: int | None = None,
    trip_id: int | None = None,
    campaign_id: int | None = None,
) -> ContactRun:
    """A run of `plan` (default: the purpose's enabled plan) for the driver, due at once. A
    driver already being reached about the same alert keeps that run (no second chain)."""
    try:
        CallPurpose(purpose)
    except ValueError:
        raise Unprocessable(
            f"unknown purpose {purpose!r}", loc=("body", "purpose"), input=purpose
        ) from None
    plan = plan or ContactPlan.for_purpose(session, purpose)
    if plan is None or not plan.enabled:
        raise PlanNotFound(f"no enabled contact plan for purpose {purpose}")
    if session.get(Driver, driver_id) is None:
        raise NotFound(f"driver {driver_id} not found")
    if alert_id is not None:
        running = session.scalars(
            select(ContactRun).where(
                ContactRun.driver_id == driver_id,
                ContactRun.alert_id == alert_id,
                ContactRun.status == RunStatus.ACTIVE,
            )
        ).first()
        if running is not None:
            return running
    run = ContactRun(
        plan_id=plan.id,
        driver_id=driver_id,
        alert_id=alert_id,
        trip_id=trip_id,
        campaign_id=campaign_id,
        purpose=purpose,
        next_check_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(run)
    session.flush()
    return run


@dataclass(frozen=True)
class Signals:
    """What the driver did on the run's current step, read in the tick's one query."""

    run_id: int
    replied: bool
    read: bool
    call_status: str | None
    call_outcome: str | None
    message_status: str | None


def due_runs(session: Session, now: datetime, *, limit: int = DEFAULT_LIMIT) -> list[Signals]:
    """Active runs that need a look now, with their signals: one statement."""
    reply = aliased(DriverMessage)
    replied = (
        exists()
        .where(reply.contact_run_id == ContactRun.id, reply.direction == MessageDirection.INBOUND)
        .correlate(ContactRun)
    )
    query = (
        select(
            ContactRun.id,
            replied.label("replied"),
            DriverMessage.read_at,
            DriverMessage.delivery_status,
            Call.status,
            Call.outcome,
        )
        .outerjoin(DriverMessage, DriverMessage.id == ContactRun.current_message_id)
        .outerjoin(Call, Call.id == ContactRun.current_call_id)
        .where(ContactRun.status == RunStatus.ACTIVE)
        .where(
            or_(
                ContactRun.next_check_at <= now,
                replied,
                DriverMessage.read_at.is_not(None),
                DriverMessage.delivery_status.in_(NOT_DELIVERED),
                Call.status.in_(TERMINAL),
            )
        )
        .order_by(ContactRun.id)
        .limit(limit)
    )
    return [
        Signals(run_id, bool(was_replied), read_at is not None, status, outcome, delivery)
        for run_id, was_replied, read_at, delivery, status, outcome in session.execute(query)
    ]


@dataclass
class PlanTick:
    due: int = 0
    ended: dict[str, int] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    call_ids: list[int] = field(default_factory=list)
    message_ids: list[int] = field(default_factory=list)
    alert_deliveries: list[int] = field(default_factory=list)
    # Walks that started a message: written onto their runs once the tick's flush gave the
    # messages their ids (`_link`).
    queued: list[Walk] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "due": self.due,
            "ended": self.ended,
            "steps": self.steps,
            "refused": self.refused,
        }


@dataclass
class Walk:
    """The steps a run takes in this tick, written onto its row in one go: when the walk ends,
    or — when it started a message — after the tick's one flush gave that message its id, so
    the run is updated once either way (its current message and its history name the id)."""

    run: ContactRun
    index: int
    history: list[dict[str, Any]]
    next_check_at: datetime | None = None
    request: sending.MessageRequest | None = None
    message: DriverMessage | None = None

    def apply(self, now: datetime) -> None:
        run = self.run
        if self.index != run.step_index:
            run.step_index, run.step_started_at = self.index, now
        if self.message is not None:
            self.history[-1]["message_id"] = self.message.id
            run.current_message_id, run.current_call_id = self.message.id, None
        if self.history != run.history:
            run.history = self.history
        if self.next_check_at is not None:
            run.next_check_at, run.updated_at = self.next_check_at, now


@dataclass(frozen=True)
class Policies:
    messaging: MessagingPolicy
    calling: CallingPolicy
    oncall_group: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Policies:
        return cls(
            MessagingPolicy.from_settings(settings),
            CallingPolicy.from_settings(settings),
            settings.SLACK_ONCALL_GROUP_ID,
        )


def _lock(session: Session, ids: Sequence[int]) -> list[ContactRun]:
    query = (
        select(ContactRun)
        .where(ContactRun.id.in_(list(ids)), ContactRun.status == RunStatus.ACTIVE)
        .order_by(ContactRun.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def _end(session: Session, run: ContactRun, outcome: RunOutcome, now: datetime, result: PlanTick):
    run.status = RunStatus.ENDED
    run.outcome = outcome.value
    run.ended_at = now
    run.updated_at = now
    result.ended[outcome.value] = result.ended.get(outcome.value, 0) + 1
    _thread(session, run, f":white_check_mark: Contact plan ended: *{outcome.value}*.", now)


def _thread(session: Session, run: ContactRun, text: str, now: datetime) -> None:
    alert = session.get(Alert, run.alert_id) if run.alert_id else None
    if alert is not None:
        alert_outbox.enqueue_reply(session, alert, text, now, flush=False)


def _text_for(step: ContactStep, run: ContactRun, alert: Alert | None) -> str:
    if step.text:
        return step.text
    about = alert.title if alert is not None else run.purpose.replace("_", " ")
    return f"Dispatch: {about}. Please reply with your status and ETA, or call dispatch."


class Checks:
    """The message checks of every driver in the tick, evaluated once per channel for all of
    them (`message_refusals` is set-wise), on first need."""

    def __init__(self, session: Session, drivers: list[Driver], policy: MessagingPolicy, now):
        self._session, self._drivers, self._policy, self._now = session, drivers, policy, now
        self._by_channel: dict[str, dict[int, MessageRefusal | None]] = {}

    def refusal(self, channel: str, driver_id: int) -> MessageRefusal | None:
        if channel not in self._by_channel:
            self._by_channel[channel] = message_refusals(
                self._session, self._drivers, channel, now=self._now, policy=self._policy
            )
        return self._by_channel[channel].get(driver_id)


def _take_step(
    session: Session,
    walk: Walk,
    step: ContactStep,
    driver: Driver,
    policies: Policies,
    checks: Checks,
    now: datetime,
) -> tuple[str, dict[str, Any]]:
    """Start one step: ("started", details) or ("refused", {"reason": …}) or ("paged", …).

    A message is only added here (`walk.message`): its id comes with the tick's one flush.
    """
    run = walk.run
    alert = session.get(Alert, run.alert_id) if run.alert_id else None
    if step.kind in MESSAGE_CHANNELS:
        channel = MESSAGE_CHANNELS[step.kind]
        request = sending.MessageRequest(
            driver_id=driver.id,
            channel=channel,
            body=_text_for(step, run, alert),
            purpose=run.purpose,
            alert_id=run.alert_id,
            trip_id=run.trip_id,
            campaign_id=run.campaign_id,
            contact_run_id=run.id,
            actor_label=f"contact-run:{run.id}",
        )
        try:
            subject = sending.message_subject(session, request)
            message = sending.add_message(
                session, request, subject, now=now, refusal=checks.refusal(channel, driver.id)
            )
        except AppError as refused:
            return "refused", {"reason": refused.code, "detail": str(refused.detail)}
        walk.request, walk.message = request, message
        return "started", {"message_id": None}
    if step.kind == ContactStepKind.AI_CALL:
        request = CallRequest(
            driver_id=driver.id,
            purpose=run.purpose,
            provider=step.provider or CallProvider.VAPI,
            alert_id=run.alert_id,
            trip_id=run.trip_id,
            placed_by_label=f"contact-run:{run.id}",
            idempotency_key=f"contact-run:{run.id}:{walk.index}",
        )
        try:
            call = prepare_call(session, request, policy=policies.calling, now=now)
        except CallRefused as refused:
            return "refused", {"reason": refused.refusal.reason.value}
        except SubjectMismatch as mismatch:
            return "refused", {"reason": mismatch.code}
        run.current_call_id, run.current_message_id = call.id, None
        return "started", {"call_id": call.id}
    group = step.group_id or policies.oncall_group
    if not group:
        return "refused", {"reason": "no_oncall_group"}
    if alert is None or alert.notified_at is None:
        return "refused", {"reason": "no_alert_thread"}
    who = driver.full_name or f"driver {driver.id}"
    alert_outbox.enqueue_reply(
        session,
        alert,
        f"<!subteam^{group}> on-call: {who} was not reached ({len(walk.history)} steps "
        f"tried) about *{alert.title}*.",
        now,
        flush=False,
    )
    return "paged", {"group": group}


STEP_NOTE = {
    ContactStepKind.IN_CAB: ":iphone: In-cab message sent to {who}.",
    ContactStepKind.SMS: ":speech_balloon: Text sent to {who}.",
    ContactStepKind.AI_CALL: ":telephone_receiver: AI call to {who}.",
}


def _next_steps(
    session: Session,
    run: ContactRun,
    steps: list[ContactStep],
    policies: Policies,
    checks: Checks,
    now: datetime,
    result: PlanTick,
) -> None:
    """Start the next step that is allowed (refused ones are recorded and passed over)."""
    driver = session.get(Driver, run.driver_id)
    walk = Walk(run, run.step_index, list(run.history))
    while True:
        index = walk.index + 1
        if driver is None or index >= len(steps):
            walk.apply(now)
            _end(session, run, RunOutcome.EXHAUSTED, now, result)
            return
        walk.index = index
        step = steps[index]
        outcome, details = _take_step(session, walk, step, driver, policies, checks, now)
        walk.history.append(
            {"step": index, "kind": step.kind.value, "at": now.isoformat(), "result": outcome}
            | details
        )
        result.steps[step.kind.value] = result.steps.get(step.kind.value, 0) + 1
        if "call_id" in details:
            result.call_ids.append(details["call_id"])
        if outcome == "refused":
            reason = details["reason"]
            result.refused[reason] = result.refused.get(reason, 0) + 1
            continue
        if outcome == "paged":
            walk.apply(now)
            _end(session, run, RunOutcome.PAGED, now, result)
            return
        who = driver.full_name or f"driver {driver.id}"
        _thread(session, run, STEP_NOTE[step.kind].format(who=who), now)
        walk.next_check_at = now + timedelta(minutes=step.wait_minutes)
        if walk.message is None:
            walk.apply(now)
        else:
            result.queued.append(walk)
        return


def _move(
    session: Session,
    run: ContactRun,
    signals: Signals,
    plans: dict[int, list[ContactStep]],
    policies: Policies,
    checks: Checks,
    now: datetime,
    result: PlanTick,
) -> None:
    if signals.replied:
        _end(session, run, RunOutcome.REPLIED, now, result)
    elif signals.read:
        _end(session, run, RunOutcome.READ, now, result)
    elif signals.call_status in TERMINAL and signals.call_outcome == CallOutcome.COMPLETED:
        _end(session, run, RunOutcome.ANSWERED, now, result)
    elif (
        run.next_check_at <= now
        or signals.call_status in TERMINAL
        or signals.message_status in NOT_DELIVERED
    ):
        _next_steps(session, run, plans[run.plan_id], policies, checks, now, result)


def tick_runs(policies: Policies, *, now: datetime, limit: int = DEFAULT_LIMIT) -> PlanTick:
    """One pass over the runs that need a look, in one transaction (queues only, no I/O)."""
    result = PlanTick()
    with session_scope() as session:
        signals = {s.run_id: s for s in due_runs(session, now, limit=limit)}
        result.due = len(signals)
        if not signals:
            return result
        runs = _lock(session, list(signals))
        plan_ids = {run.plan_id for run in runs}
        plans = {
            plan.id: plan_steps(plan)
            for plan in session.scalars(select(ContactPlan).where(ContactPlan.id.in_(plan_ids)))
        }
        drivers = list(
            session.scalars(select(Driver).where(Driver.id.in_({r.driver_id for r in runs})))
        )
        subjects = _load_subjects(session, runs)
        checks = Checks(session, drivers, policies.messaging, now)
        for run in runs:
            _move(session, run, signals[run.id], plans, policies, checks, now, result)
        session.flush()
        _link(session, result.queued, now)
        del subjects  # the steps' alerts and trips, held in the identity map until here
        result.message_ids = sending.queued_ids(session)
        result.alert_deliveries = alert_outbox.queued_ids(session)
    return result


def _load_subjects(session: Session, runs: list[ContactRun]) -> list[Alert | Trip]:
    """The alerts and trips the runs are about, in two queries: the steps' `session.get` and
    subject checks then find them in the identity map. The caller holds the list, since the
    session keeps only referenced objects."""
    alert_ids = {run.alert_id for run in runs if run.alert_id}
    trip_ids = {run.trip_id for run in runs if run.trip_id}
    loaded: list[Alert | Trip] = []
    if alert_ids:
        loaded.extend(session.scalars(select(Alert).where(Alert.id.in_(alert_ids))))
    if trip_ids:
        loaded.extend(session.scalars(select(Trip).where(Trip.id.in_(trip_ids))))
    return loaded


def _link(session: Session, walks: list[Walk], now: datetime) -> None:
    """After the tick's flush gave its messages their ids: each message's outbox note and audit
    row, and the walk that started it written onto its run."""
    sending.note_queued(session, [(walk.request, walk.message) for walk in walks])
    for walk in walks:
        walk.apply(now)


def ladder_plan_step(session: Session, row: AlertLadderStep, alert: Alert, due: DueStep, now):
    """The ladder's `contact_plan` rung: start (or keep) a run for the alert's driver."""
    purpose = CALL_PURPOSE.get(alert.type, CallPurpose.CUSTOM)
    plan = session.get(ContactPlan, due.step.contact_plan_id) if due.step.contact_plan_id else None
    if alert.driver_id is None:
        skip(row, alert, "the alert names no driver", now)
        return None
    try:
        run = start_run(
            session,
            plan=plan,
            driver_id=alert.driver_id,
            purpose=purpose.value,
            alert_id=alert.id,
            trip_id=alert.trip_id,
            now=now,
        )
    except AppError as refused:
        skip(row, alert, str(refused.detail), now)
        return None
    row.status = LadderStepStatus.PLACED
    row.reason = f"contact run {run.id}"
    row.updated_at = now
    record_decision(
        alert, "ladder_contact_plan", f"contact_plan step {row.step_index + 1}: run {run.id}", now
    )
    alert.updated_at = now
    return None


def campaign_plan_step(
    session: Session, target: CampaignTarget, campaign: CallCampaign, now: datetime
) -> int:
    """The campaigns' `PlanStep` (`logic/calls/campaigns.py`): the claimed driver is reached by
    the campaign's contact plan (run linked to the campaign; first step on the next tick)."""
    run = start_run(
        session,
        plan=session.get(ContactPlan, campaign.contact_plan_id),
        driver_id=target.driver_id,
        purpose=campaign.purpose,
        alert_id=target.alert_id,
        trip_id=target.trip_id,
        campaign_id=campaign.id,
        now=now,
    )
    return run.id


def run_plan_tick(
    settings: Settings | None = None, *, now: datetime | None = None
) -> dict[str, Any]:
    """The scheduled pass: the ladder's `contact_plan` steps that are due start runs, the runs
    move on, then what they queued is sent, dialed and posted — after the commit."""
    settings = settings or get_settings()
    now = now or utc_now()
    ladder = run_ladder(now=now, call_step=ladder_plan_step, kinds=(LadderStepKind.CONTACT_PLAN,))
    result = tick_runs(Policies.from_settings(settings), now=now)
    if result.call_ids:
        dial_after_commit(result.call_ids, settings)
    inbound.after_commit(
        inbound.Applied(alert_deliveries=result.alert_deliveries, messages=result.message_ids),
        settings,
    )
    return {**result.as_dict(), "ladder_runs_started": ladder.due}
