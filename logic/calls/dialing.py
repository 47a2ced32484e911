"""The dialer: places committed `queued` calls at their provider, outside any transaction.

Public entry points (campaigns, the escalation ladder and any other caller that queues calls
with `logic.calls.placement.prepare_call` and commits): `dial(call_id, dialer)` for one call,
`dial_many(call_ids, dialer)` for a batch, `recover(dialer)` for what crashes and vendor faults
left behind, with `Dialer` saying how (providers, webhook base URL, concurrency, give-up time).

A dial is three steps: mark the dial started (its own commit, so a process that dies mid-dial
leaves a row that says so), ask the provider with no connection or lock held, record the answer
in a second short transaction — `dialing` with the provider's id, `failed` when the provider
refused, `dial_unknown` on a timeout or 5xx (the vendor may have placed it). `dial_many` takes
the whole batch in one transaction and records answers as they arrive, several per transaction,
so its database work does not grow with its concurrency.

`recover()` is what keeps that honest after crashes and vendor faults: queued calls nobody
dialed are dialed (or given up when too old to still be wanted); calls whose dial started but
was never recorded, and every `dial_unknown`, are looked for at the vendor — found, they are
attached and followed; not found once the vendor has had time to show them, they failed and may
be retried — and calls that never finished end `unknown` after `CALL_GIVE_UP_AFTER_MINUTES`,
releasing their driver.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from db.database import session_scope
from helpers.errors import UpstreamNotConfigured
from helpers.time_utils import utc_now
from logic.calls.placement import RING_ALLOWANCE
from logic.calls.voice.base import Dialed, DialSpec
from logic.calls.voice.registry import CallProviders, UnknownProvider
from models.call import Call, CallOutcome, CallStatus
from models.call_agent_profile import CallAgentProfile
from models.driver import Driver
from utils.http import VendorError, VendorRejectedError

log = logging.getLogger(__name__)

# A queued call not yet started this long after it was written lost its placer (the process
# died between commit and dial): the dialer takes it. Started this long ago and never
# recorded: the placer died mid-dial, so the call is looked for at the vendor.
DIAL_LEASE = timedelta(seconds=30)
# A request still undialed after this is no longer what anyone asked for (the moment, the
# calling window, the driver's situation have moved on): it fails and its owner may ask again.
STALE_REQUEST = timedelta(minutes=10)
# How long a vendor may take to list a call it accepted; before that "not found" proves nothing.
SETTLE = timedelta(minutes=2)
# Looking for a call at the vendor starts this much before the dial began (clock skew).
SEARCH_SLACK = timedelta(minutes=1)

_RECORDABLE = (CallStatus.QUEUED, CallStatus.DIAL_UNKNOWN)
_UNFINISHED = (
    CallStatus.DIALING,
    CallStatus.DIAL_UNKNOWN,
    CallStatus.RINGING,
    CallStatus.IN_PROGRESS,
)


@dataclass(frozen=True)
class Dialer:
    """How to dial: the providers, where their webhooks go, how many dials run at once."""

    providers: CallProviders
    webhook_base_url: str = ""
    concurrency: int = 1
    give_up_after: timedelta = timedelta(minutes=60)


@dataclass
class RecoverResult:
    dialed: int = 0
    stale: int = 0
    interrupted: int = 0
    found: int = 0
    not_placed: int = 0
    still_unknown: int = 0
    given_up: int = 0
    call_ids: list[int] = field(default_factory=list)  # calls now at the vendor


def _spec_for(
    call: Call, profile: CallAgentProfile | None, driver: Driver | None, base_url: str
) -> DialSpec | None:
    if profile is None:
        return None
    return DialSpec(
        call_id=call.id,
        driver_id=call.driver_id,
        to_number=call.to_number,
        assistant_id=profile.assistant_id,
        phone_number_id=profile.phone_number_id,
        purpose=call.purpose,
        variables=dict(call.variables or {}),
        customer_name=driver.full_name if driver else None,
        alert_id=call.alert_id,
        server_url=base_url or None,
    )


def _spec(session: Session, call: Call, base_url: str) -> DialSpec | None:
    profile = (
        session.get(CallAgentProfile, call.agent_profile_id) if call.agent_profile_id else None
    )
    driver = session.get(Driver, call.driver_id) if call.driver_id else None
    return _spec_for(call, profile, driver, base_url)


def _by_id(session: Session, model: type, ids: set[int | None]) -> dict[int, object]:
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(wanted)))}


def _start(
    call_ids: Sequence[int], dialer: Dialer, now: datetime
) -> dict[int, tuple[str, DialSpec]]:
    """Take the calls for dialing (exactly one dialer wins each) and read what their providers
    need: one transaction for all of them, whatever their number."""
    ids = sorted(set(call_ids))
    if not ids:
        return {}
    with session_scope() as session:
        taken = list(
            session.execute(
                update(Call)
                .where(Call.id.in_(ids), Call.status == CallStatus.QUEUED)
                .where(Call.dial_started_at.is_(None))
                .values(dial_started_at=now, updated_at=now)
                .returning(Call.id)
                .execution_options(synchronize_session=False)
            ).scalars()
        )
        if not taken:
            return {}
        calls = list(session.scalars(select(Call).where(Call.id.in_(taken)).order_by(Call.id)))
        profiles = _by_id(session, CallAgentProfile, {c.agent_profile_id for c in calls})
        drivers = _by_id(session, Driver, {c.driver_id for c in calls})
        started: dict[int, tuple[str, DialSpec]] = {}
        for call in calls:
            profile = profiles.get(call.agent_profile_id)
            spec = _spec_for(call, profile, drivers.get(call.driver_id), dialer.webhook_base_url)
            if spec is None:
                _fail(call, "the call's agent profile no longer exists", now)
            else:
                started[call.id] = (call.provider, spec)
        return started


def _locked(session: Session, call_id: int) -> Call | None:
    return session.scalars(select(Call).where(Call.id == call_id).with_for_update()).first()


def _fail(call: Call, error: str, now: datetime) -> None:
    call.status = CallStatus.FAILED
    call.outcome = CallOutcome.FAILED
    call.error = error[:1000]
    call.ended_at = now
    call.report_received_at = now  # nothing will come: never polled
    call.updated_at = now


def _expected_end(profile: CallAgentProfile | None, now: datetime) -> datetime:
    seconds = profile.max_duration_seconds if profile else 600
    return now + timedelta(seconds=seconds) + RING_ALLOWANCE


def attach(call: Call, dialed: Dialed, profile: CallAgentProfile | None, now: datetime) -> None:
    """The provider has the call: keep its ids; a queued or unknown call is now `dialing`
    (events that arrived first may already have moved it further). `profile`: the call's."""
    call.provider_call_id = call.provider_call_id or dialed.provider_call_id
    call.twilio_call_sid = call.twilio_call_sid or dialed.twilio_call_sid
    if call.status in _RECORDABLE:
        call.status = CallStatus.DIALING
        call.error = None
    call.dialed_at = call.dialed_at or now
    call.expected_end_at = _expected_end(profile, now)
    call.updated_at = now


