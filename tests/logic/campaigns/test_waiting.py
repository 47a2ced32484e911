"""Why pending targets wait: each reason on hand-made data, and a due target the tick then dials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from logic.calls.campaigns import decide_and_claim
from logic.calls.placement import CallingPolicy
from logic.calls.waiting import waiting_reasons
from models.call import CallStatus
from models.campaign import CampaignStatus, CampaignTarget, TargetState
from tests.factories import make_driver
from tests.factories_calls import make_call, make_do_not_call
from tests.logic.campaigns.support import make_campaign

# 15:00 UTC on a December Thursday = 09:00 in Chicago, 07:00 in Los Angeles.
NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
POLICY = CallingPolicy()


def test_every_pending_target_is_counted_under_its_reason(session):
    capped, early, busy, blocked, later, due = (make_driver(session) for _ in range(6))
    pacific = make_driver(session, timezone="America/Los_Angeles")
    for _ in range(3):
        make_call(session, driver_id=capped.id, status=CallStatus.ENDED, created_at=NOW)
    make_call(session, driver_id=busy.id, status=CallStatus.RINGING, created_at=NOW)
    make_do_not_call(session, driver_id=blocked.id)
    campaign = make_campaign(
        session, drivers=[capped, early, busy, blocked, later, due, pacific], now=NOW
    )
    retry = next(
        t
        for t in session.scalars(
            select(CampaignTarget).where(CampaignTarget.campaign_id == campaign.id)
        )
        if t.driver_id == later.id
    )
    retry.next_attempt_at = NOW + timedelta(minutes=10)
    session.flush()

    reasons = waiting_reasons(session, campaign, now=NOW, policy=POLICY)

    assert reasons == {
        "active_call": 1,
        "daily_max": 1,
        "do_not_call": 1,
        "due": 2,  # `early` and `due`
        "outside_window": 1,  # 07:00 in Los Angeles
        "retry_later": 1,
    }
    # "due" means what the tick would dial now.
    result = decide_and_claim(session, now=NOW, policy=POLICY, max_dials=100)
    assert sorted(c.driver_id for c in result.claims) == sorted([early.id, due.id])


def test_concurrency_drafts_and_schedules(session):
    drivers = [make_driver(session) for _ in range(3)]
    full = make_campaign(session, drivers=drivers, now=NOW, max_concurrency=1)
    assert waiting_reasons(session, full, now=NOW, policy=POLICY) == {"concurrency": 2, "due": 1}
    draft = make_campaign(
        session, drivers=[make_driver(session)], now=NOW, status=CampaignStatus.DRAFT
    )
    assert waiting_reasons(session, draft, now=NOW, policy=POLICY) == {"campaign_draft": 1}
    later = make_campaign(
        session,
        drivers=[make_driver(session)],
        now=NOW,
        schedule_start_at=NOW + timedelta(hours=2),
    )
    assert waiting_reasons(session, later, now=NOW, policy=POLICY) == {"before_schedule": 1}
    for target in session.scalars(
        select(CampaignTarget).where(CampaignTarget.campaign_id == full.id)
    ):
        target.state = TargetState.DONE
    session.flush()
    assert waiting_reasons(session, full, now=NOW, policy=POLICY) == {}
