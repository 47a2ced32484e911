"""Placing one AI call to one driver: pre-dial checks, the `Call` row, then the provider.

Every caller (the endpoints, the CLI, campaigns, the escalation ladder) goes through
`place_call`. Order of work: checks → `Call` row (queued, idempotency key) flushed → provider
create with the client's retries (3 attempts, backoff, transient failures only) → `dialing`, or
`failed` with the provider's own message. Nothing here commits: the caller's transaction does,
and webhooks that arrive before that commit are kept and matched afterwards
(`logic.calls.webhooks.match_unlinked_events`).

Checks are set-wise (`pre_dial_refusals` evaluates many drivers in a constant number of
queries) and each refusal has a stable reason code and an HTTP status (`REFUSAL_STATUS`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from config import Settings
from helpers.errors import AppError, Conflict, Unprocessable, UpstreamNotConfigured
from helpers.phone import InvalidPhoneNumber, to_e164
from helpers.time_utils import is_valid_timezone, utc_now
from logic.auth import audit
from logic.auth.audit import ClientInfo
from logic.calls.prompts import call_variables, render_prompt
from logic.fleet.driver_data import driver_data
from models.alert import Alert
from models.call import Call, CallOutcome, CallProvider, CallPurpose, CallStatus
from models.call_agent_profile import CallAgentProfile
from models.do_not_call import DoNotCall
from models.driver import Driver
from models.trip import Trip
from models.user import User
from utils.elevenlabs_client import ElevenLabsClient, build_elevenlabs_client
from utils.http import VendorError
from utils.vapi_client import VapiClient, build_vapi_client

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


REFUSAL_ERRORS: dict[RefusalReason, type[AppError]] = {
    RefusalReason.INVALID_PHONE: InvalidPhoneRefused,
    RefusalReason.DO_NOT_CALL: DoNotCallRefused,
    RefusalReason.OUTSIDE_CALLING_WINDOW: OutsideWindowRefused,
    RefusalReason.ACTIVE_CALL: ActiveCallRefused,
    RefusalReason.DAILY_LIMIT: DailyLimitRefused,
    RefusalReason.NO_AGENT_PROFILE: NoProfileRefused,
}
REFUSAL_STATUS: dict[RefusalReason, int] = {
    reason: error.status_code for reason, error in REFUSAL_ERRORS.items()
}


@dataclass(frozen=True)
class Refusal:
    reason: RefusalReason
    message: str

    @property
    def status_code(self) -> int:
        return REFUSAL_STATUS[self.reason]

    def error(self) -> AppError:
        """The 409/422 error a router raises; its code is the reason."""
        return REFUSAL_ERRORS[self.reason](self.message)


class CallRefused(Exception):
    """Raised by `place_call` when a pre-dial check fails; `.refusal` names the reason."""

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal
        super().__init__(refusal.message)


@dataclass(frozen=True)
class CallingPolicy:
    window_start: time = time(8, 0)
    window_end: time = time(21, 0)
    default_timezone: str = "America/Chicago"
    max_per_day: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> CallingPolicy:
        return cls(
            window_start=time.fromisoformat(settings.CALL_WINDOW_START),
            window_end=time.fromisoformat(settings.CALL_WINDOW_END),
            default_timezone=settings.CALL_DEFAULT_TIMEZONE,
            max_per_day=settings.CALL_MAX_PER_DRIVER_PER_DAY,
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
    """The first failing check per driver (None = may be dialed), in five queries at most.

    Checks in order: a valid E.164 number, not on do-not-call (driver flag, driver entry or
    number entry in force), inside the local calling window, no other active call, under the
    per-day maximum of dialed calls (the driver's local calendar day).
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
        result[driver.id] = refusal
    return result


def pre_dial_refusal(
    session: Session, driver: Driver, *, now: datetime, policy: CallingPolicy
) -> Refusal | None:
    """`pre_dial_refusals` for one driver."""
    return pre_dial_refusals(session, [driver], now=now, policy=policy).get(driver.id)


@dataclass
class CallProviders:
    """The provider clients, built on first use (a VAPI call never needs ElevenLabs' key)."""

    vapi_factory: Callable[[], VapiClient]
    elevenlabs_factory: Callable[[], ElevenLabsClient]
    _built: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, *, retry_wait: float = 0.5) -> CallProviders:
        return cls(
            vapi_factory=lambda: build_vapi_client(settings, retry_wait=retry_wait),
            elevenlabs_factory=lambda: build_elevenlabs_client(settings, retry_wait=retry_wait),
        )

    def vapi(self) -> VapiClient:
        if "vapi" not in self._built:
            self._built["vapi"] = self.vapi_factory()
        return self._built["vapi"]

    def elevenlabs(self) -> ElevenLabsClient:
        if "elevenlabs" not in self._built:
            self._built["elevenlabs"] = self.elevenlabs_factory()
        return self._built["elevenlabs"]

    def close(self) -> None:
        for client in self._built.values():
            client.close()
        self._built.clear()


