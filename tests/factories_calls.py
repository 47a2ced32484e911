"""Builders for call rows: agent profiles, calls, do-not-call entries, and sandbox providers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from config import Settings
from helpers.time_utils import utc_now
from logic.calls.dialing import Dialer, dial
from logic.calls.placement import CallingPolicy, CallRequest, prepare_call
from logic.calls.voice.registry import CallProviders
from models.call import Call, CallProvider, CallPurpose, CallStatus
from models.call_agent_profile import CallAgentProfile
from models.do_not_call import DoNotCall
from tests.factories import EXAMPLE_PHONE, _flushed, _n


def make_agent_profile(
    session: Session,
    *,
    provider: CallProvider | str = CallProvider.VAPI,
    purpose: CallPurpose | str = CallPurpose.LATE_LOAD_CHECK,
    enabled: bool = True,
    max_duration_seconds: int = 300,
    **extra: Any,
) -> CallAgentProfile:
    n = _n()
    extra.setdefault("assistant_id", f"asst-{n}")
    extra.setdefault("phone_number_id", f"phone-{n}")
    return _flushed(
        session,
        CallAgentProfile(
            name=f"{provider} {purpose} {n}",
            provider=str(provider),
            purpose=str(purpose),
            enabled=enabled,
            max_duration_seconds=max_duration_seconds,
            **extra,
        ),
    )


def make_call(
    session: Session,
    *,
    driver_id: int | None,
    provider: CallProvider | str = CallProvider.VAPI,
    status: CallStatus | str = CallStatus.DIALING,
    purpose: CallPurpose | str = CallPurpose.LATE_LOAD_CHECK,
    provider_call_id: str | None = None,
    created_at: datetime | None = None,
    dialed: bool = True,
    **extra: Any,
) -> Call:
    at = created_at or utc_now()
    return _flushed(
        session,
        Call(
            provider=str(provider),
            provider_call_id=provider_call_id or f"prov-{_n()}",
            driver_id=driver_id,
            purpose=str(purpose),
            to_number=EXAMPLE_PHONE,
            status=str(status),
            dialed_at=at if dialed else None,
            created_at=at,
            updated_at=at,
            **extra,
        ),
    )


def make_do_not_call(session: Session, **fields: Any) -> DoNotCall:
    return _flushed(
        session, DoNotCall(reason=fields.pop("reason", "asked not to be called"), **fields)
    )


def sandbox_providers(sandbox) -> CallProviders:
    return CallProviders.from_settings(Settings(**sandbox.settings_env()), retry_wait=0)


def place_now(
    session: Session,
    providers: CallProviders,
    request: CallRequest,
    *,
    now: datetime,
    policy: CallingPolicy | None = None,
) -> Call:
    """Request a call and dial it at once, as a request and its after-commit step do."""
    call = prepare_call(session, request, policy=policy, now=now)
    session.flush()
    dial(call.id, Dialer(providers), now=now)
    session.refresh(call)
    return call
