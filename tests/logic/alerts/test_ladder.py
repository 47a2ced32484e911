"""The escalation ladder end to end with sandbox calls: the AI check call after N unacknowledged
minutes, its outcome threaded into the alert and acknowledging it, the on-call page, and every
skip reason (window, do-not-call, no driver, no purpose, no on-call group, no profile)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from config import get_settings
from helpers.time_utils import format_duration
from logic.alerts.ladder import acknowledge_answered
from logic.calls.dialing import Dialer, dial_many
from logic.calls.ladder_calls import record_ladder_dials, run_ladder_with_calls
from logic.calls.placement import CallingPolicy
from logic.calls.reconcile import reconcile_call
from models.alert import Alert, AlertDelivery, AlertRule, AlertStatus, AlertType, DeliveryKind
from models.alert_ladder import AlertLadderStep, LadderStepStatus
from models.call import Call, CallInsight, CallOutcome, CallProvider, CallPurpose, CallStatus
from tests.factories import make_driver, make_stop, make_trip
from tests.factories_calls import make_agent_profile, make_call, sandbox_providers

T0 = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # first Slack post: 09:00 in Chicago


@pytest.fixture
def providers(sandbox_clean):
    # Calls play through quickly; no webhook URL: the test polls, as reconciliation does.
    httpx.post(
        f"{sandbox_clean.url}/_sandbox/webhooks",
        json={"vendor": "vapi", "url": None, "delay_seconds": 0.02},
    ).raise_for_status()
    built = sandbox_providers(sandbox_clean)
    yield built
    built.close()


def posted_alert(session, driver=None, *, type=AlertType.LATE_FOR_APPOINTMENT, trip=None):
    alert = Alert(
        type=type,
        severity="critical",
        status=AlertStatus.OPEN,
        fingerprint=f"{type}:test:{time.monotonic_ns()}",
        driver_id=driver.id if driver else None,
        trip_id=trip.id if trip else None,
        title=f"Late for appointment: {trip.load_number if trip else 'x'}",
        first_seen_at=T0,
        last_seen_at=T0,
        notified_at=T0,
        slack_channel="#fleet-alerts",
        slack_ts="1700000000.000100",
        created_at=T0,
        updated_at=T0,
    )
    session.add(alert)
    session.flush()
    return alert


def replies(session, alert) -> list[str]:
    rows = session.scalars(
        select(AlertDelivery)
        .where(AlertDelivery.alert_id == alert.id, AlertDelivery.kind == DeliveryKind.REPLY)
        .order_by(AlertDelivery.id)
    )
    return [d.payload["text"] for d in rows]


def climb(providers, *, now):
    """The dialer tick's ladder part: steps request their calls, the dialer places them."""
    result = run_ladder_with_calls(policy=CallingPolicy(), now=now)
    statuses = dial_many(result.call_ids, Dialer(providers), now=now)
    record_ladder_dials(result, statuses, now=now)
    return result


def steps(session, alert) -> list[AlertLadderStep]:
    session.expire_all()
    return AlertLadderStep.for_alert(session, alert.id)


def wait_for_report(providers, call: Call) -> None:
    """Wait until the sandbox call has its end-of-call analysis, then reconcile it (a poll)."""
    deadline = time.monotonic() + 10
    while "analysis" not in providers.vapi().get_call(call.provider_call_id).raw:
        assert time.monotonic() < deadline, "the sandbox call did not end"
        time.sleep(0.05)
    assert reconcile_call(providers, call.id, now=T0 + timedelta(minutes=24)) == "filled"


def test_late_load_alert_climbs_to_an_ai_call_that_acknowledges_it(session, providers):
    make_agent_profile(session, provider=CallProvider.VAPI, purpose=CallPurpose.LATE_LOAD_CHECK)
    driver = make_driver(session, first_name="Rosa")
    trip = make_trip(session, driver=driver, load_number="L-4471")
    make_stop(session, trip=trip, sequence=1, city="Dallas", state="TX")
    alert = posted_alert(session, driver, trip=trip)

    assert climb(providers, now=T0 + timedelta(minutes=19)).due == 0
    result = climb(providers, now=T0 + timedelta(minutes=20))

    assert (result.due, result.placed) == (1, 1)
    (step,) = steps(session, alert)
    call = session.get(Call, step.call_id)
    assert step.status == LadderStepStatus.PLACED
    assert (call.alert_id, call.trip_id, call.purpose) == (alert.id, trip.id, "late_load_check")
    assert call.status == CallStatus.DIALING
    assert "AI check call to Rosa" in replies(session, alert)[-1]
    assert session.get(Alert, alert.id).decisions[-1]["decision"] == "ladder_call"
    # A second pass (another instance) takes nothing more.
    assert climb(providers, now=T0 + timedelta(minutes=21)).placed == 0

    wait_for_report(providers, call)
    session.expire_all()
    insight = CallInsight.for_call(session, call.id)
    assert insight is not None and insight.reported_delay_minutes is not None
    # The calls code threaded the outcome, with the driver's reported delay, into the alert.
    thread = replies(session, alert)[-1]
    late = format_duration(insight.reported_delay_minutes)
    assert "completed" in thread and f"{late} late" in thread

    after = climb(providers, now=T0 + timedelta(minutes=25))

    assert after.acknowledged == 1
    session.expire_all()
    stored = session.get(Alert, alert.id)
    assert stored.status == AlertStatus.ACKNOWLEDGED and stored.acknowledged_at is not None
    assert stored.decisions[-1]["reason"] == (
        f"by the AI check call: driver reported {format_duration(insight.reported_delay_minutes)}"
        " delay"
    )
    assert steps(session, alert)[0].status == LadderStepStatus.ACKNOWLEDGED
    # Acknowledged: the page step never comes.
    assert climb(providers, now=T0 + timedelta(minutes=50)).due == 0


