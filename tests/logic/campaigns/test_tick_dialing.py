"""The tick dialing through placement against the sandbox: calls placed per claim, pause / resume /
cancel while calls are in flight, provider failures retried, a missing agent profile, and two
ticks racing on PostgreSQL never dialing one driver twice."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from db.database import session_scope
from logic.auth.audit import ClientInfo
from logic.calls import campaign_ops
from logic.calls.campaigns import tick
from logic.calls.dialing import Dialer
from models.call import Call, CallOutcome, CallProvider, CallPurpose, CallStatus
from models.campaign import CallCampaign, CampaignStatus, CampaignTarget, TargetState
from tests.factories import make_driver
from tests.factories_calls import make_agent_profile, sandbox_providers
from tests.logic.campaigns.support import make_campaign

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # 09:00 in Chicago
CLIENT = ClientInfo()


@pytest.fixture
def providers(sandbox_clean):
    built = sandbox_providers(sandbox_clean)
    yield built
    built.close()


def vapi_posts(sandbox) -> list[dict]:
    return [r for r in sandbox.requests("vapi") if r["method"] == "POST"]


def end_call(session, call_id: int, outcome: CallOutcome, at: datetime) -> None:
    """What webhook processing or reconciliation does when a call ends."""
    call = session.get(Call, call_id)
    call.status = CallStatus.FAILED if outcome == CallOutcome.FAILED else CallStatus.ENDED
    call.outcome, call.ended_at = outcome, at
    session.flush()


def states(session, campaign) -> Counter:
    rows = session.scalars(
        select(CampaignTarget.state).where(CampaignTarget.campaign_id == campaign.id)
    )
    return Counter(rows)


def test_tick_places_one_call_per_claim_through_placement(session, sandbox_clean, providers):
    make_agent_profile(session, provider=CallProvider.VAPI, purpose=CallPurpose.HOS_CHECK)
    drivers = [make_driver(session, first_name=f"D{i}") for i in range(3)]
    campaign = make_campaign(session, drivers=drivers, now=NOW, max_concurrency=2)

    result = tick(Dialer(providers), now=NOW)

    assert (result.claimed, result.placed) == (2, 2)
    assert result.timings_ms.keys() >= {"decide_claim", "place"}
    calls = list(session.scalars(select(Call).order_by(Call.id)))
    targets = {t.id: t for t in session.scalars(select(CampaignTarget))}
    assert [c.status for c in calls] == [CallStatus.DIALING] * 2
    for call in calls:
        target = targets[call.campaign_target_id]
        assert target.last_call_id == call.id and target.state == TargetState.DIALING
        assert call.idempotency_key == f"campaign-target:{target.id}:attempt:1"
        assert call.purpose == CallPurpose.HOS_CHECK and call.driver_id == target.driver_id
    assert len(vapi_posts(sandbox_clean)) == 2
    session.expire_all()
    assert session.get(CallCampaign, campaign.id).calls_placed == 2
    assert tick(Dialer(providers), now=NOW).claimed == 0  # concurrency is full


def test_pause_resume_cancel_with_calls_in_flight(session, sandbox_clean, providers):
    make_agent_profile(session, provider=CallProvider.VAPI, purpose=CallPurpose.HOS_CHECK)
    drivers = [make_driver(session) for _ in range(4)]
    campaign = make_campaign(session, drivers=drivers, now=NOW, max_concurrency=2)
    first = tick(Dialer(providers), now=NOW)
    assert first.placed == 2
    call_ids = list(session.scalars(select(Call.id).order_by(Call.id)))

    campaign_ops.pause_campaign(session, campaign, None, NOW, CLIENT)
    session.flush()
    end_call(session, call_ids[0], CallOutcome.COMPLETED, NOW + timedelta(minutes=2))
    paused = tick(Dialer(providers), now=NOW + timedelta(minutes=3))
    # The finished call is recorded while paused; nothing new is dialed.
    assert paused.advanced == {"done": 1} and paused.claimed == 0
    assert states(session, campaign) == {"pending": 2, "dialing": 1, "done": 1}
    assert len(vapi_posts(sandbox_clean)) == 2

    campaign_ops.resume_campaign(session, campaign, None, NOW, CLIENT)
    session.flush()
    resumed = tick(Dialer(providers), now=NOW + timedelta(minutes=4))
    assert resumed.placed == 1  # one slot: one call still in flight
    assert states(session, campaign) == {"pending": 1, "dialing": 2, "done": 1}

    campaign_ops.cancel_campaign(session, campaign, None, NOW, CLIENT)
    session.flush()
    assert states(session, campaign) == {"skipped": 1, "dialing": 2, "done": 1}
    in_flight = list(
        session.scalars(select(Call.id).where(Call.status == CallStatus.DIALING).order_by(Call.id))
    )
    end_call(session, in_flight[0], CallOutcome.NO_ANSWER, NOW + timedelta(minutes=5))
    end_call(session, in_flight[1], CallOutcome.COMPLETED, NOW + timedelta(minutes=5))
    after = tick(Dialer(providers), now=NOW + timedelta(hours=2))

    # In-flight calls finished and were recorded; the no-answer is not retried.
    assert after.claimed == 0 and len(vapi_posts(sandbox_clean)) == 3
    assert states(session, campaign) == {"skipped": 2, "done": 2}
    reasons = set(
        session.scalars(
            select(CampaignTarget.skip_reason).where(CampaignTarget.state == TargetState.SKIPPED)
        )
    )
    assert reasons == {"campaign canceled"}
    session.expire_all()
    assert session.get(CallCampaign, campaign.id).status == CampaignStatus.CANCELED


def test_a_provider_failure_is_an_attempt_retried_at_its_delay(session, sandbox_clean, providers):
    make_agent_profile(session, provider=CallProvider.VAPI, purpose=CallPurpose.HOS_CHECK)
    driver = make_driver(session)
    campaign = make_campaign(session, drivers=[driver], now=NOW, retry_failed_minutes=15)
    sandbox_clean.fault("vapi", "429", count=3, retry_after=0)

    result = tick(Dialer(providers), now=NOW)

    assert (result.claimed, result.provider_failed) == (1, 1)
    call = session.scalars(select(Call)).one()
    assert call.status == CallStatus.FAILED and call.outcome == CallOutcome.FAILED
    tick(Dialer(providers), now=NOW + timedelta(minutes=1))
    target = session.scalars(select(CampaignTarget)).one()
    assert target.state == TargetState.PENDING and target.last_outcome == CallOutcome.FAILED
    assert target.next_attempt_at == NOW + timedelta(minutes=15)
    retried = tick(Dialer(providers), now=NOW + timedelta(minutes=15))
    session.expire_all()
    assert retried.placed == 1 and session.get(CampaignTarget, target.id).attempts == 2
    assert campaign.id == target.campaign_id


def test_placement_has_the_last_word_on_each_call(session, sandbox_clean, providers):
    """A number the pick cannot judge (it is not E.164-valid) is refused by placement's own
    checks: the target is skipped with placement's message and the attempt is given back."""
    make_agent_profile(session, provider=CallProvider.VAPI, purpose=CallPurpose.HOS_CHECK)
    bad = make_driver(session, phone="555-555-5555")
    campaign = make_campaign(session, drivers=[bad], now=NOW)

    result = tick(Dialer(providers), now=NOW)

    assert (result.claimed, result.placed) == (1, 0)
    assert result.deferred == {"invalid_phone_number": 1}
    target = session.scalars(select(CampaignTarget)).one()
    session.refresh(target)
    assert (target.state, target.attempts) == (TargetState.SKIPPED, 0)
    assert target.skip_reason == (
        f"driver {bad.id} has no valid phone number ('555-555-5555' is not a dialable E.164 number)"
    )
    assert vapi_posts(sandbox_clean) == []
    assert tick(Dialer(providers), now=NOW).completed == [campaign.id]


