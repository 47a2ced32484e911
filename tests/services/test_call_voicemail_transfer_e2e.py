"""Voicemail and warm transfer over real HTTP against the sandbox VAPI: a call that reaches
voicemail leaves the carrier's message with the callback number (outcome `voicemail_left`); a
driver who reports a breakdown is put through to the on-call dispatcher (`transfer-update`),
recorded on the call and announced in the alert's Slack thread. What the hub sends VAPI is
checked against VAPI's published `AssistantOverrides` schema."""

from __future__ import annotations

import httpx
import pytest

from config import get_settings
from db.database import session_scope
from models.call import Call
from services.vendor_deps import current_settings
from tests.calls_support import (
    posted_alert,
    route_webhooks,
    sandbox_settings,
    serve_main_app,
    thread_replies,
    wait_for,
)
from tests.factories import make_driver
from tests.factories_auth import bearer_for, make_user
from tests.factories_calls import make_agent_profile
from tests.vendor_specs import schema_errors

CALLBACK = "+12015550100"
ONCALL = "+12015550142"


@pytest.fixture
def live(committed_db, sandbox_clean):
    from main import app as main_app

    settings = sandbox_settings(
        sandbox_clean,
        CALL_WINDOW_START="00:00",
        CALL_WINDOW_END="00:00",
        CALL_CARRIER_NAME="Acme Freight",
        CALL_CALLBACK_NUMBER=CALLBACK,
        CALL_TRANSFER_NUMBER=ONCALL,
    )
    main_app.dependency_overrides[current_settings] = lambda: settings
    url, stop = serve_main_app()
    route_webhooks(sandbox_clean, f"{url}/webhooks/vapi", vendors=("vapi",), delay=0.05)
    yield url, sandbox_clean
    stop()
    main_app.dependency_overrides.pop(current_settings, None)
    main_app.dependency_overrides.pop(get_settings, None)


def _place(url: str, sandbox, phone: str) -> tuple[int, str]:
    with session_scope() as session:
        headers = bearer_for(session, make_user(session, roles=["dispatcher"]))
        make_agent_profile(session, provider="vapi", purpose="late_load_check")
        driver = make_driver(session, phone=phone)
        alert = posted_alert(session, sandbox, driver_id=driver.id)
        driver_id, alert_id, thread = driver.id, alert.id, alert.slack_ts
    with httpx.Client(base_url=url, headers=headers, timeout=15) as api:
        placed = api.post(
            "/calls", json={"driver_id": driver_id, "provider": "vapi", "alert_id": alert_id}
        )
        assert placed.status_code == 201, placed.text
    return placed.json()["id"], thread


def _finalized(call_id: int) -> Call | None:
    with session_scope() as session:
        call = session.get(Call, call_id)
        return call if call.finalized_at is not None else None


def _sent_overrides(sandbox) -> dict:
    (create,) = [r for r in sandbox.requests("vapi") if r["method"] == "POST"]
    return create["json"]["assistantOverrides"]


def test_voicemail_gets_the_carrier_and_callback_number(live):
    url, sandbox = live
    call_id, thread = _place(url, sandbox, "+12015550127")
    call = wait_for(lambda: _finalized(call_id), timeout=15)
    assert call is not None and call.outcome == "voicemail_left"
    overrides = _sent_overrides(sandbox)
    assert overrides["voicemailDetection"] == {"provider": "vapi"}
    assert "Acme Freight" in overrides["voicemailMessage"]
    assert CALLBACK in overrides["voicemailMessage"]
    schema = {"$ref": "#/components/schemas/AssistantOverrides"}
    assert schema_errors("vapi-openapi.json", schema, overrides) == []
    replies = wait_for(
        lambda: [m for m in thread_replies(sandbox, thread) if "voicemail" in m["text"]]
    )
    assert replies and "voicemail left" in replies[0]["text"]


def test_a_breakdown_is_put_through_to_the_on_call_dispatcher(live):
    url, sandbox = live
    call_id, thread = _place(url, sandbox, "+12015550113")  # scenario 1: broke down
    call = wait_for(lambda: _finalized(call_id), timeout=15)
    assert call is not None and call.outcome == "completed"
    assert call.transferred_to == ONCALL and call.transferred_at is not None
    overrides = _sent_overrides(sandbox)
    (tool,) = overrides["tools:append"]
    assert tool["type"] == "transferCall" and tool["destinations"][0]["number"] == ONCALL
    assert "transfer-update" in overrides["serverMessages"]
    schema = {"$ref": "#/components/schemas/AssistantOverrides"}
    assert schema_errors("vapi-openapi.json", schema, overrides) == []
    announced = wait_for(
        lambda: [m for m in thread_replies(sandbox, thread) if "Transferred" in m["text"]]
    )
    assert announced and ONCALL in announced[0]["text"]


def test_a_driver_who_answers_normally_is_not_transferred(live):
    url, sandbox = live
    call_id, _ = _place(url, sandbox, "+12015550123")  # scenario 2: a delay, nothing urgent
    call = wait_for(lambda: _finalized(call_id), timeout=15)
    assert call is not None and call.outcome == "completed" and call.transferred_to is None