def test_skipped_steps_are_recorded_with_their_reason(session, providers, monkeypatch):
    make_agent_profile(session, provider=CallProvider.VAPI, purpose=CallPurpose.LATE_LOAD_CHECK)
    asleep = posted_alert(session, make_driver(session, timezone="Asia/Tokyo"))
    blocked = posted_alert(session, make_driver(session, do_not_call=True))
    nobody = posted_alert(session, None)
    session.add(
        AlertRule(
            name="stale gps ladder",
            type=AlertType.GPS_STALE,
            escalation_steps=[{"kind": "ai_call", "after_minutes": 5}],
            created_at=T0,
            updated_at=T0,
        )
    )
    session.flush()
    stale = posted_alert(session, make_driver(session), type=AlertType.GPS_STALE)
    monkeypatch.setattr(get_settings(), "SLACK_ONCALL_GROUP_ID", "")

    result = climb(providers, now=T0 + timedelta(minutes=45))

    assert result.placed == 0
    reasons = {
        a.id: [(s.kind, s.status, s.reason) for s in steps(session, a)]
        for a in (asleep, blocked, nobody, stale)
    }
    no_group = "no on-call Slack group configured (SLACK_ONCALL_GROUP_ID)"
    (kind, status, why), page = reasons[asleep.id]
    assert (kind, status) == ("ai_call", "skipped") and "(Asia/Tokyo)" in why
    assert page == ("page_oncall", "skipped", no_group)
    assert "is on do-not-call" in reasons[blocked.id][0][2]
    assert reasons[nobody.id][0][2] == "the alert names no driver"
    no_purpose = "no check-call purpose for gps_stale alerts"
    assert reasons[stale.id] == [("ai_call", "skipped", no_purpose)]
    session.expire_all()
    decisions = session.get(Alert, asleep.id).decisions
    assert [d["decision"] for d in decisions] == ["ladder_step_skipped", "ladder_step_skipped"]
    assert "Asia/Tokyo" in decisions[0]["reason"]


def test_no_agent_profile_is_a_skip_and_the_on_call_is_paged(session, providers, monkeypatch):
    monkeypatch.setattr(get_settings(), "SLACK_ONCALL_GROUP_ID", "S0ONCALL")
    alert = posted_alert(session, make_driver(session))

    result = climb(providers, now=T0 + timedelta(minutes=45))

    assert result.paged == 1
    call_step, page_step = steps(session, alert)
    assert call_step.status == "skipped" and "no enabled vapi agent profile" in call_step.reason
    assert page_step.status == LadderStepStatus.PAGED
    assert replies(session, alert)[-1].startswith("<!subteam^S0ONCALL> on-call:")
    assert session.scalars(select(Call)).all() == []


@pytest.mark.parametrize(
    ("outcome", "status"),
    [(CallOutcome.NO_ANSWER, "unanswered"), (CallOutcome.COMPLETED, "answered")],
)
def test_an_ended_call_that_does_not_acknowledge_says_whether_it_was_answered(
    session, outcome, status
):
    """A step whose reason reads "call no_answer" is `unanswered`, never `answered`."""
    driver = make_driver(session)
    alert = posted_alert(session, driver)
    call = make_call(
        session,
        driver_id=driver.id,
        status=CallStatus.ENDED,
        outcome=outcome,
        finalized_at=T0,
        alert_id=alert.id,
    )
    session.add(
        AlertLadderStep(
            alert_id=alert.id,
            step_index=0,
            kind="ai_call",
            status=LadderStepStatus.PLACED,
            call_id=call.id,
            acknowledge_on="eta_reported",
        )
    )
    session.flush()

    assert acknowledge_answered(session, now=T0 + timedelta(minutes=30)) == 0

    [step] = steps(session, alert)
    assert step.status == status
    assert step.reason == f"call {outcome}; alert not acknowledged by it"
