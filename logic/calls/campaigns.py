"""The campaign tick: move targets on from their calls, then claim due targets and request their
calls; the one dialer places them.

`tick()` is two kinds of unit of work. First one short transaction decides everything in a
constant number of statements: scheduled campaigns start; targets whose call reached ringing or
an end move on (done; pending again at the outcome's retry delay; failed once attempts are used
up); stale claims are released; do-not-call and number-less targets are skipped with the
reason; finished campaigns complete; then due targets are picked in one set-based SELECT —
campaign running and inside its schedule, the driver's local time inside both the campaign's and
the placement's calling window, no do-not-call entry, attempts left, no active call to the
driver anywhere and no other campaign dialing them, under the daily maximum of calls, one
target per driver, at most the campaign's concurrency minus its calls in flight — and claimed
(`dialing`, attempt counted). Then the claimed targets' calls are requested (a transaction
per ten, a savepoint each) through `logic.calls.placement.prepare_call` (a queued row), outside
the claim, whose pre-dial checks (the one place they live) have the last word: a refusal gives
the attempt back and skips the target (no valid number, do-not-call) or defers it (window,
another call, daily maximum). The pick applies the same rules set-wise so that refusals are the
rare race, not the routine. Once those commit, the queued calls are dialed
(`logic.calls.dialing.dial_many`) with no transaction open.

Several instances may tick at once. Row locks alone cannot keep cross-row limits (one call per
driver across campaigns, a campaign's concurrency): on PostgreSQL the deciding transaction
takes a transaction advisory lock, so deciding is serialized (milliseconds) while requesting
and dialing are not, and the claim takes its rows with `FOR UPDATE SKIP LOCKED` so it never
waits behind a target another transaction holds (a cancel, a placement). On SQLite the
transaction takes the write lock up front (`session_scope`), which serializes the same way.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ARRAY,
    Integer,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased
from sqlmodel import Session

from config import Settings, get_settings
from db.database import session_scope
from db.types import UTCDateTime
from helpers.time_utils import is_valid_timezone, utc_now
from logic.calls.campaign_ops import CANCELED_REASON
from logic.calls.dialing import Dialer, dial_many
from logic.calls.placement import (
    SAFETY_REASONS,
    CallingPolicy,
    CallRefused,
    CallRequest,
    Refusal,
    RefusalReason,
    SubjectMismatch,
    in_calling_window,
    next_window_opening,
    pre_dial_refusals,
    prepare_call,
)
from logic.calls.voice.registry import CallProviders
from logic.fleet.driver_data import DriverData, drivers_data
from models.call import ACTIVE_CALL_STATUSES, TERMINAL_CALL_STATUSES, Call, CallOutcome, CallStatus
from models.call_agent_profile import CallAgentProfile
from models.campaign import (
    IN_FLIGHT_STATES,
    RETRY_OUTCOMES,
    CallCampaign,
    CampaignStatus,
    CampaignTarget,
    TargetState,
)
from models.do_not_call import DoNotCall
from models.driver import Driver

log = logging.getLogger(__name__)

# A claim whose call row never appeared (the ticking process died between claiming and
# queueing, milliseconds apart) is released after this, without counting the attempt.
CLAIM_LEASE = timedelta(minutes=2)
# After a driver turned out to be on another call: look again shortly.
BUSY_RETRY = timedelta(minutes=5)
DEFAULT_MAX_DIALS = 100
# An arbitrary constant shared by every instance: "deciding a campaign tick".
_ADVISORY_LOCK_KEY = 7_040_418

_LIVE = (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED)
_OPEN_TARGET = (TargetState.PENDING, *IN_FLIGHT_STATES)


@dataclass(frozen=True)
class Claim:
    """A target claimed for dialing, with what placing its call needs."""

    target_id: int
    campaign_id: int
    driver_id: int
    trip_id: int | None
    alert_id: int | None
    attempt: int


@dataclass
class ChunkReads:
    """What one transaction of requests reads once for all its claims instead of once per
    claim: the targets (row-locked, in id order), the drivers' pre-dial refusals and prompt
    data, and the agent profile each campaign and language gets.

    `held` keeps the chunk's drivers and campaigns referenced: the session keeps an entity only
    while something does, and each claim's `session.get` of one would read it again."""

    targets: dict[int, CampaignTarget]
    refusals: dict[int, Refusal | None]
    prompt_data: dict[int, DriverData]
    held: list[Any]
    profiles: dict[tuple[int, str], CallAgentProfile | None] = field(default_factory=dict)

    def profile_for(
        self, session: Session, campaign: CallCampaign, language: str
    ) -> CallAgentProfile | None:
        """The campaign's agent profile, else the one its provider and purpose pick for
        `language` (None: none is enabled; placing the call refuses it with the reason)."""
        key = (campaign.id, language)
        if key not in self.profiles:
            self.profiles[key] = (
                session.get(CallAgentProfile, campaign.agent_profile_id)
                if campaign.agent_profile_id
                else CallAgentProfile.pick(session, campaign.provider, campaign.purpose, language)
            )
        return self.profiles[key]


