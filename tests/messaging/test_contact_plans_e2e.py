"""Contact plans over real HTTP against the sandbox, run to each ending: the in-cab message read,
the AI call answered, the driver texting back after a missed call (the issue's walk, through the
escalation ladder), the on-call paged; STOP first, then the plan sends no text. Plans are
administered over the API (calls:admin, audited)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from config import get_settings
from db.database import session_scope
from helpers.time_utils import utc_now
from models.alert import AlertRule
from models.audit_log import AuditLog
from models.contact_plan import ContactRun
from models.trip import Trip
from services.vendor_deps import current_settings
from tests.calls_support import (
    posted_alert,
    route_webhooks,
    sandbox_settings,
    serve_main_app,
    thread_replies,
    wait_for,
)
from tests.factories import make_driver, make_stop, make_trip
from tests.factories_auth import bearer_for, make_user
from tests.factories_calls import make_agent_profile

GROUP = "S0ONCALL1"


@pytest.fixture
def live(committed_db, sandbox_clean):
    from main import app as main_app

    url, stop = serve_main_app()
    settings = sandbox_settings(
        sandbox_clean,
        MESSAGE_WINDOW_START="00:00",
        MESSAGE_WINDOW_END="00:00",
        CALL_WINDOW_START="00:00",
        CALL_WINDOW_END="00:00",
        SLACK_ONCALL_GROUP_ID=GROUP,
        TWILIO_WEBHOOK_BASE_URL=url,
    )
    main_app.dependency_overrides[current_settings] = lambda: settings
    route_webhooks(sandbox_clean, f"{url}/webhooks/twilio", vendors=("twilio",))
    route_webhooks(sandbox_clean, f"{url}/webhooks/vapi", vendors=("vapi",), delay=0.05)
    with session_scope() as session:
        admin = bearer_for(session, make_user(session, roles=["admin"]))
        make_agent_profile(session, provider="vapi", purpose="late_load_check")
    with httpx.Client(base_url=url, headers=admin, timeout=20) as api:
        yield api, sandbox_clean
    stop()
    main_app.dependency_overrides.pop(current_settings, None)
    main_app.dependency_overrides.pop(get_settings, None)


def _plan(api: httpx.Client, name: str, steps: list[dict], purpose: str | None = None) -> int:
    response = api.post("/contact-plans", json={"name": name, "purpose": purpose, "steps": steps})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _start(api: httpx.Client, driver_id: int, plan_id: int, **extra) -> int:
    response = api.post(
        f"/drivers/{driver_id}/contact-runs",
        json={"plan_id": plan_id, "purpose": "late_load_check", **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _run(api: httpx.Client, run_id: int) -> dict:
    return api.get(f"/contact-runs/{run_id}").raise_for_status().json()


def _tick_until(api: httpx.Client, run_id: int, predicate, timeout: float = 15.0) -> dict:
    def ticked():
        api.post("/messages/tick").raise_for_status()
        run = _run(api, run_id)
        return run if predicate(run) else None

    run = wait_for(ticked, timeout=timeout, step=0.2)
    assert run, _run(api, run_id)
    return run


def _driver(sandbox, phone: str | None, *, samsara: bool = False) -> tuple[int, int]:
    with session_scope() as session:
        samsara_id = sandbox.simulator.drivers[0].samsara_id if samsara else None
        driver = make_driver(session, phone=phone, samsara_id=samsara_id)
        trip = make_trip(session, driver=driver)
        make_stop(session, trip=trip, sequence=1, city="Dallas")
        return driver.id, trip.id


def test_a_plan_ends_when_the_in_cab_message_is_read(live):
    api, sandbox = live
    driver_id, _ = _driver(sandbox, "+12015550123", samsara=True)
    plan = _plan(api, "read first", [{"kind": "in_cab_message", "wait_minutes": 10}])
    run_id = _start(api, driver_id, plan)
    run = _tick_until(api, run_id, lambda r: r["current_message_id"])
    assert run["status"] == "active" and run["history"][0]["result"] == "started"
    samsara_id = int(sandbox.simulator.drivers[0].samsara_id)
    assert wait_for(lambda: [r for r in sandbox.requests("samsara") if r["method"] == "POST"]), (
        "the in-cab message was not sent"
    )
    httpx.post(
        f"{sandbox.url}/_sandbox/samsara/messages/read", json={"driverId": samsara_id}
    ).raise_for_status()
    run = _tick_until(api, run_id, lambda r: r["status"] == "ended")
    assert run["outcome"] == "read"


def test_a_plan_ends_when_the_ai_call_is_answered(live):
    api, sandbox = live
    driver_id, _ = _driver(sandbox, "+12015550123")
    plan = _plan(
        api,
        "call then text",
        [{"kind": "ai_call", "wait_minutes": 10}, {"kind": "sms", "wait_minutes": 20}],
    )
    run_id = _start(api, driver_id, plan)
    run = _tick_until(api, run_id, lambda r: r["status"] == "ended", timeout=25)
    assert run["outcome"] == "answered"
    assert [h["kind"] for h in run["history"]] == ["ai_call"]  # no text after an answer


def test_the_issue_walk_message_call_sms_and_the_text_back(live):
    """An escalation whose plan is in-cab message → AI call → SMS: the driver reads nothing,
    misses the call (number ending 9), texts back; the reply is in the conversation, the
    alert's Slack thread and on the trip (delay 120 min)."""
    api, sandbox = live
    driver_id, trip_id = _driver(sandbox, "+12015550129", samsara=True)
    plan = _plan(
        api,
        "late load chain",
        [
            {"kind": "in_cab_message", "wait_minutes": 0},
            {"kind": "ai_call", "wait_minutes": 10},
            {"kind": "sms", "wait_minutes": 20, "text": "Missed you. How is the load going?"},
            {"kind": "page_oncall"},
        ],
        purpose="late_load_check",
    )
    with session_scope() as session:
        alert = posted_alert(session, sandbox, driver_id=driver_id)
        alert.trip_id = trip_id
        alert_id, thread = alert.id, alert.slack_ts
        rule = AlertRule(
            name="late with a plan",
            type="late_for_appointment",
            escalation_steps=[
                {"kind": "contact_plan", "after_minutes": 0, "contact_plan_id": plan}
            ],
            created_at=utc_now(),
            updated_at=utc_now(),
        )
        session.add(rule)
        session.flush()
        alert.rule_id = rule.id
    api.post("/messages/tick").raise_for_status()
    with session_scope() as session:
        run_id = session.scalars(select(ContactRun.id).where(ContactRun.alert_id == alert_id)).one()
    run = _tick_until(api, run_id, lambda r: r["current_message_id"] and r["step_index"] == 2)
    assert [h["kind"] for h in run["history"]] == ["in_cab_message", "ai_call", "sms"]
    httpx.post(
        f"{sandbox.url}/_sandbox/twilio/inbound",
        json={"from": "+12015550129", "body": "stuck at the shipper, 2 hours"},
    ).raise_for_status()
    run = _tick_until(api, run_id, lambda r: r["status"] == "ended")
    assert run["outcome"] == "replied"

    items = api.get(f"/drivers/{driver_id}/conversation", params={"sort": "at"}).json()["items"]
    assert [(i["kind"], i["channel"], i["direction"]) for i in items] == [
        ("message", "samsara_message", "outbound"),
        ("call", "vapi", "outbound"),
        ("message", "sms", "outbound"),
        ("message", "sms", "inbound"),
    ]
    assert items[1]["outcome"] == "no_answer"
    assert items[3]["contact_run_id"] == run_id and items[3]["alert_id"] == alert_id
    assert items[3]["insight"]["reported_delay_minutes"] == 120
    posted = wait_for(
        lambda: [m for m in thread_replies(sandbox, thread) if "stuck at the shipper" in m["text"]]
    )
    assert posted
    with session_scope() as session:
        assert session.get(Trip, trip_id).driver_reported_delay_minutes == 120


