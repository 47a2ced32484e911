"""The README's campaign over real HTTP: the API under uvicorn, the sandbox dialing and posting
signed webhooks to it. "Drivers with HOS violations in the last 7 days" are called; outcomes
arrive by webhook only, and the ticks move targets on until the campaign completes with every
target done or failed after its attempts — and the escalation ladder's call, ended by webhook,
threads the driver's delay into the alert's Slack thread and acknowledges the alert."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from config import get_settings
from db.database import session_scope
from helpers.time_utils import format_duration, utc_now
from logic.calls.campaigns import run_tick
from models.alert import Alert, AlertDelivery, AlertStatus
from models.call import ACTIVE_CALL_STATUSES, Call, CallInsight, CallProvider, CallPurpose
from services.vendor_deps import current_settings
from tests.calls_support import (
    posted_alert,
    route_webhooks,
    sandbox_settings,
    serve_main_app,
    thread_replies,
    wait_for,
)
from tests.factories import make_driver, make_stop, make_trip, make_violation
from tests.factories_auth import bearer_for, make_user
from tests.factories_calls import make_agent_profile


@pytest.fixture
def live(committed_db, sandbox_clean):
    from main import app as main_app

    settings = sandbox_settings(
        sandbox_clean,
        CALL_WINDOW_START="00:00",
        CALL_WINDOW_END="00:00",
        SLACK_ONCALL_GROUP_ID="S0ONCALL",
    )
    main_app.dependency_overrides[current_settings] = lambda: settings
    url, stop = serve_main_app()
    route_webhooks(sandbox_clean, f"{url}/webhooks/vapi", vendors=("vapi",), delay=0.05)
    yield url, sandbox_clean, settings
    stop()
    main_app.dependency_overrides.pop(get_settings, None)


def calls_settled() -> bool:
    with session_scope() as session:
        calls = session.scalars(select(Call)).all()
        return bool(calls) and all(
            c.status not in ACTIVE_CALL_STATUSES and c.finalized_at for c in calls
        )


def test_hos_campaign_runs_to_completion_on_webhooks(live):
    url, _, settings = live
    with session_scope() as session:
        make_agent_profile(session, provider=CallProvider.VAPI, purpose=CallPurpose.HOS_CHECK)
        # The sandbox answers by the number's last digit: 3 talks, 9 no answer, 8 busy.
        for phone in ("+12015550123", "+12015550129", "+12015550128"):
            driver = make_driver(session, phone=phone, timezone="America/Chicago")
            make_violation(session, driver=driver, started_at=utc_now() - timedelta(days=2))
        headers = bearer_for(session, make_user(session, roles=["safety_manager"]))
    http = httpx.Client(base_url=url, headers=headers, timeout=30)

    created = http.post(
        "/campaigns",
        json={
            "name": "HOS check-in",
            "purpose": "hos_check",
            "audience": {"kind": "hos_violations", "days": 7},
            "window_start": "00:00",
            "window_end": "00:00",
            "max_attempts": 2,
            "retry_no_answer_minutes": 1,
            "retry_busy_minutes": 1,
        },
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    assert http.post(f"/campaigns/{campaign_id}/start").json()["status"] == "running"

    first = http.post("/campaigns/tick").json()  # a user with campaigns:write may tick
    assert first["placed"] == 3, first
    assert wait_for(calls_settled, timeout=20), "the sandbox calls did not end by webhook"

    # The retries come due a minute after each ended call; the ticks run on a later clock.
    second = run_tick(settings, now=utc_now() + timedelta(minutes=2))
    assert second.advanced == {"done": 1, "pending": 2} and second.placed == 2
    assert wait_for(calls_settled, timeout=20)
    third = run_tick(settings, now=utc_now() + timedelta(minutes=4))
    assert third.advanced == {"failed": 2} and third.completed == [campaign_id]

    detail = http.get(f"/campaigns/{campaign_id}").json()
    assert detail["status"] == "completed" and detail["calls_placed"] == 5
    assert detail["progress"]["by_state"]["done"] == 1
    assert detail["progress"]["by_state"]["failed"] == 2
    assert detail["progress"]["by_outcome"] == {"completed": 1, "no_answer": 1, "busy": 1}
    targets = http.get(f"/campaigns/{campaign_id}/targets", params={"state": "failed"}).json()
    assert sorted(t["attempts"] for t in targets["items"]) == [2, 2]


def test_ladder_call_ends_by_webhook_threads_the_delay_and_acknowledges(live):
    _, sandbox, settings = live
    with session_scope() as session:
        make_agent_profile(session, provider=CallProvider.VAPI, purpose=CallPurpose.LATE_LOAD_CHECK)
        driver = make_driver(session, first_name="Rosa")
        trip = make_trip(session, driver=driver, load_number="L-7781")
        make_stop(session, trip=trip, sequence=1, city="Dallas", state="TX")
        alert = posted_alert(session, sandbox, driver_id=driver.id)
        alert.trip_id = trip.id
        alert_id, ts = alert.id, alert.slack_ts

    # The built-in late-load ladder: the check call 20 minutes after the post.
    placed = run_tick(settings, now=utc_now() + timedelta(minutes=21))
    assert placed.ladder["placed"] == 1
    assert wait_for(calls_settled, timeout=20), "the ladder call did not end by webhook"

    after = run_tick(settings, now=utc_now() + timedelta(minutes=22))

    assert after.ladder["acknowledged"] == 1
    with session_scope() as session:
        stored = session.get(Alert, alert_id)
        assert stored.status == AlertStatus.ACKNOWLEDGED
        call = session.scalars(select(Call).where(Call.alert_id == alert_id)).one()
        queued = [
            d.payload.get("text", "")
            for d in session.scalars(
                select(AlertDelivery).where(AlertDelivery.alert_id == alert_id)
            )
        ]
    # The ladder's own notice is queued at the tick's (test) clock; the call's outcome, with
    # the driver's reported delay, is already in the Slack thread.
    assert any("AI check call to Rosa" in t for t in queued), queued
    texts = [m["text"] for m in wait_for(lambda: thread_replies(sandbox, ts), timeout=10)]
    assert call.outcome == "completed"
    with session_scope() as session:
        delay = session.scalars(
            select(CallInsight.reported_delay_minutes).where(CallInsight.call_id == call.id)
        ).one()
    # The delay as people read it ("45 min", "1 h"): the sandbox driver's words vary by number.
    said = f"Driver reported: {format_duration(delay)} late"
    assert any(said in t and "completed" in t for t in texts), (said, texts)