def resolve_profile(
    session: Session,
    *,
    purpose: str,
    provider: str | None = None,
    profile: CallAgentProfile | None = None,
) -> CallAgentProfile:
    """The given profile, else the enabled one for provider + purpose; refuses if none."""
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
    found = CallAgentProfile.pick(session, provider, purpose)
    if found is None:
        raise CallRefused(
            Refusal(
                RefusalReason.NO_AGENT_PROFILE,
                f"no enabled {provider} agent profile for purpose {purpose} "
                "(create one at /call-agent-profiles)",
            )
        )
    return found


def place_call(
    session: Session,
    *,
    driver: Driver,
    purpose: CallPurpose | str,
    providers: CallProviders,
    provider: CallProvider | str | None = None,
    profile: CallAgentProfile | None = None,
    trip: Trip | None = None,
    alert: Alert | None = None,
    campaign_target_id: int | None = None,
    placed_by: User | None = None,
    placed_by_label: str | None = None,
    idempotency_key: str | None = None,
    policy: CallingPolicy | None = None,
    webhook_base_url: str = "",
    client: ClientInfo | None = None,
    refusal: Refusal | None = None,
    checked: bool = False,
    now: datetime | None = None,
) -> Call:
    """Check, record and dial one call; returns the `Call` (dialing, or failed with the reason).

    Raises `CallRefused` when a check fails (nothing is written but the audit row). A repeated
    `idempotency_key` returns the call already placed under it, without dialing again. Callers
    that evaluated `pre_dial_refusals` for a batch pass `checked=True` (and `refusal` if any).
    """
    now = now or utc_now()
    policy = policy or CallingPolicy()
    purpose = CallPurpose(purpose)
    if idempotency_key and (existing := Call.by_idempotency_key(session, idempotency_key)):
        return existing
    try:
        chosen = resolve_profile(
            session,
            purpose=purpose,
            provider=CallProvider(provider) if provider else None,
            profile=profile,
        )
        if not checked:
            refusal = pre_dial_refusal(session, driver, now=now, policy=policy)
        if refusal is not None:
            raise CallRefused(refusal)
    except CallRefused as refused:
        audit.record(
            session,
            "call.refused",
            actor=placed_by,
            actor_label=placed_by_label,
            resource_type="driver",
            resource_id=driver.id,
            details={"purpose": purpose.value, "reason": refused.refusal.reason.value},
            client=client,
        )
        raise
    if alert is not None and trip is None and alert.trip_id is not None:
        trip = session.get(Trip, alert.trip_id)
    timezone = policy.timezone_for(driver)
    data = driver_data(session, driver.id, now=now)
    if trip is None and data.current_trip is not None:
        trip = session.get(Trip, data.current_trip.id)
    call = Call(
        provider=chosen.provider,
        driver_id=driver.id,
        trip_id=trip.id if trip else None,
        alert_id=alert.id if alert else None,
        campaign_target_id=campaign_target_id,
        purpose=purpose.value,
        agent_profile_id=chosen.id,
        prompt_version=chosen.prompt_version,
        to_number=dial_number(driver) or "",
        status=CallStatus.QUEUED,
        placed_by_id=placed_by.id if placed_by else None,
        idempotency_key=idempotency_key,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(call)
            session.flush()
    except IntegrityError:
        # A concurrent request with the same idempotency key won the insert.
        if idempotency_key and (existing := Call.by_idempotency_key(session, idempotency_key)):
            return existing
        raise
    call.variables = {**call_variables(data, timezone=timezone), "hub_call_id": call.id}
    _dial(call, chosen, driver, providers, now=now, webhook_base_url=webhook_base_url)
    session.add(call)
    session.flush()
    audit.record(
        session,
        "call.place",
        actor=placed_by,
        actor_label=placed_by_label,
        resource_type="call",
        resource_id=call.id,
        details={
            "driver_id": driver.id,
            "provider": call.provider,
            "purpose": call.purpose,
            "status": call.status,
            "alert_id": call.alert_id,
            "campaign_target_id": campaign_target_id,
            **({"error": call.error} if call.error else {}),
        },
        client=client,
    )
    return call


def _dial(
    call: Call,
    profile: CallAgentProfile,
    driver: Driver,
    providers: CallProviders,
    *,
    now: datetime,
    webhook_base_url: str,
) -> None:
    """Ask the provider to dial; on refusal or exhausted retries the call is failed."""
    metadata = {"hub_call_id": call.id, "driver_id": driver.id, "alert_id": call.alert_id}
    try:
        if call.provider == CallProvider.VAPI:
            created = providers.vapi().create_call(
                assistant_id=profile.assistant_id,
                phone_number_id=profile.phone_number_id,
                customer_number=call.to_number,
                variable_values=call.variables,
                metadata=metadata,
                customer_name=driver.full_name or None,
                customer_external_id=f"driver-{driver.id}",
                name=f"{call.purpose} #{call.id}",
                server_url=(
                    f"{webhook_base_url.rstrip('/')}/webhooks/vapi" if webhook_base_url else None
                ),
            )
            call.provider_call_id = created.id
            call.twilio_call_sid = created.raw.get("phoneCallProviderId")
        else:
            started = providers.elevenlabs().outbound_call(
                agent_id=profile.assistant_id,
                agent_phone_number_id=profile.phone_number_id,
                to_number=call.to_number,
                dynamic_variables=call.variables,
                user_id=f"driver-{driver.id}",
            )
            call.provider_call_id = started.conversation_id
            call.twilio_call_sid = started.call_sid
    except (VendorError, UpstreamNotConfigured) as exc:
        call.status = CallStatus.FAILED
        call.outcome = CallOutcome.FAILED
        call.error = str(exc)[:1000]
        call.ended_at = now
        call.report_received_at = now  # nothing will come: never reconciled
        return
    call.status = CallStatus.DIALING
    call.dialed_at = now
    call.expected_end_at = now + timedelta(seconds=profile.max_duration_seconds) + RING_ALLOWANCE


@dataclass(frozen=True)
class DriverCallOutcome:
    """One driver's line in a batch answer: placed, skipped (a check said no) or failed."""

    driver_id: int
    result: str  # "placed" | "skipped" | "failed"
    reason: str | None = None
    detail: str | None = None
    call_id: int | None = None


def place_calls(
    session: Session,
    *,
    driver_ids: Sequence[int],
    purpose: CallPurpose | str,
    providers: CallProviders,
    provider: CallProvider | str | None = None,
    profile: CallAgentProfile | None = None,
    alert: Alert | None = None,
    placed_by: User | None = None,
    placed_by_label: str | None = None,
    idempotency_key: str | None = None,
    policy: CallingPolicy | None = None,
    webhook_base_url: str = "",
    client: ClientInfo | None = None,
    now: datetime | None = None,
) -> list[DriverCallOutcome]:
    """One call per listed driver (duplicates ignored), checks evaluated for all at once."""
    now = now or utc_now()
    policy = policy or CallingPolicy()
    ordered = list(dict.fromkeys(driver_ids))
    drivers = {d.id: d for d in session.scalars(select(Driver).where(Driver.id.in_(ordered)))}
    refusals = pre_dial_refusals(session, list(drivers.values()), now=now, policy=policy)
    outcomes: list[DriverCallOutcome] = []
    for driver_id in ordered:
        driver = drivers.get(driver_id)
        if driver is None:
            outcomes.append(
                DriverCallOutcome(
                    driver_id, "skipped", "driver_not_found", f"driver {driver_id} not found"
                )
            )
            continue
        try:
            call = place_call(
                session,
                driver=driver,
                purpose=purpose,
                providers=providers,
                provider=provider,
                profile=profile,
                alert=alert,
                placed_by=placed_by,
                placed_by_label=placed_by_label,
                idempotency_key=f"{idempotency_key}:{driver_id}" if idempotency_key else None,
                policy=policy,
                webhook_base_url=webhook_base_url,
                client=client,
                refusal=refusals.get(driver_id),
                checked=True,
                now=now,
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
    *,
    driver: Driver,
    purpose: CallPurpose | str,
    provider: CallProvider | str | None = None,
    profile: CallAgentProfile | None = None,
    policy: CallingPolicy | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The prompt and variables a call would carry, and the check that would refuse it."""
    now = now or utc_now()
    policy = policy or CallingPolicy()
    purpose = CallPurpose(purpose)
    chosen: CallAgentProfile | None = None
    refusal = pre_dial_refusal(session, driver, now=now, policy=policy)
    try:
        chosen = resolve_profile(
            session,
            purpose=purpose,
            provider=CallProvider(provider) if provider else None,
            profile=profile,
        )
    except CallRefused as refused:
        refusal = refusal or refused.refusal
    data = driver_data(session, driver.id, now=now)
    variables = {**call_variables(data, timezone=policy.timezone_for(driver)), "hub_call_id": 0}
    rendered = render_prompt(
        purpose, variables, first_message=chosen.first_message if chosen else None
    )
    return {
        "driver_id": driver.id,
        "purpose": purpose,
        "provider": chosen.provider if chosen else provider,
        "agent_profile_id": chosen.id if chosen else None,
        "prompt_version": rendered.version,
        "first_message": rendered.first_message,
        "system_prompt": rendered.system_prompt,
        "variables": variables,
        "refusal": refusal.reason.value if refusal else None,
        "refusal_detail": refusal.message if refusal else None,
    }