def test_a_plan_nobody_answers_pages_the_on_call(live):
    api, sandbox = live
    driver_id, _ = _driver(sandbox, "+12015550123")
    with session_scope() as session:
        alert = posted_alert(session, sandbox, driver_id=driver_id)
        alert_id, thread = alert.id, alert.slack_ts
    plan = _plan(
        api, "text then page", [{"kind": "sms", "wait_minutes": 0}, {"kind": "page_oncall"}]
    )
    run_id = _start(api, driver_id, plan, alert_id=alert_id)
    run = _tick_until(api, run_id, lambda r: r["status"] == "ended")
    assert run["outcome"] == "paged"
    assert wait_for(
        lambda: [m for m in thread_replies(sandbox, thread) if f"<!subteam^{GROUP}>" in m["text"]]
    )


def test_after_stop_a_plan_sends_no_text(live):
    api, sandbox = live
    driver_id, _ = _driver(sandbox, "+12015550123")
    httpx.post(
        f"{sandbox.url}/_sandbox/twilio/inbound", json={"from": "+12015550123", "body": "STOP"}
    ).raise_for_status()
    with session_scope() as session:
        alert_id = posted_alert(session, sandbox, driver_id=driver_id).id

    def confirmed():
        return [r for r in sandbox.requests("twilio") if r["method"] == "POST"]

    assert wait_for(confirmed)  # the one confirmation of the opt-out
    plan = _plan(api, "text only", [{"kind": "sms", "wait_minutes": 5}, {"kind": "page_oncall"}])
    run_id = _start(api, driver_id, plan, alert_id=alert_id)
    run = _tick_until(api, run_id, lambda r: r["status"] == "ended")
    assert run["history"][0] == {**run["history"][0], "result": "refused"}
    assert run["history"][0]["reason"] == "sms_opted_out"
    assert run["outcome"] == "paged"
    assert len(confirmed()) == 1


