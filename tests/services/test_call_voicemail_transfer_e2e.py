"""Voicemail and warm transfer over real HTTP against the sandbox VAPI: a call that reaches
voicemail leaves the carrier's message with the callback number (outcome `voicemail_left`); a
driver who reports a breakdown is put through to the on-call dispatcher (`transfer-update`),
recorded on the call and announced in the alert's Slack thread. What the hub sends VAPI is
checked against VAPI's published `AssistantOverrides` schema."""

from __future__ import annotations

import pytest

from tests.calls_support import finalized_call, live_api, place_alert_call, thread_replies, wait_for
from tests.vendor_specs import schema_errors

CALLBACK = "+12015550100"
ONCALL = "+12015550142"


@pytest.fixture
def live(committed_db, sandbox_clean):
    settings = {
        "CALL_CARRIER_NAME": "Acme Freight",
        "CALL_CALLBACK_NUMBER": CALLBACK,
        "CALL_TRANSFER_NUMBER": ONCALL,
    }
    with live_api(sandbox_clean, "vapi", **settings) as url:
        yield url, sandbox_clean


def _place(url: str, sandbox, phone: str) -> tuple[int, str]:
    return place_alert_call(url, sandbox, phone, "vapi")


def _sent_overrides(sandbox) -> dict:
    (create,) = [r for r in sandbox.requests("vapi") if r["method"] == "POST"]
    return create["json"]["assistantOverrides"]


def test_voicemail_gets_the_carrier_and_callback_number(live):
    url, sandbox = live
    call_id, thread = _place(url, sandbox, "+12015550127")
    call = wait_for(lambda: finalized_call(call_id), timeout=15)
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
    call = wait_for(lambda: finalized_call(call_id), timeout=15)
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
    call = wait_for(lambda: finalized_call(call_id), timeout=15)
    assert call is not None and call.outcome == "completed" and call.transferred_to is None