def not_placed(error: Exception) -> bool:
    """The provider certainly did not place the call: it refused it (4xx, `success: false`),
    rate-limited it (429), or was never reached. A timeout or 5xx proves nothing."""
    if isinstance(error, VendorRejectedError | UpstreamNotConfigured | UnknownProvider):
        return True
    return isinstance(error, VendorError) and error.status == 429


def _ask(dialer: Dialer, provider_name: str, spec: DialSpec) -> Dialed | Exception:
    """The vendor request itself: no transaction, lock or pooled connection is held here."""
    try:
        return dialer.providers.voice(provider_name).dial(spec)
    except (VendorError, UpstreamNotConfigured, UnknownProvider) as exc:
        return exc


def _apply_answer(
    call: Call, answer: Dialed | Exception, profile: CallAgentProfile | None, now: datetime
) -> None:
    if isinstance(answer, Dialed):
        attach(call, answer, profile, now)
    elif call.status not in _RECORDABLE:
        pass  # canceled (or finished by early events) meanwhile: keep what is known
    elif not_placed(answer):
        _fail(call, str(answer), now)
    else:
        call.status = CallStatus.DIAL_UNKNOWN
        call.error = f"unknown whether the provider placed the call: {answer}"[:1000]
        call.expected_end_at = _expected_end(profile, now)
        call.updated_at = now