def test_no_agent_profile_pauses_the_campaign_with_the_reason(session, providers):
    driver = make_driver(session)
    campaign = make_campaign(session, drivers=[driver], now=NOW, provider="elevenlabs")

    result = tick(Dialer(providers), now=NOW)

    assert result.placed == 0 and result.deferred == {"no_agent_profile": 1}
    session.expire_all()
    stored = session.get(CallCampaign, campaign.id)
    assert stored.status == CampaignStatus.PAUSED
    assert "no enabled elevenlabs agent profile" in stored.status_reason
    target = session.scalars(select(CampaignTarget)).one()
    assert (target.state, target.attempts) == (TargetState.PENDING, 0)


@pytest.mark.postgres
def test_two_ticks_in_two_threads_never_dial_one_driver_twice(committed_db, sandbox_clean):
    with session_scope() as session:
        make_agent_profile(session, provider=CallProvider.VAPI, purpose=CallPurpose.HOS_CHECK)
        drivers = [make_driver(session) for _ in range(30)]
        # Every driver is in all three campaigns: only one of them may reach each driver.
        for _ in range(3):
            make_campaign(session, drivers=drivers, now=NOW, max_concurrency=25)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run() -> None:
        providers = sandbox_providers(sandbox_clean)
        try:
            barrier.wait()
            results.append(tick(Dialer(providers), now=NOW))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            providers.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    with session_scope() as session:
        per_driver = session.execute(
            select(Call.driver_id, func.count()).group_by(Call.driver_id)
        ).all()
        in_flight = session.scalar(
            select(func.count())
            .select_from(CampaignTarget)
            .where(CampaignTarget.state == TargetState.DIALING)
        )
    assert sum(r.placed for r in results) == len(per_driver) == 30
    assert {n for _, n in per_driver} == {1}
    assert in_flight == 30
    assert len(vapi_posts(sandbox_clean)) == 30


