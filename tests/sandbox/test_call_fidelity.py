"""The call fakes against the specs' required fields, and their scripts against the insight
rules: between them, the demo fleet's calls exercise every rule."""

from __future__ import annotations

import json

from sandbox.call_scripts import script_for
from tests.calls_support import route_webhooks
from tests.factories_calls import sandbox_providers
from tests.sandbox.test_webhooks import Receiver
from utils.call_insights import ISSUES, Turn, extract_insights


def test_vapi_report_costs_carry_minutes_and_elevenlabs_override_is_an_object(sandbox_clean):
    receiver = Receiver()
    providers = sandbox_providers(sandbox_clean)
    try:
        route_webhooks(sandbox_clean, receiver.url)
        providers.vapi().create_call(
            assistant_id="a", phone_number_id="p", customer_number="+12015550123"
        )
        report = json.loads(receiver.take(4, timeout=10)[-1][1])["message"]
        assert report["type"] == "end-of-call-report"
        assert report["costs"] and all(
            {"type", "minutes", "cost"} <= set(item) for item in report["costs"]
        )
        assert all(item["minutes"] > 0 for item in report["costs"])
        providers.elevenlabs().outbound_call(
            agent_id="a", agent_phone_number_id="p", to_number="+12015550123"
        )
        event = json.loads(receiver.take(1, timeout=10)[0][1])
        override = event["data"]["conversation_initiation_client_data"][
            "conversation_config_override"
        ]
        assert isinstance(override, dict) and isinstance(override["agent"], dict)
    finally:
        providers.close()
        receiver.close()


def test_the_scripts_exercise_every_insight_rule():
    seen: dict[str, set] = {"issues": set(), "sources": set()}
    flags = {
        "delay": False,
        "on_time": False,
        "eta": False,
        "city": False,
        "ack": False,
        "dispute": False,
        "follow_up": False,
    }
    for digit in range(10):
        script = script_for(f"+120155501{digit}3", {"next_stop_city": "Tulsa"}, f"seed-{digit}")
        turns = [Turn(role, text) for role, text in script.turns]
        for structured in (script.structured, None):
            found = extract_insights(turns=turns, structured=structured, stop_cities=["Tulsa"])
            seen["sources"] |= {p["source"] for p in found.provenance().values()}
            if found.issues:
                seen["issues"] |= set(found.issues.value)
            if found.delay_minutes:
                flags["delay"] |= found.delay_minutes.value > 0
                flags["on_time"] |= found.delay_minutes.value == 0
            flags["eta"] |= found.eta is not None
            flags["city"] |= found.location is not None and found.location.value == "Tulsa"
            if found.violation_acknowledged:
                flags["ack"] |= found.violation_acknowledged.value is True
                flags["dispute"] |= found.violation_acknowledged.value is False
            flags["follow_up"] |= bool(found.needs_follow_up and found.needs_follow_up.value)
    assert seen["issues"] == set(ISSUES) - {"other"}
    assert seen["sources"] == {"structured", "transcript_rule"}
    assert all(flags.values()), flags
