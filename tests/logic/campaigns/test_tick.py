"""Tick decisions, table-driven: calling windows across zones and DST, attempts and per-outcome
retry delays, concurrency, do-not-call, a call elsewhere, schedules, completion, stale claims."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from logic.calls.campaigns import CLAIM_LEASE, decide_and_claim, refusal_outcome
from logic.calls.placement import CallingPolicy, Refusal, RefusalReason
from models.call import CallOutcome, CallStatus
from models.campaign import CallCampaign, CampaignStatus, CampaignTarget, TargetState
from tests.factories import make_driver
from tests.factories_calls import make_call, make_do_not_call
from tests.logic.campaigns.support import make_campaign

# 15:00 UTC on a December Thursday = 09:00 in Chicago.
NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
POLICY = CallingPolicy()


def decide(session, now=NOW, policy=POLICY, max_dials=100):
    result = decide_and_claim(session, now=now, policy=policy, max_dials=max_dials)
    session.expire_all()
    return result


def targets(session, campaign) -> list[CampaignTarget]:
    query = select(CampaignTarget).where(CampaignTarget.campaign_id == campaign.id)
    return list(session.scalars(query.order_by(CampaignTarget.id)))


def target_of(session, campaign, driver) -> CampaignTarget:
    return next(t for t in targets(session, campaign) if t.driver_id == driver.id)


@pytest.mark.parametrize(
    ("zone", "now", "window", "claimed"),
    [
        ("America/Chicago", NOW, ("08:00", "21:00"), True),  # 09:00 CST
        ("America/New_York", NOW, ("08:00", "21:00"), True),  # 10:00 EST
        ("America/Los_Angeles", NOW, ("08:00", "21:00"), False),  # 07:00 PST
        ("Asia/Tokyo", NOW, ("08:00", "21:00"), False),  # 00:00
        ("America/Chicago", NOW, ("12:00", "17:00"), False),  # the campaign's own window
        ("America/Chicago", NOW, ("20:00", "10:00"), True),  # a window across midnight
        ("America/Chicago", NOW, ("00:00", "00:00"), True),  # around the clock
        ("Asia/Tokyo", NOW, ("00:00", "00:00"), False),  # ... but never past placement's
        ("America/Los_Angeles", NOW, ("06:00", "21:00"), False),  # never wider than placement's
        (None, NOW, ("08:00", "21:00"), True),  # no zone: the default (Chicago)
        ("Mars/Olympus", NOW, ("08:00", "21:00"), True),  # unknown zone: the default
        # US spring forward, 8 March 2026: 12:30 UTC is 07:30 EST the day before, 08:30 EDT on it.
        ("America/New_York", datetime(2026, 3, 7, 12, 30, tzinfo=UTC), ("08:00", "21:00"), False),
        ("America/New_York", datetime(2026, 3, 8, 12, 30, tzinfo=UTC), ("08:00", "21:00"), True),
        # Fall back, 1 November 2026: 12:30 UTC is 08:30 EDT the day before, 07:30 EST on it.
        ("America/New_York", datetime(2026, 10, 31, 12, 30, tzinfo=UTC), ("08:00", "21:00"), True),
        ("America/New_York", datetime(2026, 11, 1, 12, 30, tzinfo=UTC), ("08:00", "21:00"), False),
        # 20:59 local is inside, 21:00 is not (the window's end is exclusive).
        ("America/Denver", datetime(2026, 12, 4, 3, 59, tzinfo=UTC), ("08:00", "21:00"), True),
        ("America/Denver", datetime(2026, 12, 4, 4, 0, tzinfo=UTC), ("08:00", "21:00"), False),
    ],
)
def test_calling_window_in_the_drivers_local_time(session, zone, now, window, claimed):
    driver = make_driver(session, timezone=zone)
    campaign = make_campaign(
        session, drivers=[driver], now=now, window_start=window[0], window_end=window[1]
    )
    result = decide(session, now=now)
    target = target_of(session, campaign, driver)
    assert (result.claimed == 1) is claimed
    assert target.state == (TargetState.DIALING if claimed else TargetState.PENDING)
    assert target.attempts == (1 if claimed else 0)


RETRY_CASES = [
    # outcome, call status, attempts so far, max attempts → state, minutes after the call ended
    (CallOutcome.COMPLETED, CallStatus.ENDED, 1, 3, TargetState.DONE, None),
    (CallOutcome.NO_ANSWER, CallStatus.ENDED, 1, 3, TargetState.PENDING, 30),
    (CallOutcome.BUSY, CallStatus.ENDED, 1, 3, TargetState.PENDING, 10),
    (CallOutcome.VOICEMAIL, CallStatus.ENDED, 2, 3, TargetState.PENDING, 120),
    (CallOutcome.FAILED, CallStatus.FAILED, 1, 3, TargetState.PENDING, 30),
    (CallOutcome.NO_ANSWER, CallStatus.ENDED, 3, 3, TargetState.FAILED, None),
    (CallOutcome.VOICEMAIL, CallStatus.ENDED, 1, 1, TargetState.FAILED, None),
    (CallOutcome.CANCELED, CallStatus.CANCELED, 1, 3, TargetState.SKIPPED, None),
    (None, CallStatus.IN_PROGRESS, 1, 3, TargetState.IN_CALL, None),
    (None, CallStatus.RINGING, 1, 3, TargetState.IN_CALL, None),
    (None, CallStatus.DIALING, 1, 3, TargetState.DIALING, None),
]


@pytest.mark.parametrize(("outcome", "status", "attempts", "limit", "state", "delay"), RETRY_CASES)
def test_outcomes_move_targets_on(session, outcome, status, attempts, limit, state, delay):
    driver = make_driver(session)
    campaign = make_campaign(session, drivers=[driver], now=NOW, max_attempts=limit)
    target = target_of(session, campaign, driver)
    ended = NOW - timedelta(minutes=3)
    call = make_call(
        session,
        driver_id=driver.id,
        status=status,
        outcome=outcome,
        ended_at=ended if outcome else None,
        campaign_target_id=target.id,
        created_at=NOW - timedelta(minutes=5),
    )
    target.state, target.attempts, target.last_call_id = TargetState.DIALING, attempts, call.id
    session.flush()

    result = decide(session)
    target = target_of(session, campaign, driver)

    assert target.state == state
    assert result.claimed == 0  # a retry waits for its delay; an active call blocks the driver
    assert target.last_outcome == (outcome.value if outcome else None)
    if delay is not None:
        assert target.next_attempt_at == ended + timedelta(minutes=delay)
    if state == TargetState.SKIPPED:
        assert target.skip_reason == "the call was canceled"
    if state in (TargetState.DONE, TargetState.FAILED, TargetState.SKIPPED):
        assert target.finished_at == NOW


def test_a_retry_is_claimed_once_its_delay_has_passed_with_the_campaigns_own_delay(session):
    driver = make_driver(session)
    campaign = make_campaign(session, drivers=[driver], now=NOW, retry_busy_minutes=3)
    assert decide(session).claimed == 1
    target = target_of(session, campaign, driver)
    call = make_call(
        session,
        driver_id=driver.id,
        status=CallStatus.ENDED,
        outcome=CallOutcome.BUSY,
        ended_at=NOW + timedelta(minutes=1),
        campaign_target_id=target.id,
    )
    target.last_call_id = call.id
    session.flush()

    assert decide(session, now=NOW + timedelta(minutes=2)).claimed == 0
    assert target_of(session, campaign, driver).next_attempt_at == NOW + timedelta(minutes=4)
    assert decide(session, now=NOW + timedelta(minutes=3, seconds=59)).claimed == 0
    again = decide(session, now=NOW + timedelta(minutes=4))
    assert [c.attempt for c in again.claims] == [2]
    assert target_of(session, campaign, driver).attempts == 2


def test_concurrency_counts_calls_in_flight(session):
    drivers = [make_driver(session) for _ in range(5)]
    campaign = make_campaign(session, drivers=drivers, now=NOW, max_concurrency=2)
    flying = target_of(session, campaign, drivers[0])
    flying.state = TargetState.IN_CALL
    session.flush()

    first = decide(session)
    assert first.claimed == 1
    assert decide(session).claimed == 0
    states = [t.state for t in targets(session, campaign)]
    assert states.count(TargetState.PENDING) == 3


def test_max_dials_caps_one_tick_oldest_due_first(session):
    drivers = [make_driver(session) for _ in range(4)]
    campaign = make_campaign(session, drivers=drivers, now=NOW - timedelta(hours=1))
    late = target_of(session, campaign, drivers[0])
    late.next_attempt_at = NOW - timedelta(minutes=1)
    session.flush()
    result = decide(session, max_dials=2)
    assert result.claimed == 2 and late.id not in [c.target_id for c in result.claims]


def test_do_not_call_and_unreachable_drivers_are_skipped_with_the_reason(session):
    flagged = make_driver(session, do_not_call=True)
    listed = make_driver(session)
    make_do_not_call(session, driver_id=listed.id, reason="asked on the 12/01 call")
    by_number = make_driver(session, phone="+12015550124")
    make_do_not_call(session, phone_number="+12015550124", reason="number reported")
    expired = make_driver(session)
    make_do_not_call(session, driver_id=expired.id, until=NOW - timedelta(hours=1))
    no_phone = make_driver(session, phone=None)
    drivers = [flagged, listed, by_number, expired, no_phone]
    campaign = make_campaign(session, drivers=drivers, now=NOW)

    result = decide(session)

    reasons = {d.id: target_of(session, campaign, d).skip_reason for d in drivers}
    assert reasons == {
        flagged.id: "do-not-call: the driver's do-not-call flag is set",
        listed.id: "do-not-call: asked on the 12/01 call",
        by_number.id: "do-not-call: number reported",
        expired.id: None,
        no_phone.id: "the driver has no phone number",
    }
    assert [c.driver_id for c in result.claims] == [expired.id]
    assert result.skipped == {"do-not-call": 3, "no phone number": 1}
    assert target_of(session, campaign, flagged).finished_at == NOW


def test_an_active_call_anywhere_keeps_the_driver_waiting(session):
    manual = make_driver(session)
    make_call(session, driver_id=manual.id, status=CallStatus.RINGING)  # a manual call
    elsewhere = make_driver(session)
    other = make_campaign(session, drivers=[elsewhere], now=NOW)
    target_of(session, other, elsewhere).state = TargetState.DIALING
    both = make_driver(session)  # pending in two campaigns: dialed by one only
    make_campaign(session, drivers=[both], now=NOW - timedelta(minutes=1))
    campaign = make_campaign(session, drivers=[manual, elsewhere, both], now=NOW)
    session.flush()

    result = decide(session)

    assert [c.driver_id for c in result.claims] == [both.id]
    assert result.claims[0].campaign_id != campaign.id  # the one due first
    assert target_of(session, campaign, manual).state == TargetState.PENDING
    assert target_of(session, campaign, elsewhere).state == TargetState.PENDING


def test_the_daily_maximum_counts_dialed_calls_of_the_drivers_local_day(session):
    capped = make_driver(session, timezone="America/New_York")
    for _ in range(3):
        make_call(session, driver_id=capped.id, status=CallStatus.ENDED, created_at=NOW)
    # 04:30 UTC is 23:30 the day before in New York: yesterday's calls do not count.
    yesterday = make_driver(session, timezone="America/New_York")
    for _ in range(3):
        make_call(
            session,
            driver_id=yesterday.id,
            status=CallStatus.ENDED,
            created_at=datetime(2026, 12, 3, 4, 30, tzinfo=UTC),
        )
    undialed = make_driver(session)  # calls the provider never accepted do not count
    for _ in range(3):
        make_call(
            session, driver_id=undialed.id, status=CallStatus.FAILED, dialed=False, created_at=NOW
        )
    campaign = make_campaign(session, drivers=[capped, yesterday, undialed], now=NOW)

    result = decide(session)

    assert sorted(c.driver_id for c in result.claims) == sorted([yesterday.id, undialed.id])
    target = target_of(session, campaign, capped)
    assert target.state == TargetState.PENDING and target.attempts == 0


@pytest.mark.parametrize(
    ("reason", "state", "next_at"),
    [
        (RefusalReason.INVALID_PHONE, TargetState.SKIPPED, NOW),
        (RefusalReason.DO_NOT_CALL, TargetState.SKIPPED, NOW),
        # 08:00 the next morning in New York (EST), the next local day for the daily maximum.
        (RefusalReason.OUTSIDE_CALLING_WINDOW, TargetState.PENDING, None),
        (RefusalReason.DAILY_LIMIT, TargetState.PENDING, datetime(2026, 12, 4, 13, tzinfo=UTC)),
        (RefusalReason.ACTIVE_CALL, TargetState.PENDING, NOW + timedelta(minutes=5)),
    ],
)
def test_what_a_placement_refusal_does_to_the_target(session, reason, state, next_at):
    driver = make_driver(session, timezone="America/New_York")
    late = NOW + timedelta(hours=12)  # 22:00 in New York
    at = late if reason == RefusalReason.OUTSIDE_CALLING_WINDOW else NOW
    got_state, got_next, why = refusal_outcome(Refusal(reason, "because"), driver, at, POLICY)
    expected = next_at or datetime(2026, 12, 4, 13, tzinfo=UTC)
    assert (got_state, got_next) == (state, expected)
    assert why == ("because" if state == TargetState.SKIPPED else None)


def test_only_running_campaigns_inside_their_schedule_dial(session):
    draft = make_campaign(
        session, drivers=[make_driver(session)], now=NOW, status=CampaignStatus.DRAFT
    )
    paused = make_campaign(
        session, drivers=[make_driver(session)], now=NOW, status=CampaignStatus.PAUSED
    )
    later = make_campaign(
        session,
        drivers=[make_driver(session)],
        now=NOW,
        status=CampaignStatus.SCHEDULED,
        schedule_start_at=NOW + timedelta(hours=1),
    )
    assert decide(session).claimed == 0

    result = decide(session, now=NOW + timedelta(hours=1))
    assert result.started == 1 and [c.campaign_id for c in result.claims] == [later.id]
    assert session.get(CallCampaign, draft.id).status == CampaignStatus.DRAFT
    assert session.get(CallCampaign, paused.id).status == CampaignStatus.PAUSED


def test_a_schedule_that_ended_skips_what_is_left_and_completes(session):
    drivers = [make_driver(session), make_driver(session)]
    campaign = make_campaign(
        session, drivers=drivers, now=NOW, schedule_end_at=NOW + timedelta(minutes=30)
    )
    (claim,) = decide(session, max_dials=1).claims
    call = make_call(session, driver_id=claim.driver_id, status=CallStatus.IN_PROGRESS)
    session.get(CampaignTarget, claim.target_id).last_call_id = call.id
    session.flush()

    result = decide(session, now=NOW + timedelta(minutes=30))

    assert result.skipped == {"campaign schedule ended": 1}
    # One call is still in flight: not complete until it ends.
    assert session.get(CallCampaign, campaign.id).status == CampaignStatus.RUNNING
    call.status, call.outcome, call.ended_at = CallStatus.ENDED, CallOutcome.NO_ANSWER, NOW
    session.flush()
    # Its retry would fall after the schedule's end: skipped too, and the campaign completes.
    result = decide(session, now=NOW + timedelta(minutes=31))
    assert result.skipped == {"campaign schedule ended": 1}
    assert result.completed == [campaign.id]
    assert {t.skip_reason for t in targets(session, campaign)} == {"campaign schedule ended"}


def test_a_campaign_completes_when_no_target_can_progress(session):
    done, failed = make_driver(session), make_driver(session, do_not_call=True)
    campaign = make_campaign(session, drivers=[done, failed], now=NOW)
    target = target_of(session, campaign, done)
    call = make_call(
        session,
        driver_id=done.id,
        status=CallStatus.ENDED,
        outcome=CallOutcome.COMPLETED,
        ended_at=NOW,
        campaign_target_id=target.id,
    )
    target.state, target.attempts, target.last_call_id = TargetState.IN_CALL, 1, call.id
    session.flush()

    result = decide(session)

    assert result.completed == [campaign.id]
    stored = session.get(CallCampaign, campaign.id)
    assert stored.status == CampaignStatus.COMPLETED and stored.completed_at == NOW


def test_a_claim_that_never_placed_its_call_is_released_without_the_attempt(session):
    driver = make_driver(session)
    campaign = make_campaign(session, drivers=[driver], now=NOW)
    assert decide(session).claimed == 1

    assert decide(session, now=NOW + CLAIM_LEASE - timedelta(seconds=1)).released == 0
    result = decide(session, now=NOW + CLAIM_LEASE + timedelta(seconds=1))

    assert result.released == 1 and result.claimed == 1
    assert target_of(session, campaign, driver).attempts == 1


def test_decide_is_a_constant_number_of_statements(session, query_counter):
    drivers = [make_driver(session, timezone=z) for z in ["America/Chicago"] * 30]
    make_campaign(session, drivers=drivers, now=NOW, max_concurrency=50)
    make_campaign(session, drivers=drivers[:10], now=NOW)
    query_counter.reset()
    result = decide(session)
    assert result.claimed == 30
    assert query_counter.count <= 20
