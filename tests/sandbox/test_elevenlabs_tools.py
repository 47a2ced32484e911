"""The ElevenLabs fake's agents and their built-in system tools, against ElevenLabs' spec: an
agent patched with `voicemail_detection` and `transfer_to_number` reads back as
`GetAgentResponseModel`, and its conversations (voicemail reached on a number ending 7, a
breakdown put through) carry the tools' results as `GetConversationResponseModel` has them."""

from __future__ import annotations

import httpx
import pytest

from sandbox import elevenlabs_tools
from sandbox.credentials import ELEVENLABS_API_KEY
from tests.calls_support import route_webhooks, wait_for
from tests.vendor_specs import response_schema, schema_errors

SPEC = "elevenlabs-openapi.json"
AGENT = "/v1/convai/agents/{agent_id}"
CONVERSATION = "/v1/convai/conversations/{conversation_id}"
ONCALL = "+12015550142"
MESSAGE = "This is Acme Freight dispatch, please call us back at +12015550100."


def tools_config(*, voicemail_message: str | None = MESSAGE) -> dict:
    """An agent's `conversation_config` enabling voicemail detection and a transfer to ONCALL."""
    return elevenlabs_tools.tools_config(voicemail_message, ONCALL)


@pytest.fixture
def api(sandbox_clean):
    route_webhooks(sandbox_clean, None, vendors=("elevenlabs",))
    with httpx.Client(
        base_url=f"{sandbox_clean.url}/elevenlabs",
        headers={"xi-api-key": ELEVENLABS_API_KEY},
        timeout=10,
    ) as http:
        yield http


def _finished(api: httpx.Client, to_number: str, agent_id: str) -> dict:
    started = api.post(
        "/v1/convai/twilio/outbound-call",
        json={"agent_id": agent_id, "agent_phone_number_id": "phone-1", "to_number": to_number},
    ).json()

    def done():
        answer = api.get(f"/v1/convai/conversations/{started['conversation_id']}").json()
        return answer if answer["status"] == "done" else None

    conversation = wait_for(done, timeout=10)
    assert conversation is not None
    schema = response_schema(SPEC, CONVERSATION, "get", "200")
    assert schema_errors(SPEC, schema, conversation) == []
    return conversation


def _results(conversation: dict) -> list[dict]:
    return [r for turn in conversation["transcript"] for r in turn.get("tool_results") or []]


def test_a_patched_agent_reads_back_valid_with_its_tools(api):
    patched = api.patch(
        AGENT.format(agent_id="agent-x"), json={"conversation_config": tools_config()}
    )
    assert patched.status_code == 200
    read = api.get(AGENT.format(agent_id="agent-x")).json()
    assert read == patched.json()
    tools = read["conversation_config"]["agent"]["prompt"]["built_in_tools"]
    assert tools["voicemail_detection"]["params"]["voicemail_message"] == MESSAGE
    assert schema_errors(SPEC, response_schema(SPEC, AGENT, "get", "200"), read) == []


def test_voicemail_and_transfer_results_follow_the_spec(api):
    api.patch(AGENT.format(agent_id="agent-t"), json={"conversation_config": tools_config()})
    voicemail = _finished(api, "+12015550127", "agent-t")
    (result,) = _results(voicemail)
    assert result["type"] == "system" and result["tool_name"] == "voicemail_detection"
    assert result["result"]["result_type"] == "voicemail_detection_success"
    assert result["result"]["voicemail_message"] == MESSAGE

    transferred = _finished(api, "+12015550113", "agent-t")  # scenario 1: broke down
    (result,) = _results(transferred)
    assert result["result"]["result_type"] == "transfer_to_number_twilio_success"
    assert result["result"]["transfer_number"] == ONCALL

    calm = _finished(api, "+12015550123", "agent-t")  # scenario 2: a delay, nothing urgent
    assert _results(calm) == []


def test_an_agent_without_the_tools_just_talks(api):
    for number in ("+12015550127", "+12015550113"):
        conversation = _finished(api, number, "agent-plain")
        assert _results(conversation) == []
        assert any(turn["role"] == "user" for turn in conversation["transcript"])