def _record(answers: dict[int, Dialed | Exception], now: datetime) -> dict[int, str]:
    """Record the answers that arrived together in one short transaction (rows locked in id
    order); each call's new status ('gone' when its row no longer exists).

    The calls' profiles are read together, not with `session.get` per call: the session keeps
    a loaded profile only while something references it, so each `get` read it again and
    first flushed the call before (two round trips per answer, ~30 ms for a batch of 20)."""
    with session_scope() as session:
        calls = list(
            session.scalars(
                select(Call).where(Call.id.in_(sorted(answers))).order_by(Call.id).with_for_update()
            )
        )
        profiles = _by_id(session, CallAgentProfile, {c.agent_profile_id for c in calls})
        statuses = {call_id: "gone" for call_id in answers}
        for call in calls:
            _apply_answer(call, answers[call.id], profiles.get(call.agent_profile_id), now)
            statuses[call.id] = str(call.status)
    for call_id, status in statuses.items():
        if status != CallStatus.DIALING:
            log.warning("call %s: %s (%s)", call_id, status, answers[call_id])
    return statuses


def dial(call_id: int, dialer: Dialer, *, now: datetime | None = None) -> str | None:
    """Place one queued call; its new status, or None if another dialer has it (or had it)."""
    now = now or utc_now()
    started = _start([call_id], dialer, now)
    if call_id not in started:
        return None
    provider_name, spec = started[call_id]
    return _record({call_id: _ask(dialer, provider_name, spec)}, now)[call_id]


def _record_safely(
    statuses: dict[int, str | None], answers: dict[int, Dialed | Exception], now: datetime
) -> None:
    try:
        statuses.update(_record(answers, now))
    except OperationalError as exc:
        # The rows say the dial started: recovery looks for these calls at the vendor.
        log.warning("database unavailable recording %s dials: %s", len(answers), exc)


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _vendor_threads(size: int) -> ThreadPoolExecutor:
    """A pool of `size` threads kept for the process: starting 20 threads for every batch cost
    tens of milliseconds each on a busy machine, added to every batch's dial phase."""
    with _POOLS_LOCK:
        if size not in _POOLS:
            _POOLS[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="dialer")
        return _POOLS[size]


def dial_many(
    call_ids: Sequence[int], dialer: Dialer, *, now: datetime | None = None
) -> dict[int, str | None]:
    """Place queued calls, `dialer.concurrency` vendor requests at a time; each call's new
    status (None: another dialer has it, or the database failed — recovery picks it up).

    The database work does not grow with the number of threads: one transaction takes every
    call and reads what the providers need, the worker threads only talk to the vendor (no
    connection held), and this thread records the answers as they arrive — those that arrived
    together in one transaction. So the dials overlap on SQLite's single writer too.
    """
    now = now or utc_now()
    ids = list(dict.fromkeys(call_ids))
    statuses: dict[int, str | None] = dict.fromkeys(ids)
    try:
        started = _start(ids, dialer, now)
    except OperationalError as exc:
        # An expected outage, not a bug: nothing was taken; the next recovery pass dials them.
        log.warning("database unavailable taking %s calls: %s", len(ids), type(exc).__name__)
        return statuses
    if not started:
        return statuses
    if dialer.concurrency <= 1 or len(started) == 1:
        # One at a time (a request's own call): in this thread, recorded as each answers.
        for call_id, (name, spec) in started.items():
            _record_safely(statuses, {call_id: _ask(dialer, name, spec)}, now)
        return statuses
    pool = _vendor_threads(dialer.concurrency)
    asked = {
        pool.submit(_ask, dialer, name, spec): call_id for call_id, (name, spec) in started.items()
    }
    pending = set(asked)
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        answers: dict[int, Dialed | Exception] = {}
        for future in done:
            if (error := future.exception()) is not None:
                # A bug, not a vendor answer: the row says the dial started, so recovery
                # looks for the call at the vendor; the other dials go on.
                log.error("dialing call %s failed", asked[future], exc_info=error)
                continue
            answers[asked[future]] = future.result()
        if answers:
            _record_safely(statuses, answers, now)
    return statuses


# ---- recovery ------------------------------------------------------------------------------


