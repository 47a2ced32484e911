"""Asking for one AI call to one driver: pre-dial checks, then the queued `Call` row.

Every caller (the endpoints, the CLI, campaigns, the escalation ladder) goes through
`prepare_call(session, CallRequest)`: checks → the call's alert and trip are the driver's →
`Call` row (queued, idempotency key) + audit row, flushed. Nothing here commits or talks to a
vendor: the caller commits, then `logic.calls.dialing` dials outside any transaction, and
webhooks that arrive before the dial is recorded are kept and matched afterwards
(`logic.calls.webhooks.match_unlinked_events`).

Checks are set-wise (`pre_dial_refusals` evaluates many drivers in a constant number of
queries) and each refusal has a stable reason code and an HTTP status (`REFUSAL_STATUS`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from config import Settings
from helpers.errors import AppError, Conflict, NotFound, Unprocessable
from helpers.phone import InvalidPhoneNumber, to_e164
from helpers.time_utils import is_valid_timezone, utc_now
from logic.auth import audit
from logic.auth.audit import ClientInfo
from logic.calls.prompts import call_variables, render_prompt
from logic.calls.safety import unsafe_drivers
from logic.fleet.driver_data import DriverData, driver_data, drivers_data
from models.alert import Alert
from models.call import Call, CallPurpose, CallStatus
from models.call_agent_profile import CallAgentProfile
from models.do_not_call import DoNotCall
from models.driver import Driver
from models.trip import Trip
from models.user import User

# Time from accepted dial to the call's expected end, beyond the agent's max duration: ringing,
# voicemail detection and the provider's post-call analysis.
RING_ALLOWANCE = timedelta(minutes=2)


class RefusalReason(StrEnum):
    INVALID_PHONE = "invalid_phone_number"
    DO_NOT_CALL = "do_not_call"
    OUTSIDE_CALLING_WINDOW = "outside_calling_window"
    ACTIVE_CALL = "call_in_progress"
    DAILY_LIMIT = "daily_call_limit"
    NO_AGENT_PROFILE = "no_agent_profile"
    DRIVING = "driver_driving"
    RESTING = "driver_resting"


class InvalidPhoneRefused(Unprocessable):
    code = RefusalReason.INVALID_PHONE.value


class DoNotCallRefused(Conflict):
    code = RefusalReason.DO_NOT_CALL.value


class OutsideWindowRefused(Conflict):
    code = RefusalReason.OUTSIDE_CALLING_WINDOW.value


class ActiveCallRefused(Conflict):
    code = RefusalReason.ACTIVE_CALL.value


class DailyLimitRefused(Conflict):
    code = RefusalReason.DAILY_LIMIT.value


class NoProfileRefused(Unprocessable):
    code = RefusalReason.NO_AGENT_PROFILE.value


class DrivingRefused(Conflict):
    code = RefusalReason.DRIVING.value


class RestingRefused(Conflict):
    code = RefusalReason.RESTING.value


REFUSAL_ERRORS: dict[RefusalReason, type[AppError]] = {
    RefusalReason.INVALID_PHONE: InvalidPhoneRefused,
    RefusalReason.DO_NOT_CALL: DoNotCallRefused,
    RefusalReason.OUTSIDE_CALLING_WINDOW: OutsideWindowRefused,
    RefusalReason.ACTIVE_CALL: ActiveCallRefused,
    RefusalReason.DAILY_LIMIT: DailyLimitRefused,
    RefusalReason.NO_AGENT_PROFILE: NoProfileRefused,
    RefusalReason.DRIVING: DrivingRefused,
    RefusalReason.RESTING: RestingRefused,
}
# Not safe to call now: a campaign or the ladder waits (`Refusal.retry_at`), a person may
# override (`CallRequest.safety_override`, needs `calls:admin`).
SAFETY_REASONS = (RefusalReason.DRIVING, RefusalReason.RESTING)
REFUSAL_STATUS: dict[RefusalReason, int] = {
    reason: error.status_code for reason, error in REFUSAL_ERRORS.items()
}


@dataclass(frozen=True)
class Refusal:
    reason: RefusalReason
    message: str
    retry_at: datetime | None = None  # when a deferred call may be tried again

    @property
    def status_code(self) -> int:
        return REFUSAL_STATUS[self.reason]

    def error(self) -> AppError:
        """The 409/422 error a router raises; its code is the reason."""
        return REFUSAL_ERRORS[self.reason](self.message)


class CallRefused(Exception):
    """Raised by `prepare_call` when a pre-dial check fails; `.refusal` names the reason."""

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal
        super().__init__(refusal.message)


@dataclass(frozen=True)
class CallingPolicy:
    window_start: time = time(8, 0)
    window_end: time = time(21, 0)
    default_timezone: str = "America/Chicago"
    max_per_day: int = 3
    # Safe to call (`logic/calls/safety.py`): faster than this is driving; hands-free calls to
    # a driving driver allowed or not; purposes that may wake a resting driver.
    moving_mph: float = 5.0
    hands_free_allowed: bool = False
    urgent_purposes: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> CallingPolicy:
        return cls(
            window_start=time.fromisoformat(settings.CALL_WINDOW_START),
            window_end=time.fromisoformat(settings.CALL_WINDOW_END),
            default_timezone=settings.CALL_DEFAULT_TIMEZONE,
            max_per_day=settings.CALL_MAX_PER_DRIVER_PER_DAY,
            moving_mph=settings.CALL_MOVING_MPH,
            hands_free_allowed=settings.CALL_HANDS_FREE_ALLOWED,
            urgent_purposes=frozenset(
                p.strip() for p in settings.CALL_URGENT_PURPOSES.split(",") if p.strip()
            ),
        )

    def timezone_for(self, driver: Driver) -> str:
        """The driver's home-terminal zone, else the configured default."""
        if driver.timezone and is_valid_timezone(driver.timezone):
            return driver.timezone
        return self.default_timezone