def test_one_failing_request_rolls_back_alone(session, sandbox_clean, providers, monkeypatch):
    """The claims are requested in one transaction, each in its own savepoint: a request that
    raises leaves no call and no change behind, and the others are queued and dialed."""
    from logic.calls import campaigns

    make_agent_profile(session, provider=CallProvider.VAPI, purpose=CallPurpose.HOS_CHECK)
    drivers = [make_driver(session, first_name=f"D{i}") for i in range(3)]
    campaign = make_campaign(session, drivers=drivers, now=NOW, max_concurrency=3)
    broken = drivers[1].id
    real_prepare = campaigns.prepare_call

    def prepare_failing_for_one(session, request, **kwargs):
        call = real_prepare(session, request, **kwargs)  # its row is written, then it fails
        if request.driver_id == broken:
            raise RuntimeError("a bug in one request")
        return call

    monkeypatch.setattr(campaigns, "prepare_call", prepare_failing_for_one)

    result = tick(Dialer(providers), now=NOW)

    assert (result.claimed, result.placed, result.not_placed) == (3, 2, 1)
    session.expire_all()
    calls = list(session.scalars(select(Call)))
    assert sorted(c.driver_id for c in calls) == sorted(d.id for d in drivers if d.id != broken)
    assert {c.status for c in calls} == {CallStatus.DIALING}
    assert len(vapi_posts(sandbox_clean)) == 2
    assert session.get(CallCampaign, campaign.id).calls_placed == 2  # the rolled-back one not
    stranded = session.scalars(select(CampaignTarget).where(CampaignTarget.driver_id == broken))
    target = stranded.one()
    # Still claimed with no call: the claim's lease gives it back (`_release_stale_claims`).
    assert (target.state, target.last_call_id) == (TargetState.DIALING, None)


# A read of whole target rows, as the ORM renders `select(CampaignTarget)` (model order).
WHOLE_TARGET = "SELECT campaign_target.id, campaign_target.campaign_id, "


@pytest.mark.parametrize(("chunk", "transactions"), [(10, 1), (3, 2)])
def test_the_pre_dial_checks_and_prompt_data_are_read_once_per_transaction_of_requests(
    session, sandbox_clean, providers, query_counter, monkeypatch, chunk, transactions
):
    """Do-not-call, other calls, today's count and safe-to-call are read for the claimed
    drivers together, once per transaction of `REQUEST_CHUNK` requests, not once per claim."""
    from logic.calls import campaigns

    monkeypatch.setattr(campaigns, "REQUEST_CHUNK", chunk)
    make_agent_profile(session, provider=CallProvider.VAPI, purpose=CallPurpose.HOS_CHECK)
    drivers = [make_driver(session, first_name=f"D{i}") for i in range(4)]
    make_campaign(session, drivers=drivers, now=NOW, max_concurrency=4)
    query_counter.reset()

    result = tick(Dialer(providers), now=NOW)

    assert (result.claimed, result.placed) == (4, 4)
    reads = [s for s in query_counter.statements if "FROM do_not_call" in s]
    # Two while deciding, then one per transaction of requests (one per claim before).
    assert len(reads) == 2 + transactions
    # The calls' prompt data (here: its recent safety events) and the claims' campaigns are
    # read once per transaction too (4 and 9 reads in this tick before, whatever the chunks).
    statements = query_counter.statements
    assert sum("FROM safety_event" in q for q in statements) == transactions
    assert sum("FROM call_campaign" in q for q in statements) == 5 + transactions
    # So are the claimed targets (locked together) and the agent profile the campaign picks
    # (one each per claim before).
    picks = [q for q in statements if "FROM call_agent_profile" in q and "LIMIT" in q]
    assert len(picks) == transactions
    whole_targets = [q for q in statements if " ".join(q.split()).startswith(WHOLE_TARGET)]
    assert len(whole_targets) == 1 + transactions  # the claim's own read while deciding