def recover(dialer: Dialer, *, now: datetime | None = None, limit: int = 200) -> RecoverResult:
    """One pass over calls the happy path left behind (see the module docstring)."""
    now = now or utc_now()
    result = RecoverResult()
    with session_scope() as session:
        orphans = _settle_queued(session, now, result)
        result.given_up = _give_up(session, now, dialer.give_up_after)
    statuses = dial_many(orphans, dialer, now=now)
    result.dialed = sum(1 for s in statuses.values() if s is not None)
    result.call_ids += [i for i, s in statuses.items() if s == CallStatus.DIALING]
    with session_scope(immediate=False) as session:
        unknown = list(
            session.scalars(
                select(Call.id)
                .where(Call.status == CallStatus.DIAL_UNKNOWN)
                .order_by(Call.dial_started_at)
                .limit(limit)
            )
        )
    for call_id in unknown:
        try:
            state = find_at_vendor(call_id, dialer, now=now)
        except (VendorError, UpstreamNotConfigured, UnknownProvider) as exc:
            log.warning("looking for call %s at its provider failed: %s", call_id, exc)
            state = "unknown"
        if state == "found":
            result.found += 1
            result.call_ids.append(call_id)
        elif state == "not_placed":
            result.not_placed += 1
        elif state == "unknown":
            result.still_unknown += 1
    return result


def _settle_queued(session: Session, now: datetime, result: RecoverResult) -> list[int]:
    """Queued calls past the lease: undialed and recent → to dial; undialed and stale →
    failed; dial started but never recorded → `dial_unknown`."""
    lease = now - DIAL_LEASE
    queued = Call.status == CallStatus.QUEUED
    result.interrupted = (
        session.execute(
            update(Call)
            .where(queued, Call.dial_started_at < lease)
            .values(
                status=CallStatus.DIAL_UNKNOWN,
                error="the dialer stopped before it recorded the provider's answer",
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )
    result.stale = (
        session.execute(
            update(Call)
            .where(queued, Call.dial_started_at.is_(None), Call.created_at < now - STALE_REQUEST)
            .values(
                status=CallStatus.FAILED,
                outcome=CallOutcome.FAILED,
                error="not dialed: the request was never picked up in time",
                ended_at=now,
                report_received_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )
    return list(
        session.scalars(
            select(Call.id)
            .where(queued, Call.dial_started_at.is_(None), Call.created_at < lease)
            .order_by(Call.id)
        )
    )


def _give_up(session: Session, now: datetime, after: timedelta) -> int:
    """Calls still unfinished `after` their dial (or their request) end `unknown`."""
    began = func.coalesce(Call.dialed_at, Call.dial_started_at, Call.created_at)
    return (
        session.execute(
            update(Call)
            .where(Call.status.in_([s.value for s in _UNFINISHED]))
            .where(began < now - after)
            .values(
                status=CallStatus.UNKNOWN,
                outcome=CallOutcome.UNKNOWN,
                error=f"no end reported within {int(after.total_seconds() // 60)} min; given up",
                ended_at=now,
                report_received_at=now,
                finalized_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )


def find_at_vendor(call_id: int, dialer: Dialer, *, now: datetime | None = None) -> str:
    """Look for a `dial_unknown` call at its provider: 'found' (attached, now followed like any
    call), 'not_placed' (failed; may be retried), 'unknown' (too early to tell) or 'skip'."""
    now = now or utc_now()
    with session_scope(immediate=False) as session:
        call = session.get(Call, call_id)
        if call is None or call.status != CallStatus.DIAL_UNKNOWN:
            return "skip"
        spec = _spec(session, call, dialer.webhook_base_url)
        provider_name = call.provider
        began = call.dial_started_at or call.created_at
        known = call.provider_call_id
    if known:
        dialed: Dialed | None = Dialed(known)
    elif spec is None:
        dialed = None
    else:
        dialed = dialer.providers.voice(provider_name).find_placed(spec, began - SEARCH_SLACK)
    with session_scope() as session:
        call = _locked(session, call_id)
        if call is None or call.status != CallStatus.DIAL_UNKNOWN:
            return "skip"
        if dialed is not None:
            profile = (
                session.get(CallAgentProfile, call.agent_profile_id)
                if call.agent_profile_id
                else None
            )
            attach(call, dialed, profile, now)
            return "found"
        if now - began < SETTLE:
            return "unknown"
        _fail(call, "the provider has no record of this call: it was not placed", now)
        return "not_placed"