def test_plans_are_administered_and_audited(live):
    api, _ = live
    plan = _plan(api, "admin", [{"kind": "sms"}], purpose="hos_check")
    (step,) = api.get(f"/contact-plans/{plan}").json()["steps"]
    assert (step["kind"], step["wait_minutes"]) == ("sms", 10)
    bad = api.post("/contact-plans", json={"name": "x", "steps": [{"kind": "fax"}]})
    assert bad.status_code == 422
    wrong_purpose = api.post(
        "/contact-plans", json={"name": "y", "purpose": "sales", "steps": [{"kind": "sms"}]}
    )
    assert wrong_purpose.status_code == 422
    assert (
        api.post("/contact-plans", json={"name": "admin", "steps": [{"kind": "sms"}]}).status_code
        == 409
    )
    changed = api.patch(f"/contact-plans/{plan}", json={"enabled": False})
    assert changed.json()["enabled"] is False
    assert api.get("/contact-plans").json()["total"] == 1
    assert api.delete(f"/contact-plans/{plan}").status_code == 204
    assert api.get(f"/contact-plans/{plan}").status_code == 404
    with session_scope() as session:
        actions = session.scalars(
            select(AuditLog.action)
            .where(AuditLog.resource_type == "contact_plan")
            .order_by(AuditLog.id)  # not heap order: the cleanup's DELETEs leave it to chance
        ).all()
    assert actions == ["contact_plan.create", "contact_plan.update", "contact_plan.delete"]


def test_stop_then_a_campaign_with_a_plan_sends_no_text(live):
    """A campaign running a contact plan hands its driver to the plan; a driver who texted
    STOP gets no text from it (only the one confirmation of the opt-out)."""
    api, sandbox = live
    driver_id, _ = _driver(sandbox, "+12015550123")
    httpx.post(
        f"{sandbox.url}/_sandbox/twilio/inbound", json={"from": "+12015550123", "body": "STOP"}
    ).raise_for_status()

    def texts():
        return [r for r in sandbox.requests("twilio") if r["method"] == "POST"]

    assert wait_for(texts)  # the confirmation
    plan = _plan(api, "campaign check-in", [{"kind": "sms", "wait_minutes": 5}])
    created = api.post(
        "/campaigns",
        json={
            "name": "check-in by text",
            "purpose": "late_load_check",
            "contact_plan_id": plan,
            "audience": {"kind": "drivers", "driver_ids": [driver_id]},
            "window_start": "00:00",
            "window_end": "00:00",
        },
    )
    assert created.status_code == 201, created.text
    campaign = created.json()["id"]
    assert created.json()["contact_plan_id"] == plan
    api.post(f"/campaigns/{campaign}/start").raise_for_status()
    api.post("/campaigns/tick").raise_for_status()
    (target,) = api.get(f"/campaigns/{campaign}/targets").json()["items"]
    assert (target["state"], target["last_outcome"]) == ("done", "contact_plan")
    with session_scope() as session:
        run_id = session.scalars(
            select(ContactRun.id).where(ContactRun.campaign_id == campaign)
        ).one()
    run = _tick_until(api, run_id, lambda r: r["status"] == "ended")
    assert run["history"][0]["reason"] == "sms_opted_out" and run["outcome"] == "exhausted"
    assert len(texts()) == 1
    missing = api.post(
        "/campaigns",
        json={
            "name": "x",
            "purpose": "late_load_check",
            "contact_plan_id": 999999,
            "audience": {"kind": "drivers", "driver_ids": [driver_id]},
        },
    )
    assert missing.status_code == 422