def in_calling_window(
    now: datetime, timezone: str, *, start: time = time(8, 0), end: time = time(21, 0)
) -> bool:
    """Is `now` inside [start, end) local time in `timezone`? A window may wrap midnight;
    `start == end` means calls are allowed around the clock."""
    local = now.astimezone(ZoneInfo(timezone)).time().replace(tzinfo=None)
    if start == end:
        return True
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_window_opening(
    now: datetime, timezone: str, *, start: time = time(8, 0), end: time = time(21, 0)
) -> datetime:
    """`now` if inside the window, else the next local `start` (aware, in `timezone`)."""
    zone = ZoneInfo(timezone)
    if in_calling_window(now, timezone, start=start, end=end):
        return now
    local = now.astimezone(zone)
    opening = datetime.combine(local.date(), start, tzinfo=zone)
    return (
        opening
        if opening > local
        else datetime.combine(local.date() + timedelta(days=1), start, tzinfo=zone)
    )


def _local_midnight(now: datetime, timezone: str) -> datetime:
    local = now.astimezone(ZoneInfo(timezone))
    return datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)


def dial_number(driver: Driver) -> str | None:
    """The driver's number in E.164 (US default region), or None when it is not dialable."""
    if not driver.phone:
        return None
    try:
        return to_e164(driver.phone)
    except InvalidPhoneNumber:
        return None


