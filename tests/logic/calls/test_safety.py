"""Safe to call, from stored HOS and GPS: a driving driver or a moving truck defers the call
(campaigns, the ladder) or refuses it with the reason (manual calls, unless a supervisor
overrides); a resting driver waits until the rest ends, except for urgent purposes; hands-free
policy and per-profile overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from logic.calls.campaigns import tick
from logic.calls.dialing import Dialer
from logic.calls.placement import (
    CallingPolicy,
    CallRefused,
    CallRequest,
    RefusalReason,
    pre_dial_refusals,
    prepare_call,
)
from logic.calls.safety import REST_PERIOD
from models.campaign import CampaignTarget, TargetState
from models.hos import DutyStatus
from tests.factories import (
    make_driver,
    make_hos_clock,
    make_hos_log,
    make_location,
    make_trip,
    make_vehicle,
)
from tests.factories_calls import make_agent_profile, sandbox_providers
from tests.logic.campaigns.support import make_campaign

NOON = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # 09:00 in Chicago
POLICY = CallingPolicy()


def _driving(session, *, mph: float = 62.0, status=DutyStatus.ON_DUTY, truck=None):
    driver = make_driver(session)
    truck = truck or make_vehicle(session)
    make_trip(session, driver=driver, vehicle=truck, status="in_transit")
    make_hos_clock(session, driver=driver, vehicle=truck, duty_status=status, as_of=NOON)
    make_location(session, vehicle=truck, recorded_at=NOON - timedelta(minutes=1), speed_mph=mph)
    return driver


def test_driving_status_or_a_moving_truck_is_not_safe(session):
    moving = _driving(session)
    logged = make_driver(session)
    make_hos_clock(session, driver=logged, duty_status=DutyStatus.DRIVING, as_of=NOON)
    stopped = _driving(session, mph=0)
    refusals = pre_dial_refusals(session, [moving, logged, stopped], now=NOON, policy=POLICY)

    assert refusals[moving.id].reason == RefusalReason.DRIVING
    assert "62 mph" in refusals[moving.id].message
    assert refusals[moving.id].retry_at == NOON + timedelta(minutes=15)
    assert refusals[logged.id].reason == RefusalReason.DRIVING
    assert refusals[stopped.id] is None
    hands_free = CallingPolicy(hands_free_allowed=True)
    assert pre_dial_refusals(session, [moving], now=NOON, policy=hands_free)[moving.id] is None


def test_a_stale_position_says_nothing_about_moving(session):
    driver = make_driver(session)
    truck = make_vehicle(session)
    make_hos_clock(session, driver=driver, vehicle=truck, duty_status="on_duty", as_of=NOON)
    make_location(session, vehicle=truck, recorded_at=NOON - timedelta(hours=1), speed_mph=60)
    assert pre_dial_refusals(session, [driver], now=NOON, policy=POLICY)[driver.id] is None


def test_resting_waits_until_the_rest_ends_except_urgent_purposes(session):
    driver = make_driver(session)
    rest_began = NOON - timedelta(hours=3)
    make_hos_log(session, driver=driver, start_at=rest_began - timedelta(hours=8))
    make_hos_log(session, driver=driver, start_at=rest_began, duty_status=DutyStatus.SLEEPER_BERTH)
    make_hos_clock(session, driver=driver, duty_status=DutyStatus.SLEEPER_BERTH, as_of=NOON)
    make_agent_profile(session, provider="vapi")

    refusal = pre_dial_refusals(session, [driver], now=NOON, policy=POLICY)[driver.id]
    assert refusal.reason == RefusalReason.RESTING
    assert refusal.retry_at == rest_began + REST_PERIOD
    later = rest_began + REST_PERIOD + timedelta(minutes=1)
    assert pre_dial_refusals(session, [driver], now=later, policy=POLICY)[driver.id] is None

    with pytest.raises(CallRefused) as refused:
        prepare_call(session, CallRequest(driver_id=driver.id, provider="vapi"), now=NOON)
    assert refused.value.refusal.error().status_code == 409
    assert refused.value.refusal.error().code == "driver_resting"
    urgent = CallingPolicy(urgent_purposes=frozenset({"late_load_check"}))
    call = prepare_call(
        session, CallRequest(driver_id=driver.id, provider="vapi"), policy=urgent, now=NOON
    )
    assert call.status == "queued"


def test_override_and_hands_free_profile(session):
    driver = _driving(session)
    make_agent_profile(session, provider="vapi")
    hands_free = make_agent_profile(session, provider="vapi", hands_free_allowed=True)
    with pytest.raises(CallRefused) as refused:
        prepare_call(session, CallRequest(driver_id=driver.id, provider="vapi"), now=NOON)
    assert refused.value.refusal.error().code == "driver_driving"

    request = CallRequest(driver_id=driver.id, agent_profile_id=hands_free.id)
    assert prepare_call(session, request, now=NOON).agent_profile_id == hands_free.id
    other = _driving(session)
    override = CallRequest(driver_id=other.id, provider="vapi", safety_override=True)
    assert prepare_call(session, override, now=NOON).status == "queued"


def test_campaign_defers_a_moving_driver_with_the_reason_and_dials_when_stopped(
    session, sandbox_clean
):
    truck = make_vehicle(session)
    driver = _driving(session, truck=truck)
    make_agent_profile(session, provider="vapi", purpose="hos_check")
    campaign = make_campaign(session, drivers=[driver], now=NOON)
    campaign.window_start = campaign.window_end = "00:00"
    session.flush()
    providers = sandbox_providers(sandbox_clean)
    try:
        first = tick(Dialer(providers), now=NOON)
        target = session.scalars(
            select(CampaignTarget).where(CampaignTarget.campaign_id == campaign.id)
        ).one()
        session.refresh(target)
        assert first.deferred == {"driver_driving": 1} and first.placed == 0
        assert target.state == TargetState.PENDING and target.attempts == 0
        assert (
            target.defer_reason.startswith("driver_driving: ") and "62 mph" in target.defer_reason
        )
        assert target.next_attempt_at == NOON + timedelta(minutes=15)

        # The truck stopped at a fuel stop; the next due tick dials.
        later = NOON + timedelta(minutes=16)
        make_location(session, vehicle=truck, recorded_at=later, speed_mph=0)
        second = tick(Dialer(providers), now=later)
    finally:
        providers.close()
    session.refresh(target)
    assert second.placed == 1 and target.defer_reason is None
    assert target.state == TargetState.DIALING