@dataclass
class TickResult:
    now: datetime
    started: int = 0
    advanced: dict[str, int] = field(default_factory=dict)  # new target state → count
    released: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason → count
    deferred: dict[str, int] = field(default_factory=dict)  # pre-dial refusal → count
    claimed: int = 0
    placed: int = 0
    provider_failed: int = 0
    not_placed: int = 0
    completed: list[int] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    ladder: dict[str, Any] | None = None
    claims: list[Claim] = field(default_factory=list, repr=False)
    call_ids: list[int] = field(default_factory=list, repr=False)
    # What the transaction of requests under way read once for its claims.
    chunk: ChunkReads | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "started": self.started,
            "advanced": self.advanced,
            "released": self.released,
            "skipped": self.skipped,
            "deferred": self.deferred,
            "claimed": self.claimed,
            "placed": self.placed,
            "provider_failed": self.provider_failed,
            "not_placed": self.not_placed,
            "completed": self.completed,
            "timings_ms": self.timings_ms,
            "ladder": self.ladder,
        }


def tick(
    dialer: Dialer,
    *,
    policy: CallingPolicy | None = None,
    now: datetime | None = None,
    max_dials: int = DEFAULT_MAX_DIALS,
    plan_step: PlanStep | None = None,
) -> TickResult:
    """One pass: decide and claim in one transaction, queue the claims' calls in a few more, then
    dial the queued calls with no transaction open (`dialer.concurrency` at a time). Targets of
    a campaign with a contact plan go to `plan_step` instead (they wait without one)."""
    now = now or utc_now()
    policy = policy or CallingPolicy()
    result = TickResult(now=now)
    started = time.perf_counter()
    with session_scope() as session:
        decide_and_claim(session, now=now, policy=policy, max_dials=max_dials, result=result)
    result.timings_ms["decide_claim"] = round((time.perf_counter() - started) * 1000, 1)
    started = time.perf_counter()
    _request_claims(result, policy=policy, now=now, plan_step=plan_step)
    result.timings_ms["request"] = round((time.perf_counter() - started) * 1000, 1)
    started = time.perf_counter()
    statuses = dial_many(result.call_ids, dialer, now=now)
    failed = {i for i, s in statuses.items() if s == CallStatus.FAILED}
    result.provider_failed = len(failed)
    result.placed = len(result.call_ids) - len(failed)
    result.call_ids = [i for i in result.call_ids if i not in failed]
    result.timings_ms["place"] = round((time.perf_counter() - started) * 1000, 1)
    return result


# Claims requested per transaction: enough to share the pre-dial checks, few enough that the
# targets' row locks (and SQLite's single writer, which dispatchers' clicks wait for) are held
# about a tenth of a second, not for a whole tick of up to CAMPAIGN_TICK_MAX_DIALS claims.
REQUEST_CHUNK = 10


def _request_claims(
    result: TickResult, *, policy: CallingPolicy, now: datetime, plan_step: PlanStep | None
) -> None:
    """Queue the calls of the tick's claims, `REQUEST_CHUNK` claims per transaction (targets
    in id order), each claim in its own savepoint."""
    claims = sorted(result.claims, key=lambda c: c.target_id)
    for first in range(0, len(claims), REQUEST_CHUNK):
        chunk = claims[first : first + REQUEST_CHUNK]
        _request_chunk(chunk, result, policy=policy, now=now, plan_step=plan_step)


