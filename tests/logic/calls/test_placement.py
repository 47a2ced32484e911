"""Placement against the sandbox: every pre-dial check with its reason, the row-then-dial order,
idempotency, provider refusals and retries, and the calling-window helper."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from logic.calls.placement import (
    CallingPolicy,
    CallRefused,
    CallRequest,
    RefusalReason,
    in_calling_window,
    next_window_opening,
    pre_dial_refusals,
)
from models.audit_log import AuditLog
from models.call import CallOutcome, CallProvider, CallPurpose, CallStatus
from tests.factories import make_driver, make_stop, make_trip
from tests.factories_calls import (
    make_agent_profile,
    make_call,
    make_do_not_call,
    place_now,
    sandbox_providers,
)

# 15:00 UTC = 09:00 in Chicago (CST, December): inside the default window.
NOON = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
POLICY = CallingPolicy()


@pytest.fixture
def providers(sandbox_clean):
    built = sandbox_providers(sandbox_clean)
    yield built
    built.close()


@pytest.mark.parametrize(
    ("local", "zone", "inside"),
    [
        ("07:59", "America/Chicago", False),
        ("08:00", "America/Chicago", True),
        ("20:59", "America/New_York", True),
        ("21:00", "America/Los_Angeles", False),
        ("23:30", "America/Denver", False),
    ],
)
def test_calling_window_is_local_time(local, zone, inside):
    from zoneinfo import ZoneInfo

    hour, minute = map(int, local.split(":"))
    moment = datetime(2026, 7, 1, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    assert in_calling_window(moment, zone) is inside


def test_calling_window_can_wrap_midnight_and_names_the_next_opening():
    late = datetime(2026, 7, 1, 23, 0, tzinfo=UTC)
    assert in_calling_window(late, "UTC", start=time(22), end=time(6))
    assert not in_calling_window(late, "UTC")
    opening = next_window_opening(late, "UTC")
    assert opening == datetime(2026, 7, 2, 8, 0, tzinfo=UTC)
    assert next_window_opening(NOON, "America/Chicago") == NOON


def test_each_check_refuses_with_its_reason(session):
    ok = make_driver(session)
    bad_number = make_driver(session, phone="555-555-5555")
    no_number = make_driver(session, phone=None)
    flagged = make_driver(session, do_not_call=True)
    listed = make_driver(session)
    make_do_not_call(session, driver_id=listed.id, reason="asked on 12/01")
    by_number = make_driver(session, phone="+12015550124")
    make_do_not_call(session, phone_number="+12015550124")
    expired = make_driver(session, phone="+12015550125")
    make_do_not_call(session, driver_id=expired.id, until=NOON - timedelta(hours=1))
    asleep = make_driver(session, timezone="Asia/Tokyo")
    busy = make_driver(session)
    make_call(session, driver_id=busy.id, status=CallStatus.RINGING)
    tired = make_driver(session)
    for _ in range(3):
        make_call(session, driver_id=tired.id, status=CallStatus.ENDED, created_at=NOON)
    drivers = [ok, bad_number, no_number, flagged, listed, by_number, expired, asleep, busy, tired]

    refusals = pre_dial_refusals(session, drivers, now=NOON, policy=POLICY)

    reasons = {d: (r.reason if r else None) for d, r in refusals.items()}
    assert reasons == {
        ok.id: None,
        bad_number.id: RefusalReason.INVALID_PHONE,
        no_number.id: RefusalReason.INVALID_PHONE,
        flagged.id: RefusalReason.DO_NOT_CALL,
        listed.id: RefusalReason.DO_NOT_CALL,
        by_number.id: RefusalReason.DO_NOT_CALL,
        expired.id: None,
        asleep.id: RefusalReason.OUTSIDE_CALLING_WINDOW,
        busy.id: RefusalReason.ACTIVE_CALL,
        tired.id: RefusalReason.DAILY_LIMIT,
    }
    assert "asked on 12/01" in refusals[listed.id].message
    assert "Asia/Tokyo" in refusals[asleep.id].message
    assert "maximum 3 per day" in refusals[tired.id].message
    assert refusals[bad_number.id].status_code == 422
    assert refusals[busy.id].status_code == 409


def test_daily_limit_counts_the_local_day_and_only_dialed_calls(session):
    driver = make_driver(session, timezone="America/Chicago")
    # 05:30 UTC is 23:30 the previous day in Chicago: yesterday's call.
    make_call(
        session,
        driver_id=driver.id,
        status=CallStatus.ENDED,
        created_at=datetime(2026, 12, 3, 5, 30, tzinfo=UTC),
    )
    make_call(session, driver_id=driver.id, status=CallStatus.ENDED, created_at=NOON)
    make_call(session, driver_id=driver.id, status=CallStatus.FAILED, dialed=False, created_at=NOON)
    policy = CallingPolicy(max_per_day=2)
    assert pre_dial_refusals(session, [driver], now=NOON, policy=policy)[driver.id] is None
    make_call(session, driver_id=driver.id, status=CallStatus.ENDED, created_at=NOON)
    refusal = pre_dial_refusals(session, [driver], now=NOON, policy=policy)[driver.id]
    assert refusal.reason == RefusalReason.DAILY_LIMIT


def test_checks_are_set_wise(session, query_counter):
    drivers = [make_driver(session) for _ in range(20)]
    query_counter.reset()
    pre_dial_refusals(session, drivers, now=NOON, policy=POLICY)
    assert query_counter.count <= 4


def test_place_call_writes_the_row_then_dials_vapi(session, sandbox_clean, providers):
    driver = make_driver(session, first_name="Jo")
    trip = make_trip(session, driver=driver, load_number="L-88231")
    make_stop(session, trip=trip, sequence=1, city="Dallas", state="TX", name="Acme DC")
    profile = make_agent_profile(session, provider=CallProvider.VAPI)

    call = place_now(
        session,
        providers,
        CallRequest(
            driver_id=driver.id,
            purpose=CallPurpose.LATE_LOAD_CHECK,
            provider="vapi",
            idempotency_key="k-1",
        ),
        now=NOON,
    )

    assert call.status == CallStatus.DIALING
    assert call.provider_call_id and call.twilio_call_sid.startswith("CA")
    assert call.trip_id == trip.id and call.agent_profile_id == profile.id
    assert call.expected_end_at == NOON + timedelta(seconds=300 + 120)
    sent = [r for r in sandbox_clean.requests("vapi") if r["method"] == "POST"][-1]["json"]
    assert sent["assistantId"] == profile.assistant_id
    assert sent["customer"]["number"] == "+12015550123"
    values = sent["assistantOverrides"]["variableValues"]
    assert values["driver_first_name"] == "Jo"
    assert values["load_id"] == "L-88231"
    assert values["hub_call_id"] == call.id
    assert "Dallas" in values["next_stop"]
    assert sent["assistantOverrides"]["metadata"]["hub_call_id"] == call.id
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "call.place")).all()
    assert [a.resource_id for a in audit] == [str(call.id)]

    again = place_now(
        session,
        providers,
        CallRequest(
            driver_id=driver.id,
            purpose=CallPurpose.LATE_LOAD_CHECK,
            provider="vapi",
            idempotency_key="k-1",
        ),
        now=NOON,
    )
    assert again.id == call.id
    assert len([r for r in sandbox_clean.requests("vapi") if r["method"] == "POST"]) == 1


def test_place_call_elevenlabs_sends_the_same_variables(session, sandbox_clean, providers):
    driver = make_driver(session, first_name="Ana")
    make_agent_profile(session, provider=CallProvider.ELEVENLABS, purpose=CallPurpose.CUSTOM)
    call = place_now(
        session,
        providers,
        CallRequest(driver_id=driver.id, purpose=CallPurpose.HOS_CHECK, provider="elevenlabs"),
        now=NOON,
    )
    assert call.status == CallStatus.DIALING and call.provider_call_id.startswith("conv_")
    sent = [r for r in sandbox_clean.requests("elevenlabs") if r["method"] == "POST"][-1]["json"]
    variables = sent["conversation_initiation_client_data"]["dynamic_variables"]
    assert variables == call.variables
    assert variables["hub_call_id"] == call.id and variables["driver_first_name"] == "Ana"


def test_refusal_raises_and_is_audited_without_a_row(session, providers):
    driver = make_driver(session, do_not_call=True)
    make_agent_profile(session)
    with pytest.raises(CallRefused) as refused:
        place_now(
            session,
            providers,
            CallRequest(driver_id=driver.id, purpose="late_load_check", provider="vapi"),
            now=NOON,
        )
    assert refused.value.refusal.reason == RefusalReason.DO_NOT_CALL
    assert refused.value.refusal.error().status_code == 409
    refused_rows = session.scalars(select(AuditLog).where(AuditLog.action == "call.refused"))
    assert len(refused_rows.all()) == 1


def test_missing_profile_is_a_422(session, providers):
    driver = make_driver(session)
    with pytest.raises(CallRefused) as refused:
        place_now(
            session,
            providers,
            CallRequest(driver_id=driver.id, purpose="hos_check", provider="elevenlabs"),
            now=NOON,
        )
    assert refused.value.refusal.reason == RefusalReason.NO_AGENT_PROFILE
    assert refused.value.refusal.error().status_code == 422


def test_provider_refusal_fails_the_call_with_its_message(session, sandbox_clean, providers):
    driver = make_driver(session)
    make_agent_profile(session, provider=CallProvider.VAPI, assistant_id="")
    call = place_now(
        session,
        providers,
        CallRequest(driver_id=driver.id, purpose="late_load_check", provider="vapi"),
        now=NOON,
    )
    assert call.status == CallStatus.FAILED and call.outcome == CallOutcome.FAILED
    assert "assistantId" in call.error
    assert call.id is not None and call.dialed_at is None


def test_transient_errors_are_retried_then_fail(session, sandbox_clean, providers):
    driver = make_driver(session)
    make_agent_profile(session, provider=CallProvider.VAPI)
    sandbox_clean.fault("vapi", "429", count=2, retry_after=0)
    call = place_now(
        session,
        providers,
        CallRequest(driver_id=driver.id, purpose="late_load_check", provider="vapi"),
        now=NOON,
    )
    assert call.status == CallStatus.DIALING
    posts = [r for r in sandbox_clean.requests("vapi") if r["method"] == "POST"]
    assert len(posts) == 3

    other = make_driver(session, phone="+12015550126")
    sandbox_clean.fault("vapi", "429", count=3, retry_after=0)
    failed = place_now(
        session,
        providers,
        CallRequest(driver_id=other.id, purpose="late_load_check", provider="vapi"),
        now=NOON,
    )
    assert failed.status == CallStatus.FAILED and "429" in failed.error
