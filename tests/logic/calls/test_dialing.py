"""The dialer against the sandbox's vendor faults: an unknown dial is found at the vendor before
anything dials again, interrupted dials are recovered without a second call, calls that never
finish are given up, and a call's alert and trip must be the called driver's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from config import Settings
from logic.calls.dialing import (
    DIAL_LEASE,
    SETTLE,
    Dialer,
    _record,
    dial,
    find_at_vendor,
    recover,
)
from logic.calls.placement import (
    RING_ALLOWANCE,
    CallRequest,
    SubjectMismatch,
    prepare_call,
    prepare_calls,
)
from logic.calls.voice.base import Dialed
from logic.calls.voice.registry import CallProviders
from models.call import Call, CallOutcome, CallProvider, CallStatus
from sandbox.credentials import VAPI_API_KEY
from tests.calls_support import posted_alert, wait_for
from tests.factories import make_driver, make_trip
from tests.factories_calls import make_agent_profile, make_call, place_now

NOON = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


@pytest.fixture
def providers(sandbox_clean):
    # A short client timeout, so the sandbox's `slow` fault outlasts it.
    settings = Settings(**{**sandbox_clean.settings_env(), "VENDOR_TIMEOUT_SECONDS": "0.5"})
    built = CallProviders.from_settings(settings, retry_wait=0)
    yield built
    built.close()


def _creates(sandbox, vendor: str) -> list[dict]:
    path = "/vapi/call" if vendor == "vapi" else "/elevenlabs/v1/convai/twilio/outbound-call"
    return [r for r in sandbox.requests(vendor) if r["method"] == "POST" and r["path"] == path]


def _vendor_calls(sandbox) -> list[dict]:
    """Calls the VAPI fake actually created (whatever it answered)."""
    with httpx.Client(base_url=sandbox.url) as http:
        response = http.get("/vapi/call", headers={"Authorization": f"Bearer {VAPI_API_KEY}"})
        return response.json()


@pytest.mark.parametrize("fault", ["5xx_after", "slow"])
def test_a_create_that_failed_but_was_placed_is_found_never_redialed(
    session, sandbox_clean, providers, fault
):
    driver = make_driver(session)
    make_agent_profile(session, provider=CallProvider.VAPI)
    params = {"delay": 1.5} if fault == "slow" else {"status": 500}
    sandbox_clean.fault("vapi", fault, count=1, **params)

    call = place_now(
        session, providers, CallRequest(driver_id=driver.id, provider="vapi"), now=NOON
    )

    assert call.status == CallStatus.DIAL_UNKNOWN and call.provider_call_id is None
    assert call.dial_started_at == NOON and call.dialed_at is None
    # The vendor did place it (a slow create lands after the client gave up).
    [placed] = wait_for(lambda: _vendor_calls(sandbox_clean), timeout=5)
    # The driver stays blocked: nothing may dial them while the outcome is unknown.
    assert Call.active_driver_ids(session, [driver.id]) == {driver.id}

    result = recover(Dialer(providers), now=NOON + timedelta(seconds=5))
    session.refresh(call)

    assert result.found == 1 and result.call_ids == [call.id]
    assert call.status == CallStatus.DIALING and call.provider_call_id == placed["id"]
    assert len(_creates(sandbox_clean, "vapi")) == 1
    assert len(_vendor_calls(sandbox_clean)) == 1


def test_a_5xx_the_vendor_never_acted_on_fails_only_after_it_had_time_to_show(
    session, sandbox_clean, providers
):
    driver = make_driver(session)
    make_agent_profile(session, provider=CallProvider.VAPI)
    sandbox_clean.fault("vapi", "5xx", count=1, status=503)
    call = place_now(
        session, providers, CallRequest(driver_id=driver.id, provider="vapi"), now=NOON
    )
    assert call.status == CallStatus.DIAL_UNKNOWN

    assert find_at_vendor(call.id, Dialer(providers), now=NOON + timedelta(seconds=30)) == (
        "unknown"
    )
    assert find_at_vendor(call.id, Dialer(providers), now=NOON + SETTLE) == "not_placed"
    session.refresh(call)
    assert call.status == CallStatus.FAILED and call.outcome == CallOutcome.FAILED
    assert "no record" in call.error
    assert Call.active_driver_ids(session, [driver.id]) == set()
    assert _vendor_calls(sandbox_clean) == []


def test_elevenlabs_unknown_dial_is_found_by_agent_user_and_time(session, sandbox_clean, providers):
    driver = make_driver(session, phone="+12015550123")
    other = make_driver(session, phone="+12015550133")
    make_agent_profile(session, provider=CallProvider.ELEVENLABS)
    # Another driver's conversation on the same agent must not be taken for this one.
    place_now(session, providers, CallRequest(driver_id=other.id, provider="elevenlabs"), now=NOON)
    sandbox_clean.fault("elevenlabs", "5xx_after", count=1, status=502)
    call = place_now(
        session, providers, CallRequest(driver_id=driver.id, provider="elevenlabs"), now=NOON
    )
    assert call.status == CallStatus.DIAL_UNKNOWN

    assert find_at_vendor(call.id, Dialer(providers), now=NOON + timedelta(seconds=5)) == "found"
    session.refresh(call)
    assert call.status == CallStatus.DIALING and call.provider_call_id.startswith("conv_")
    listed = [
        r for r in sandbox_clean.requests("elevenlabs") if r["path"].endswith("/conversations")
    ]
    assert listed[-1]["query"]["user_id"] == f"driver-{driver.id}"
    assert len(_creates(sandbox_clean, "elevenlabs")) == 2


def test_interrupted_dials_are_recovered_without_a_second_call(session, sandbox_clean, providers):
    """A placer that died between commit and dial leaves a queued call nobody started: the
    dialer places it once. One that died between dial and record leaves a started call: it is
    looked for at the vendor, never dialed again."""
    make_agent_profile(session, provider=CallProvider.VAPI)
    never = prepare_call(
        session, CallRequest(driver_id=make_driver(session).id, provider="vapi"), now=NOON
    )
    mid = prepare_call(
        session,
        CallRequest(driver_id=make_driver(session, phone="+12015550133").id, provider="vapi"),
        now=NOON,
    )
    session.flush()
    # `mid`'s placer sent the create, then died before recording the answer.
    dialer = Dialer(providers)
    sandbox_clean.fault("vapi", "5xx_after", count=1)
    assert dial(mid.id, dialer, now=NOON) == CallStatus.DIAL_UNKNOWN
    # …as if the answer had never been recorded: queued, dial started.
    session.refresh(mid)
    mid.status, mid.error = CallStatus.QUEUED, None
    session.flush()
    later = NOON + DIAL_LEASE + timedelta(seconds=1)

    result = recover(dialer, now=later)
    session.refresh(never)
    session.refresh(mid)

    assert (result.dialed, result.interrupted, result.found) == (1, 1, 1)
    assert never.status == mid.status == CallStatus.DIALING
    assert len(_creates(sandbox_clean, "vapi")) == 2
    assert recover(dialer, now=later + timedelta(minutes=1)).dialed == 0
    assert len(_creates(sandbox_clean, "vapi")) == 2


def test_a_request_nobody_dialed_in_time_fails_rather_than_ringing_late(
    session, sandbox_clean, providers
):
    make_agent_profile(session, provider=CallProvider.VAPI)
    call = prepare_call(
        session, CallRequest(driver_id=make_driver(session).id, provider="vapi"), now=NOON
    )
    session.flush()
    result = recover(Dialer(providers), now=NOON + timedelta(hours=1))
    session.refresh(call)
    assert result.stale == 1 and call.status == CallStatus.FAILED
    assert _creates(sandbox_clean, "vapi") == []


def test_a_call_that_never_finishes_is_given_up_and_releases_its_driver(session, providers):
    driver = make_driver(session)
    stuck = make_call(session, driver_id=driver.id, status=CallStatus.IN_PROGRESS, created_at=NOON)
    dialer = Dialer(providers, give_up_after=timedelta(minutes=60))

    assert recover(dialer, now=NOON + timedelta(minutes=59)).given_up == 0
    assert recover(dialer, now=NOON + timedelta(minutes=61)).given_up == 1
    session.refresh(stuck)
    assert stuck.status == CallStatus.UNKNOWN and stuck.outcome == CallOutcome.UNKNOWN
    assert stuck.report_received_at is not None
    assert Call.active_driver_ids(session, [driver.id]) == set()


def test_dial_is_taken_by_one_dialer_only(session, sandbox_clean, providers):
    make_agent_profile(session, provider=CallProvider.VAPI)
    call = prepare_call(
        session, CallRequest(driver_id=make_driver(session).id, provider="vapi"), now=NOON
    )
    session.flush()
    assert dial(call.id, Dialer(providers), now=NOON) == CallStatus.DIALING
    assert dial(call.id, Dialer(providers), now=NOON) is None
    assert len(_creates(sandbox_clean, "vapi")) == 1


def test_a_call_about_another_drivers_alert_or_trip_is_refused(session, sandbox_clean):
    make_agent_profile(session, provider=CallProvider.VAPI)
    her = make_driver(session)
    him = make_driver(session, phone="+12015550133")
    alert = posted_alert(session, sandbox_clean, driver_id=her.id)
    trip = make_trip(session, driver=her)

    with pytest.raises(SubjectMismatch) as refused:
        prepare_call(session, CallRequest(driver_id=him.id, provider="vapi", alert_id=alert.id))
    assert refused.value.status_code == 422
    assert f"alert {alert.id} belongs to driver {her.id}" in str(refused.value)
    with pytest.raises(SubjectMismatch, match=f"trip {trip.id} belongs to driver {her.id}"):
        prepare_call(session, CallRequest(driver_id=him.id, provider="vapi", trip_id=trip.id))
    with pytest.raises(SubjectMismatch, match=f"not to driver {him.id}"):
        prepare_calls(
            session, CallRequest(driver_id=0, provider="vapi", alert_id=alert.id), [her.id, him.id]
        )
    assert session.scalars(select(Call)).all() == []
    mine = prepare_call(
        session, CallRequest(driver_id=her.id, provider="vapi", alert_id=alert.id), now=NOON
    )
    assert mine.alert_id == alert.id and mine.status == CallStatus.QUEUED


def test_answers_recorded_together_read_their_profiles_once(session, query_counter):
    profile = make_agent_profile(session, provider=CallProvider.VAPI, max_duration_seconds=120)
    calls = [
        make_call(
            session,
            driver_id=make_driver(session).id,
            status=CallStatus.QUEUED,
            dialed=False,
            agent_profile_id=profile.id,
        )
        for _ in range(5)
    ]

    query_counter.reset()
    statuses = _record({call.id: Dialed(f"vapi-{call.id}") for call in calls}, NOON)

    assert set(statuses.values()) == {CallStatus.DIALING}
    # The calls (locked), their profiles, one UPDATE for all: not a profile read (and the
    # flush of the call before it) per answer.
    assert sum("call_agent_profile" in s for s in query_counter.statements) == 1
    assert query_counter.count == 3
    session.expire_all()
    for call in calls:
        row = session.get(Call, call.id)
        assert row.status == CallStatus.DIALING and row.dialed_at == NOON
        assert row.expected_end_at == NOON + timedelta(seconds=120) + RING_ALLOWANCE