def _request_chunk(
    claims: list[Claim],
    result: TickResult,
    *,
    policy: CallingPolicy,
    now: datetime,
    plan_step: PlanStep | None,
) -> None:
    """One transaction of requests. Its targets, drivers, campaigns, agent profiles, pre-dial
    checks and prompt data are read once for its claims (a fixed number of statements instead of
    as many per claim), in the transaction that writes the calls, so the checks still have the
    last word. One bad request rolls back only its savepoint. If the database fails, nothing of
    the chunk was queued: the claims' lease releases them."""
    queued_before, refused_before = len(result.call_ids), result.not_placed
    try:
        with session_scope() as session:
            result.chunk = _read_chunk(session, claims, policy=policy, now=now)
            requested: Counter[int] = Counter()  # campaign id → calls requested
            for claim in claims:
                try:
                    with session.begin_nested():
                        call = request_claim(
                            session, claim, policy=policy, now=now, result=result,
                            plan_step=plan_step,
                        )  # fmt: skip
                except OperationalError:
                    raise  # the database is gone: nothing in this transaction can commit
                except Exception:
                    log.exception("campaign target %s: requesting its call failed", claim.target_id)
                    result.not_placed += 1
                else:
                    if call is not None:
                        requested[claim.campaign_id] += 1
            # Each campaign's count once per transaction, not an UPDATE per call.
            for campaign_id, calls in requested.items():
                session.execute(
                    update(CallCampaign)
                    .where(CallCampaign.id == campaign_id)
                    .values(calls_placed=CallCampaign.calls_placed + calls)
                    .execution_options(synchronize_session=False)
                )
    except OperationalError as exc:
        log.warning("database unavailable requesting %s calls: %s", len(claims), exc)
        del result.call_ids[queued_before:]
        result.not_placed = refused_before + len(claims)
    finally:
        result.chunk = None


def _read_chunk(
    session: Session, claims: list[Claim], *, policy: CallingPolicy, now: datetime
) -> ChunkReads:
    """The chunk's targets locked in id order (one statement, so two ticks never deadlock),
    then its drivers, campaigns, pre-dial refusals and prompt data."""
    locked = (
        select(CampaignTarget)
        .where(CampaignTarget.id.in_([c.target_id for c in claims]))
        .order_by(CampaignTarget.id)
        .with_for_update()
    )
    targets = {target.id: target for target in session.scalars(locked)}
    drivers = list(
        session.scalars(select(Driver).where(Driver.id.in_({c.driver_id for c in claims})))
    )
    campaigns = list(
        session.scalars(
            select(CallCampaign).where(CallCampaign.id.in_({c.campaign_id for c in claims}))
        )
    )
    return ChunkReads(
        targets=targets,
        refusals=pre_dial_refusals(session, drivers, now=now, policy=policy),
        prompt_data=drivers_data(session, drivers, now=now),
        held=[*drivers, *campaigns],
    )


def run_tick(
    settings: Settings | None = None,
    *,
    now: datetime | None = None,
    plan_step: PlanStep | None = None,
) -> TickResult:
    """The scheduled job, one dialer for everything: escalation-ladder steps due
    (`logic/alerts/ladder.py`) and the campaign tick queue their calls, the queued calls are
    dialed outside any transaction, the dialer's recovery runs, and the calls' early webhook
    events are matched (the placement's after-commit step). `plan_step` starts the contact
    plans of campaigns that have one (the callers wire the messaging domain's)."""
    from logic.calls.dialing import recover
    from logic.calls.ladder_calls import record_ladder_dials, run_ladder_with_calls
    from logic.calls.service import after_placement, dialer_for

    settings = settings or get_settings()
    now = now or utc_now()
    policy = CallingPolicy.from_settings(settings)
    providers = CallProviders.from_settings(settings)
    dialer = dialer_for(providers, settings)
    try:
        ladder = run_ladder_with_calls(policy=policy, now=now)
        ladder_dials = dial_many(ladder.call_ids, dialer, now=now)
        result = tick(
            dialer,
            policy=policy,
            now=now,
            max_dials=settings.CAMPAIGN_TICK_MAX_DIALS,
            plan_step=plan_step,
        )
        recovered = recover(dialer, now=now)
    finally:
        providers.close()
    record_ladder_dials(ladder, ladder_dials, now=now)
    result.ladder = ladder.as_dict()
    placed = [i for i, s in ladder_dials.items() if s is not None] + result.call_ids
    placed += recovered.call_ids
    if placed:
        after_placement(placed, settings)
    return result


def decide_and_claim(
    session: Session,
    *,
    now: datetime,
    policy: CallingPolicy,
    max_dials: int = DEFAULT_MAX_DIALS,
    result: TickResult | None = None,
) -> TickResult:
    """Everything the tick decides, in the caller's transaction; `result.claims` to dial."""
    result = result or TickResult(now=now)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
        # A handful of statements over many rows whose counts the planner misjudges; JIT
        # compiling them costs more than running them.
        session.execute(text("SET LOCAL jit = off"))
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now_mark = time.perf_counter()
        result.timings_ms[name] = round((now_mark - mark) * 1000, 1)
        mark = now_mark

    result.started = _start_scheduled(session, now)
    advance_targets(session, now=now, result=result)
    result.released = _release_stale_claims(session, now)
    lap("advance")
    _skip_unreachable(session, now, result)
    result.completed = _complete_finished(session, now)
    lap("skip_complete")
    picked = _pick_due(session, now=now, policy=policy, limit=max_dials)
    lap("pick")
    result.claims = _claim(session, picked, now=now)
    result.claimed = len(result.claims)
    lap("claim")
    return result