def pre_dial_refusals(
    session: Session, drivers: Sequence[Driver], *, now: datetime, policy: CallingPolicy
) -> dict[int, Refusal | None]:
    """The first failing check per driver (None = may be dialed), in eight queries at most.

    Checks in order: a valid E.164 number, not on do-not-call (driver flag, driver entry or
    number entry in force), inside the local calling window, no other active call, under the
    per-day maximum of dialed calls (the driver's local calendar day), safe to call (not
    driving, not resting: `logic/calls/safety.py`).
    """
    result: dict[int, Refusal | None] = {}
    numbers = {d.id: dial_number(d) for d in drivers if d.id is not None}
    ids = list(numbers)
    entries = DoNotCall.blocking(
        session, driver_ids=ids, numbers=[n for n in numbers.values() if n], now=now
    )
    blocked_drivers = {e.driver_id: e for e in entries if e.driver_id is not None}
    blocked_numbers = {e.phone_number: e for e in entries if e.phone_number}
    active = Call.active_driver_ids(session, ids)
    zones = {d.id: policy.timezone_for(d) for d in drivers if d.id is not None}
    midnights = {driver_id: _local_midnight(now, zone) for driver_id, zone in zones.items()}
    dialed: dict[int, int] = defaultdict(int)
    if midnights:
        for driver_id, created in Call.dialed_since(session, ids, min(midnights.values())):
            if created >= midnights[driver_id]:
                dialed[driver_id] += 1
    unsafe = unsafe_drivers(
        session,
        ids,
        now=now,
        moving_mph=policy.moving_mph,
        hands_free=policy.hands_free_allowed,
    )
    for driver in drivers:
        if driver.id is None:
            continue
        number = numbers[driver.id]
        zone = zones[driver.id]
        entry = blocked_drivers.get(driver.id) or (blocked_numbers.get(number) if number else None)
        refusal: Refusal | None = None
        if number is None:
            refusal = Refusal(
                RefusalReason.INVALID_PHONE,
                f"driver {driver.id} has no valid phone number"
                + (f" ({driver.phone!r} is not a dialable E.164 number)" if driver.phone else ""),
            )
        elif driver.do_not_call or entry is not None:
            why = entry.reason if entry is not None else "the driver's do-not-call flag is set"
            refusal = Refusal(
                RefusalReason.DO_NOT_CALL, f"driver {driver.id} is on do-not-call: {why}"
            )
        elif not in_calling_window(now, zone, start=policy.window_start, end=policy.window_end):
            local = now.astimezone(ZoneInfo(zone)).strftime("%H:%M")
            refusal = Refusal(
                RefusalReason.OUTSIDE_CALLING_WINDOW,
                f"it is {local} for driver {driver.id} ({zone}); calls are allowed "
                f"{policy.window_start:%H:%M}-{policy.window_end:%H:%M} local time",
            )
        elif driver.id in active:
            refusal = Refusal(
                RefusalReason.ACTIVE_CALL, f"driver {driver.id} already has a call in progress"
            )
        elif dialed[driver.id] >= policy.max_per_day:
            refusal = Refusal(
                RefusalReason.DAILY_LIMIT,
                f"driver {driver.id} has had {dialed[driver.id]} calls today "
                f"(maximum {policy.max_per_day} per day)",
            )
        elif (danger := unsafe.get(driver.id)) is not None:
            refusal = Refusal(RefusalReason(danger.reason), danger.message, danger.retry_at)
        result[driver.id] = refusal
    return result


def pre_dial_refusal(
    session: Session, driver: Driver, *, now: datetime, policy: CallingPolicy
) -> Refusal | None:
    """`pre_dial_refusals` for one driver."""
    return pre_dial_refusals(session, [driver], now=now, policy=policy).get(driver.id)


def resolve_profile(
    session: Session,
    *,
    purpose: str,
    provider: str | None = None,
    profile: CallAgentProfile | None = None,
    language: str = "en",
) -> CallAgentProfile:
    """The given profile, else the enabled one for provider + purpose speaking the driver's
    `language` (else English); refuses if none."""
    if profile is not None:
        if not profile.enabled:
            raise CallRefused(
                Refusal(RefusalReason.NO_AGENT_PROFILE, f"agent profile {profile.id} is disabled")
            )
        return profile
    if provider is None:
        raise CallRefused(
            Refusal(RefusalReason.NO_AGENT_PROFILE, "give an agent profile or a provider")
        )
    found = CallAgentProfile.pick(session, provider, purpose, language)
    if found is None:
        raise CallRefused(
            Refusal(
                RefusalReason.NO_AGENT_PROFILE,
                f"no enabled {provider} agent profile for purpose {purpose} "
                "(create one at /call-agent-profiles)",
            )
        )
    return found