# ---- moving targets on -------------------------------------------------------------------


def _start_scheduled(session: Session, now: datetime) -> int:
    return (
        session.execute(
            update(CallCampaign)
            .where(CallCampaign.status == CampaignStatus.SCHEDULED)
            .where(CallCampaign.schedule_start_at <= now)
            .values(status=CampaignStatus.RUNNING, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )


def advance_targets(
    session: Session,
    *,
    now: datetime,
    call_ids: list[int] | None = None,
    result: TickResult | None = None,
) -> int:
    """Move in-flight targets on from their last call: ringing → `in_call`; ended → `done`,
    `pending` at the outcome's retry delay, `failed` (attempts used up) or `skipped` (campaign
    canceled, or the call was canceled). Idempotent; `call_ids` limits it to those calls (the
    hook for outcome processing). Two statements whatever the number of targets."""
    campaign = CallCampaign
    query = (
        select(
            CampaignTarget.id,
            CampaignTarget.state,
            CampaignTarget.attempts,
            Call.status.label("call_status"),
            Call.outcome,
            Call.ended_at,
            campaign.status.label("campaign_status"),
            campaign.max_attempts,
            campaign.retry_no_answer_minutes,
            campaign.retry_busy_minutes,
            campaign.retry_voicemail_minutes,
            campaign.retry_failed_minutes,
        )
        .join(Call, Call.id == CampaignTarget.last_call_id)
        .join(campaign, campaign.id == CampaignTarget.campaign_id)
        .where(CampaignTarget.state.in_([s.value for s in IN_FLIGHT_STATES]))
        .where(
            or_(
                Call.status.in_([s.value for s in TERMINAL_CALL_STATUSES]),
                and_(
                    CampaignTarget.state == TargetState.DIALING,
                    Call.status.in_([CallStatus.RINGING, CallStatus.IN_PROGRESS]),
                ),
            )
        )
    )
    if call_ids is not None:
        query = query.where(Call.id.in_(call_ids))
    changes = [_next_state(row, now) for row in session.execute(query)]
    if not changes:
        return 0
    table = CampaignTarget.__table__
    session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        # Not `IN (…)`: an expanding list cannot be part of an executemany.
        .where(or_(*(table.c.state == s.value for s in IN_FLIGHT_STATES)))
        .values(
            state=bindparam("b_state"),
            next_attempt_at=bindparam("b_next", type_=table.c.next_attempt_at.type),
            last_outcome=bindparam("b_outcome"),
            skip_reason=bindparam("b_reason"),
            finished_at=bindparam("b_finished", type_=table.c.finished_at.type),
            updated_at=bindparam("b_now", type_=table.c.updated_at.type),
        ),
        changes,
    )
    if result is not None:
        for change in changes:
            result.advanced[change["b_state"]] = result.advanced.get(change["b_state"], 0) + 1
    return len(changes)


def _next_state(row: Any, now: datetime) -> dict[str, Any]:
    """The target's new values from its call (a pure decision on one row)."""
    change = {
        "b_id": row.id,
        "b_state": TargetState.IN_CALL.value,
        "b_next": now,
        "b_outcome": None,
        "b_reason": None,
        "b_finished": None,
        "b_now": now,
    }
    if row.call_status not in TERMINAL_CALL_STATUSES:
        return change
    outcome = row.outcome or (
        CallOutcome.CANCELED if row.call_status == CallStatus.CANCELED else CallOutcome.FAILED
    )
    ended = row.ended_at or now
    change.update(b_outcome=outcome, b_finished=now)
    if outcome == CallOutcome.COMPLETED:
        change["b_state"] = TargetState.DONE.value
    elif outcome == CallOutcome.CANCELED:
        change.update(b_state=TargetState.SKIPPED.value, b_reason="the call was canceled")
    elif row.campaign_status == CampaignStatus.CANCELED:
        change.update(b_state=TargetState.SKIPPED.value, b_reason=CANCELED_REASON)
    elif row.attempts >= row.max_attempts:
        change["b_state"] = TargetState.FAILED.value
    elif outcome in RETRY_OUTCOMES or outcome == CallOutcome.UNKNOWN:
        # A call given up as `unknown` is retried like a failed one (its driver was released).
        minutes = {
            CallOutcome.NO_ANSWER: row.retry_no_answer_minutes,
            CallOutcome.BUSY: row.retry_busy_minutes,
            CallOutcome.VOICEMAIL: row.retry_voicemail_minutes,
            CallOutcome.VOICEMAIL_LEFT: row.retry_voicemail_minutes,
            CallOutcome.FAILED: row.retry_failed_minutes,
            CallOutcome.UNKNOWN: row.retry_failed_minutes,
        }[outcome]
        change.update(
            b_state=TargetState.PENDING.value,
            b_next=ended + timedelta(minutes=minutes),
            b_finished=None,
        )
    else:
        change["b_state"] = TargetState.FAILED.value
    return change


def _release_stale_claims(session: Session, now: datetime) -> int:
    return (
        session.execute(
            update(CampaignTarget)
            .where(CampaignTarget.state == TargetState.DIALING)
            .where(CampaignTarget.last_call_id.is_(None))
            .where(CampaignTarget.claimed_at < now - CLAIM_LEASE)
            .values(
                state=TargetState.PENDING,
                attempts=CampaignTarget.attempts - 1,
                claimed_at=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )


def _dnc_in_force(now: datetime) -> Any:
    return (
        select(DoNotCall.reason)
        .where(
            or_(
                DoNotCall.driver_id == CampaignTarget.driver_id,
                and_(DoNotCall.phone_number.is_not(None), DoNotCall.phone_number == Driver.phone),
            ),
            or_(DoNotCall.until.is_(None), DoNotCall.until > now),
        )
        .correlate(CampaignTarget, Driver)
    )


def _skip_unreachable(session: Session, now: datetime, result: TickResult) -> None:
    """Pending targets that can never be dialed are skipped now, with the reason stated."""
    live = select(CallCampaign.id).where(CallCampaign.status.in_([s.value for s in _LIVE]))
    pending = and_(
        CampaignTarget.state == TargetState.PENDING, CampaignTarget.campaign_id.in_(live)
    )
    # Do-not-call and a missing number are judged when the target comes due (an entry may
    # expire before then); a schedule that ended finishes every pending target at once.
    due = and_(pending, CampaignTarget.next_attempt_at <= now)
    ended = select(CallCampaign.id).where(
        CallCampaign.status.in_([s.value for s in _LIVE]), CallCampaign.schedule_end_at <= now
    )
    driver = select(Driver.id).where(Driver.id == CampaignTarget.driver_id)
    dnc_reason = (
        select(
            func.substr(
                literal("do-not-call: ")
                + func.coalesce(
                    _dnc_in_force(now).limit(1).scalar_subquery(),
                    "the driver's do-not-call flag is set",
                ),
                1,
                300,
            )
        )
        .where(Driver.id == CampaignTarget.driver_id)
        .scalar_subquery()
    )
    rules: list[tuple[str, Any, Any]] = [
        (
            "campaign schedule ended",
            and_(pending, CampaignTarget.campaign_id.in_(ended)),
            "campaign schedule ended",
        ),
        (
            "do-not-call",
            and_(
                due,
                exists(driver.where(or_(Driver.do_not_call.is_(True), exists(_dnc_in_force(now))))),
            ),
            dnc_reason,
        ),
        (
            "no phone number",
            and_(due, exists(driver.where(or_(Driver.phone.is_(None), Driver.phone == "")))),
            "the driver has no phone number",
        ),
    ]
    for label, condition, reason in rules:
        count = session.execute(
            update(CampaignTarget)
            .where(condition)
            .values(state=TargetState.SKIPPED, skip_reason=reason, finished_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if count:
            result.skipped[label] = result.skipped.get(label, 0) + count


def _complete_finished(session: Session, now: datetime) -> list[int]:
    """Live campaigns none of whose targets can progress any more are completed."""
    open_target = exists().where(
        CampaignTarget.campaign_id == CallCampaign.id,
        CampaignTarget.state.in_([s.value for s in _OPEN_TARGET]),
    )
    stmt = (
        update(CallCampaign)
        .where(CallCampaign.status.in_([s.value for s in _LIVE]))
        .where(~open_target)
        .values(status=CampaignStatus.COMPLETED, completed_at=now, updated_at=now)
        .returning(CallCampaign.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.execute(stmt).scalars().all())


# ---- picking and claiming ------------------------------------------------------------------


def open_zones(
    session: Session, campaigns: list[Any], *, now: datetime, policy: CallingPolicy
) -> dict[int, list[str]]:
    """Per running campaign, the driver time-zone values whose local time is inside both the
    campaign's window and the placement's. Zones are few, so deciding them here keeps the pick
    portable SQL (an `IN` list) and DST-correct (zoneinfo)."""
    values = set(session.scalars(select(Driver.timezone).distinct()))
    zones: dict[str, str] = {}
    for value in values:
        name = value if value and is_valid_timezone(value) else policy.default_timezone
        zones[value if value is not None else policy.default_timezone] = name
    zones.setdefault(policy.default_timezone, policy.default_timezone)
    inside_policy = {
        value: in_calling_window(now, name, start=policy.window_start, end=policy.window_end)
        for value, name in zones.items()
    }
    out: dict[int, list[str]] = {}
    for campaign in campaigns:
        start = dtime.fromisoformat(campaign.window_start)
        end = dtime.fromisoformat(campaign.window_end)
        allowed = sorted(
            value
            for value, name in zones.items()
            if inside_policy[value] and in_calling_window(now, name, start=start, end=end)
        )
        if allowed:
            out[campaign.id] = allowed
    return out


def local_midnight(now: datetime, value: str, policy: CallingPolicy) -> datetime:
    """Start of the local calendar day at `now` for a driver time-zone value (as placement)."""
    zone = ZoneInfo(value if is_valid_timezone(value) else policy.default_timezone)
    return datetime.combine(now.astimezone(zone).date(), dtime(0), tzinfo=zone)


def _pick_due(session: Session, *, now: datetime, policy: CallingPolicy, limit: int) -> list[Claim]:
    """Due targets that may be dialed now, within every limit: one SELECT of the eligible due
    rows, then each driver once and each campaign up to its concurrency. The claims are
    candidates (attempt = the one to count) until `_claim` takes their rows."""
    running = session.execute(
        select(CallCampaign.id, CallCampaign.window_start, CallCampaign.window_end)
        .where(CallCampaign.status == CampaignStatus.RUNNING)
        .where(or_(CallCampaign.schedule_start_at.is_(None), CallCampaign.schedule_start_at <= now))
        .where(or_(CallCampaign.schedule_end_at.is_(None), CallCampaign.schedule_end_at > now))
    ).all()
    zones = open_zones(session, running, now=now, policy=policy)
    if not zones or limit <= 0:
        return []
    target, other = CampaignTarget, aliased(CampaignTarget)
    zone = func.coalesce(Driver.timezone, policy.default_timezone)

    def in_zones(values: list[str]) -> Any:
        # `zone IN (…)` spelled on the bare column: PostgreSQL has no statistics for the
        # COALESCE and guesses 0.5% of the drivers per value, so it planned a nested loop per
        # due row where hash joins are cheaper.
        inside = Driver.timezone.in_(values)
        return (
            or_(inside, Driver.timezone.is_(None)) if policy.default_timezone in values else inside
        )

    in_flight_states = [s.value for s in IN_FLIGHT_STATES]
    # The placement's daily maximum counts dialed calls since the driver's local midnight.
    midnights = {
        value: local_midnight(now, value, policy)
        for value in {z for v in zones.values() for z in v}
    }
    midnight = case(
        {value: literal(at, UTCDateTime()) for value, at in midnights.items()},
        value=zone,
        else_=literal(local_midnight(now, policy.default_timezone, policy), UTCDateTime()),
    )
    dialed_today = (
        select(func.count())
        .where(Call.driver_id == target.driver_id, Call.dialed_at.is_not(None))
        .where(Call.created_at >= midnight)
        .scalar_subquery()
    )
    due = (
        select(
            target.id,
            target.campaign_id,
            target.driver_id,
            target.trip_id,
            target.alert_id,
            target.attempts,
        )
        .join(CallCampaign, CallCampaign.id == target.campaign_id)
        .join(Driver, Driver.id == target.driver_id)
        .where(target.campaign_id.in_(list(zones)))
        .where(target.state == TargetState.PENDING, target.next_attempt_at <= now)
        .where(target.attempts < CallCampaign.max_attempts)
        .where(or_(*(and_(target.campaign_id == cid, in_zones(z)) for cid, z in zones.items())))
        .where(Driver.do_not_call.is_(False), ~exists(_dnc_in_force(now)))
        .where(
            ~exists().where(
                Call.driver_id == target.driver_id,
                Call.status.in_([s.value for s in ACTIVE_CALL_STATUSES]),
            )
        )
        .where(
            ~exists().where(other.driver_id == target.driver_id, other.state.in_(in_flight_states))
        )
        .where(dialed_today < policy.max_per_day)
    )
    due = due.order_by(target.next_attempt_at, target.id)
    room = dict(
        session.execute(
            select(
                CallCampaign.id,
                CallCampaign.max_concurrency - func.count(other.id),
            )
            .outerjoin(
                other,
                and_(other.campaign_id == CallCampaign.id, other.state.in_(in_flight_states)),
            )
            .where(CallCampaign.id.in_(list(zones)))
            .group_by(CallCampaign.id, CallCampaign.max_concurrency)
        ).all()
    )
    # Greedy over the due rows, oldest first: each driver once, each campaign up to its room.
    # (Ranking in SQL — driver first, then campaign — leaves a driver's later campaigns idle
    # when the first one is full; this pass never does.)
    # Rows unpacked, not read by attribute name: that costs ~0.5 µs a field, milliseconds a tick.
    picked: list[Claim] = []
    taken: set[int] = set()
    for target_id, campaign_id, driver_id, trip_id, alert_id, attempts in session.execute(due):
        if driver_id in taken or room.get(campaign_id, 0) <= 0:
            continue
        taken.add(driver_id)
        room[campaign_id] -= 1
        picked.append(Claim(target_id, campaign_id, driver_id, trip_id, alert_id, attempts + 1))
        if len(picked) >= limit:
            break
    return picked


def _claim(session: Session, picked: list[Claim], *, now: datetime) -> list[Claim]:
    """Mark the picked targets `dialing` (attempt counted) in one UPDATE.

    On PostgreSQL the rows are taken through `FOR UPDATE SKIP LOCKED`: a target another
    transaction holds (a cancel, a placement) is left for the next tick instead of waited for;
    locking and updating take one statement, one round trip. The ids are fixed, so the
    subquery cannot claim more than was picked however often it is evaluated.
    """
    if not picked:
        return []
    ids = [c.target_id for c in picked]
    # Core on the table, not the ORM: no session state to synchronize, and the ORM's bulk
    # UPDATE path costs milliseconds a tick for nothing here.
    table = CampaignTarget.__table__
    rows = select(table.c.id).where(table.c.state == TargetState.PENDING)
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter, not an `IN` of up to max_dials parameters that SQLAlchemy
        # renders and psycopg binds one by one on every tick (~10 ms for 2,000 ids).
        ids_param = bindparam("claim_ids", ids, type_=ARRAY(Integer))
        rows = rows.where(table.c.id == any_(ids_param)).with_for_update(skip_locked=True)
    else:
        rows = rows.where(table.c.id.in_(ids))
    claimed = set(
        session.execute(
            update(table)
            .where(table.c.id.in_(rows.scalar_subquery()))
            .values(
                state=TargetState.DIALING,
                attempts=table.c.attempts + 1,
                claimed_at=now,
                last_call_id=None,
                updated_at=now,
            )
            .returning(table.c.id)
        )
        .scalars()
        .all()
    )
    session.execute(
        update(CallCampaign)
        .where(CallCampaign.id.in_({c.campaign_id for c in picked}))
        .values(last_tick_at=now)
        .execution_options(synchronize_session=False)
    )
    return [c for c in picked if c.target_id in claimed]


def refusal_outcome(
    refusal: Refusal, driver: Driver, now: datetime, policy: CallingPolicy
) -> tuple[TargetState, datetime, str | None]:
    """(state, next attempt, skip reason) for a target the placement refused: skipped for good
    (no valid number, do-not-call) or pending until it may be dialed (outside the window,
    another call, the daily maximum). The refused attempt is never counted."""
    zone = policy.timezone_for(driver)
    if refusal.reason in (RefusalReason.INVALID_PHONE, RefusalReason.DO_NOT_CALL):
        return TargetState.SKIPPED, now, refusal.message[:300]
    if refusal.reason == RefusalReason.OUTSIDE_CALLING_WINDOW:
        opening = next_window_opening(now, zone, start=policy.window_start, end=policy.window_end)
        return TargetState.PENDING, opening, None
    if refusal.reason in SAFETY_REASONS and refusal.retry_at is not None:
        return TargetState.PENDING, refusal.retry_at, None
    if refusal.reason == RefusalReason.DAILY_LIMIT:
        tomorrow = (now.astimezone(ZoneInfo(zone)) + timedelta(days=1)).date()
        opening = datetime.combine(tomorrow, policy.window_start, tzinfo=ZoneInfo(zone))
        return TargetState.PENDING, opening, None
    return TargetState.PENDING, now + BUSY_RETRY, None


# ---- dialing -------------------------------------------------------------------------------


# A campaign with a contact plan hands each claimed driver to the plan instead of calling. The
# messaging domain supplies this step (`logic/messaging/contact_plans.py`: it starts the run)
# so this package never imports it; returns the run's id.
PlanStep = Callable[[Session, CampaignTarget, CallCampaign, datetime], int]
PLAN_OUTCOME = "contact_plan"


def request_claim(
    session: Session,
    claim: Claim,
    *,
    policy: CallingPolicy,
    now: datetime,
    result: TickResult | None = None,
    plan_step: PlanStep | None = None,
) -> Call | None:
    """Queue the call of one claimed target in the caller's transaction; None if it was not
    queued. The caller adds the call to its campaign's `calls_placed`.

    The target is read again under a row lock (the tick locks its chunk's targets at once,
    `ChunkReads`): a campaign paused or canceled since the claim gets its target back (pending,
    or skipped on cancel) without a call. The idempotency key is the target and attempt, so a
    retried request of one claim never makes a second call. The dialer places the call after
    this commits; the target follows the call's status.
    """
    reads = result.chunk if result is not None else None
    if reads is not None:
        target = reads.targets.get(claim.target_id)
    else:
        query = select(CampaignTarget).where(CampaignTarget.id == claim.target_id)
        target = session.scalars(query.with_for_update()).first()
    if target is None or target.state != TargetState.DIALING or target.last_call_id is not None:
        return None
    campaign = session.get(CallCampaign, target.campaign_id)
    if campaign is None or campaign.status != CampaignStatus.RUNNING:
        canceled = campaign is None or campaign.status == CampaignStatus.CANCELED
        _unclaim(target, now, canceled=canceled)
        if result is not None:
            result.not_placed += 1
        return None
    driver = session.get(Driver, target.driver_id)
    if campaign.contact_plan_id is not None:
        if plan_step is None:
            if result is not None:
                result.not_placed += 1
            _unclaim(target, now, canceled=False)  # waits for a pass that runs plans
            return None
        # The run (linked to the campaign) carries on reaching the driver; the target is done.
        plan_step(session, target, campaign, now)
        target.state, target.last_outcome = TargetState.DONE, PLAN_OUTCOME
        target.finished_at = target.updated_at = now
        return None
    if reads is not None:
        profile = reads.profile_for(session, campaign, driver.language)
    elif campaign.agent_profile_id:
        profile = session.get(CallAgentProfile, campaign.agent_profile_id)
    else:
        profile = None  # placing the call picks it
    try:
        call = prepare_call(
            session,
            CallRequest(
                driver_id=driver.id,
                purpose=campaign.purpose,
                provider=campaign.provider,
                agent_profile_id=profile.id if profile else None,
                trip_id=target.trip_id,
                alert_id=target.alert_id,
                campaign_target_id=target.id,
                placed_by_label=f"campaign:{campaign.id}",
                idempotency_key=f"campaign-target:{target.id}:attempt:{target.attempts}",
            ),
            policy=policy,
            now=now,
            refusal=reads.refusals.get(driver.id, False) if reads is not None else False,
            data=reads.prompt_data.get(driver.id) if reads is not None else None,
        )
    except SubjectMismatch as mismatch:
        # The target's alert or trip is another driver's: calling would write onto it.
        target.state, target.skip_reason, target.finished_at = (
            TargetState.SKIPPED,
            str(mismatch)[:300],
            now,
        )
        target.attempts = max(target.attempts - 1, 0)
        if result is not None:
            result.not_placed += 1
        return None
    except CallRefused as refused:
        refusal = refused.refusal
        if result is not None:
            result.not_placed += 1
            reason = refusal.reason.value
            result.deferred[reason] = result.deferred.get(reason, 0) + 1
        _unclaim(target, now, canceled=False)
        if refusal.reason == RefusalReason.NO_AGENT_PROFILE:
            # Every target of the campaign would hit it: the campaign pauses with the reason.
            campaign.status = CampaignStatus.PAUSED
            campaign.status_reason = refusal.message[:300]
            campaign.paused_at = now
            campaign.updated_at = now
            log.warning("campaign %s paused: %s", campaign.id, refusal.message)
            return None
        state, next_at, reason = refusal_outcome(refusal, driver, now, policy)
        target.state, target.next_attempt_at, target.skip_reason = state, next_at, reason
        if refusal.reason in SAFETY_REASONS:
            # Visible on the target and in the campaign's waiting reasons.
            target.defer_reason = f"{refusal.reason.value}: {refusal.message}"[:300]
        if state == TargetState.SKIPPED:
            target.finished_at = now
        return None
    target.last_call_id = call.id
    target.defer_reason = None
    target.updated_at = now
    if result is not None and call.status == CallStatus.QUEUED:
        result.call_ids.append(call.id)
    return call


def _unclaim(target: CampaignTarget, now: datetime, *, canceled: bool) -> None:
    target.attempts = max(target.attempts - 1, 0)
    target.claimed_at = None
    target.updated_at = now
    if canceled:
        target.state = TargetState.SKIPPED
        target.skip_reason = CANCELED_REASON
        target.finished_at = now
    else:
        target.state = TargetState.PENDING