@dataclass(frozen=True)
class CallRequest:
    """One call someone asks for: who, why, through which agent, about what, on whose behalf.

    `prepare_call` turns it into a queued `Call` row; `logic.calls.dialing.dial` places it
    after the caller's commit.
    """

    driver_id: int
    purpose: CallPurpose | str = CallPurpose.LATE_LOAD_CHECK
    provider: str | None = None  # a registered voice provider's name
    agent_profile_id: int | None = None
    trip_id: int | None = None
    alert_id: int | None = None
    campaign_target_id: int | None = None
    placed_by: User | None = None
    placed_by_label: str | None = None
    idempotency_key: str | None = None
    client: ClientInfo | None = None
    # A supervisor's explicit choice to call a driving or resting driver (needs `calls:admin`).
    safety_override: bool = False


class SubjectMismatch(Unprocessable):
    """The alert or trip given with a call belongs to another driver (a 422 whose error entry,
    of type `call_subject_mismatch`, names the field and both drivers)."""

    code = "call_subject_mismatch"


def subject_mismatch(
    session: Session, driver_id: int, *, alert: Alert | None, trip: Trip | None
) -> SubjectMismatch | None:
    """The refusal when the call's alert or trip is not the called driver's, else None.

    A call's outcome is written back onto its trip and into its alert's Slack thread, so
    another driver's alert or trip would carry this driver's answers.
    """
    if alert is not None:
        owner = alert.driver_id
        if owner is None and alert.trip_id is not None:
            owner = session.scalar(select(Trip.driver_id).where(Trip.id == alert.trip_id))
        if owner is not None and owner != driver_id:
            return SubjectMismatch(
                f"alert {alert.id} belongs to driver {owner}, not to driver {driver_id}",
                loc=("body", "alert_id"),
                input=alert.id,
            )
    if trip is not None and trip.driver_id != driver_id:
        return SubjectMismatch(
            f"trip {trip.id} belongs to driver {trip.driver_id}, not to driver {driver_id}",
            loc=("body", "trip_id"),
            input=trip.id,
        )
    return None


@dataclass(frozen=True)
class ContactSubject:
    """Who is contacted and about what: the driver, and the alert and trip given (if any)."""

    driver: Driver
    alert: Alert | None
    trip: Trip | None


def contact_subject(
    session: Session, driver_id: int, alert_id: int | None, trip_id: int | None
) -> ContactSubject:
    """The driver, alert and trip a call or message names: 404 for one that does not exist,
    `SubjectMismatch` when the alert or trip is another driver's."""
    driver = session.get(Driver, driver_id)
    if driver is None:
        raise NotFound(f"driver {driver_id} not found")
    alert = session.get(Alert, alert_id) if alert_id else None
    trip = session.get(Trip, trip_id) if trip_id else None
    if alert_id and alert is None:
        raise NotFound(f"alert {alert_id} not found")
    if trip_id and trip is None:
        raise NotFound(f"trip {trip_id} not found")
    if mismatch := subject_mismatch(session, driver.id, alert=alert, trip=trip):
        raise mismatch
    return ContactSubject(driver, alert, trip)


def _refuse(session: Session, request: CallRequest, refusal: Refusal) -> CallRefused:
    audit.record(
        session,
        "call.refused",
        actor=request.placed_by,
        actor_label=request.placed_by_label,
        resource_type="driver",
        resource_id=request.driver_id,
        details={"purpose": str(request.purpose), "reason": refusal.reason.value},
        client=request.client,
    )
    return CallRefused(refusal)


def _safety_exception(
    refusal: Refusal,
    request: CallRequest,
    purpose: CallPurpose,
    profile: CallAgentProfile,
    policy: CallingPolicy,
) -> Refusal | None:
    """None when the call may go ahead anyway: a supervisor's override, an urgent purpose
    waking a resting driver, or an agent profile that allows hands-free calls to a driver."""
    if request.safety_override:
        return None
    if refusal.reason == RefusalReason.RESTING and purpose.value in policy.urgent_purposes:
        return None
    if refusal.reason == RefusalReason.DRIVING and profile.hands_free_allowed:
        return None
    return refusal


def prepare_call(
    session: Session,
    request: CallRequest,
    *,
    policy: CallingPolicy | None = None,
    now: datetime | None = None,
    refusal: Refusal | Literal[False] | None = False,
    data: DriverData | None = None,
) -> Call:
    """Check and record one call as `queued` (with its audit row); nothing is dialed here.

    The caller commits, then dials (`logic.calls.dialing.dial`): a call is a committed row
    before it is a phone call. Raises `CallRefused` when a check fails (nothing is written but
    the audit row) and `SubjectMismatch` when the alert or trip is another driver's. A repeated
    `idempotency_key` returns the call already recorded under it. Callers that evaluated
    `pre_dial_refusals` for a batch pass that driver's `refusal` (None = may be dialed), and
    callers that read `drivers_data` for it pass the driver's prompt `data`.
    """
    now = now or utc_now()
    policy = policy or CallingPolicy()
    purpose = CallPurpose(request.purpose)
    key = request.idempotency_key
    if key and (existing := Call.by_idempotency_key(session, key)):
        return existing
    subject = contact_subject(session, request.driver_id, request.alert_id, request.trip_id)
    driver, alert, trip = subject.driver, subject.alert, subject.trip
    profile = (
        session.get(CallAgentProfile, request.agent_profile_id)
        if request.agent_profile_id
        else None
    )
    if request.agent_profile_id and profile is None:
        raise NotFound(f"agent profile {request.agent_profile_id} not found")
    try:
        chosen = resolve_profile(
            session,
            purpose=purpose,
            provider=str(request.provider) if request.provider else None,
            profile=profile,
            language=driver.language,
        )
    except CallRefused as refused:
        raise _refuse(session, request, refused.refusal) from None
    if refusal is False:
        refusal = pre_dial_refusal(session, driver, now=now, policy=policy)
    if refusal is not None and refusal.reason in SAFETY_REASONS:
        refusal = _safety_exception(refusal, request, purpose, chosen, policy)
    if refusal is not None:
        raise _refuse(session, request, refusal)
    if alert is not None and trip is None and alert.trip_id is not None:
        trip = session.get(Trip, alert.trip_id)
    if data is None:
        data = driver_data(session, driver.id, now=now)
    elif data.driver.id != driver.id:
        raise ValueError(f"prompt data of driver {data.driver.id} given for driver {driver.id}")
    if trip is None and data.current_trip is not None:
        trip = session.get(Trip, data.current_trip.id)
    call = Call(
        provider=chosen.provider,
        driver_id=driver.id,
        trip_id=trip.id if trip else None,
        alert_id=alert.id if alert else None,
        campaign_target_id=request.campaign_target_id,
        purpose=purpose.value,
        agent_profile_id=chosen.id,
        prompt_version=chosen.prompt_version,
        to_number=dial_number(driver) or "",
        status=CallStatus.QUEUED,
        placed_by_id=request.placed_by.id if request.placed_by else None,
        idempotency_key=key,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(call)
            session.flush()
    except IntegrityError:
        # A concurrent request with the same idempotency key won the insert.
        if key and (existing := Call.by_idempotency_key(session, key)):
            return existing
        raise
    timezone = policy.timezone_for(driver)
    call.variables = {**call_variables(data, timezone=timezone), "hub_call_id": call.id}
    session.add(call)
    session.flush()
    audit.record(
        session,
        "call.place",
        actor=request.placed_by,
        actor_label=request.placed_by_label,
        resource_type="call",
        resource_id=call.id,
        details={
            "driver_id": driver.id,
            "provider": call.provider,
            "purpose": call.purpose,
            "status": call.status,
            "alert_id": call.alert_id,
            "trip_id": call.trip_id,
            "campaign_target_id": request.campaign_target_id,
            **({"safety_override": True} if request.safety_override else {}),
        },
        client=request.client,
    )
    return call


@dataclass(frozen=True)
class DriverCallOutcome:
    """One driver's line in a batch answer: placed, skipped (a check said no) or failed."""

    driver_id: int
    result: str  # "placed" | "skipped" | "failed"
    reason: str | None = None
    detail: str | None = None
    call_id: int | None = None


def prepare_calls(
    session: Session,
    request: CallRequest,
    driver_ids: Sequence[int],
    *,
    policy: CallingPolicy | None = None,
    now: datetime | None = None,
) -> list[DriverCallOutcome]:
    """`request` for each listed driver (duplicates ignored; its `driver_id` is ignored),
    checks evaluated for all at once; every call is queued for dialing after the commit.

    An alert or trip given for several drivers can belong to at most one of them: the whole
    batch is refused with `SubjectMismatch` naming the others.
    """
    now = now or utc_now()
    policy = policy or CallingPolicy()
    ordered = list(dict.fromkeys(driver_ids))
    drivers = {d.id: d for d in session.scalars(select(Driver).where(Driver.id.in_(ordered)))}
    alert = session.get(Alert, request.alert_id) if request.alert_id else None
    trip = session.get(Trip, request.trip_id) if request.trip_id else None
    mismatches = [
        why
        for driver_id in ordered
        if driver_id in drivers
        and (why := subject_mismatch(session, driver_id, alert=alert, trip=trip))
    ]
    if mismatches:
        first = mismatches[0]
        raise SubjectMismatch(
            "; ".join(str(m.detail) for m in mismatches), loc=first.loc, input=first.input
        )
    refusals = pre_dial_refusals(session, list(drivers.values()), now=now, policy=policy)
    data = drivers_data(session, list(drivers.values()), now=now)
    outcomes: list[DriverCallOutcome] = []
    for driver_id in ordered:
        if driver_id not in drivers:
            outcomes.append(
                DriverCallOutcome(
                    driver_id, "skipped", "driver_not_found", f"driver {driver_id} not found"
                )
            )
            continue
        key = request.idempotency_key
        one = replace(
            request, driver_id=driver_id, idempotency_key=f"{key}:{driver_id}" if key else None
        )
        try:
            call = prepare_call(
                session,
                one,
                policy=policy,
                now=now,
                refusal=refusals.get(driver_id),
                data=data[driver_id],
            )
        except CallRefused as refused:
            outcomes.append(
                DriverCallOutcome(
                    driver_id, "skipped", refused.refusal.reason.value, refused.refusal.message
                )
            )
            continue
        if call.status == CallStatus.FAILED:
            outcomes.append(
                DriverCallOutcome(driver_id, "failed", "provider_error", call.error, call.id)
            )
        else:
            outcomes.append(DriverCallOutcome(driver_id, "placed", call_id=call.id))
    return outcomes


def preview_call(
    session: Session,
    request: CallRequest,
    *,
    policy: CallingPolicy | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The prompt and variables `request` would carry (in the driver's language), and the check
    that would refuse it; nothing is written."""
    now = now or utc_now()
    policy = policy or CallingPolicy()
    purpose = CallPurpose(request.purpose)
    driver = session.get(Driver, request.driver_id)
    if driver is None:
        raise NotFound(f"driver {request.driver_id} not found")
    profile = None
    if request.agent_profile_id is not None:
        profile = session.get(CallAgentProfile, request.agent_profile_id)
        if profile is None:
            raise NotFound(f"agent profile {request.agent_profile_id} not found")
    chosen: CallAgentProfile | None = None
    refusal = pre_dial_refusal(session, driver, now=now, policy=policy)
    try:
        chosen = resolve_profile(
            session,
            purpose=purpose,
            provider=str(request.provider) if request.provider else None,
            profile=profile,
            language=driver.language,
        )
    except CallRefused as refused:
        refusal = refusal or refused.refusal
    data = driver_data(session, driver.id, now=now)
    variables = {**call_variables(data, timezone=policy.timezone_for(driver)), "hub_call_id": 0}
    # The agent speaks its profile's language (an English profile serves when none speaks
    # the driver's); with no profile, the driver's.
    rendered = render_prompt(
        purpose,
        variables,
        first_message=chosen.first_message if chosen else None,
        language=chosen.language if chosen else driver.language,
    )
    return {
        "driver_id": driver.id,
        "purpose": purpose,
        "provider": chosen.provider if chosen else request.provider,
        "agent_profile_id": chosen.id if chosen else None,
        "prompt_version": rendered.version,
        "first_message": rendered.first_message,
        "system_prompt": rendered.system_prompt,
        "variables": variables,
        "refusal": refusal.reason.value if refusal else None,
        "refusal_detail": refusal.message if refusal else None,
    }
