"""The sandbox ElevenLabs agents' settings and what their built-in system tools
(`voicemail_detection`, `transfer_to_number`) leave in a conversation's transcript, per the spec."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from sandbox.call_scripts import Script

DEFAULT_NAME = "Fleet Dispatch Agent"

_lock = threading.Lock()
_agents: dict[str, dict[str, Any]] = {}


TRANSFER_CONDITION = (
    "The driver asks for a person, or reports a breakdown, an accident, an injury or a health "
    "problem."
)


def tools_config(voicemail_message: str | None, transfer_number: str | None) -> dict[str, Any]:
    """An agent's `conversation_config` with voicemail detection (leaving `voicemail_message`,
    or hanging up without one) and, given a number, a conference transfer to it — what an
    operator sets on an ElevenLabs agent (`PATCH /v1/convai/agents/{agent_id}`)."""
    tools: dict[str, Any] = {
        "voicemail_detection": {
            "type": "system",
            "name": "voicemail_detection",
            "description": "Leave a message when voicemail answers.",
            "params": {
                "system_tool_type": "voicemail_detection",
                "voicemail_message": voicemail_message,
            },
        }
    }
    if transfer_number:
        tools["transfer_to_number"] = {
            "type": "system",
            "name": "transfer_to_number",
            "description": "Put the driver through to the on-call dispatcher.",
            "params": {
                "system_tool_type": "transfer_to_number",
                "transfers": [
                    {
                        "transfer_destination": {"type": "phone", "phone_number": transfer_number},
                        "condition": TRANSFER_CONDITION,
                        "transfer_type": "conference",
                    }
                ],
            },
        }
    return {"agent": {"prompt": {"built_in_tools": tools}}}


def reset() -> None:
    with _lock:
        _agents.clear()


def export() -> dict[str, Any]:
    with _lock:
        return json.loads(json.dumps(_agents))


def restore(data: dict[str, Any]) -> None:
    with _lock:
        _agents.clear()
        _agents.update(data)


def _merge(into: dict[str, Any], changes: dict[str, Any]) -> None:
    """PATCH semantics: nested objects are merged, anything else replaced."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = json.loads(json.dumps(value))


def _public(agent_id: str, agent: dict[str, Any] | None) -> dict[str, Any]:
    """`GetAgentResponseModel`: an agent never patched exists with an empty configuration
    (the fake places calls for any agent id)."""
    agent = agent or {"name": DEFAULT_NAME, "conversation_config": {}, "tags": []}
    return {
        "agent_id": agent_id,
        "name": agent["name"],
        "conversation_config": agent["conversation_config"],
        "metadata": {"created_at_unix_secs": agent.get("created", int(time.time()))},
        "tags": agent.get("tags", []),
    }


def get_agent(agent_id: str) -> dict[str, Any]:
    with _lock:
        return json.loads(json.dumps(_public(agent_id, _agents.get(agent_id))))


def patch_agent(agent_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        agent = _agents.setdefault(
            agent_id,
            {
                "name": DEFAULT_NAME,
                "conversation_config": {},
                "tags": [],
                "created": int(time.time()),
            },
        )
        _merge(agent["conversation_config"], changes.get("conversation_config") or {})
        if changes.get("name"):
            agent["name"] = changes["name"]
        if changes.get("tags") is not None:
            agent["tags"] = list(changes["tags"])
        return json.loads(json.dumps(_public(agent_id, agent)))


def built_in_params(agent_id: str, tool: str) -> dict[str, Any] | None:
    """The `params` of the agent's built-in system tool `tool`, None when it is not enabled."""
    with _lock:
        config = (_agents.get(agent_id) or {}).get("conversation_config") or {}
        prompt = (config.get("agent") or {}).get("prompt") or {}
        found = (prompt.get("built_in_tools") or {}).get(tool)
        return json.loads(json.dumps(found.get("params") or {})) if found else None


def transfer_number(params: dict[str, Any] | None) -> str | None:
    """The first phone destination of a `transfer_to_number` tool (or its deprecated
    `phone_number`)."""
    for transfer in (params or {}).get("transfers") or []:
        destination = transfer.get("transfer_destination") or {}
        if destination.get("type", "phone") == "phone" and destination.get("phone_number"):
            return str(destination["phone_number"])
        if transfer.get("phone_number"):
            return str(transfer["phone_number"])
    return None


def _tool_turn(tool: str, message: str, params: dict[str, Any], result: dict[str, Any]):
    """An agent turn that called system tool `tool` and got `result`."""
    request_id = f"{tool}_{uuid.uuid4().hex[:12]}"
    return {
        "role": "agent",
        "message": message,
        "tool_calls": [
            {
                "type": "system",
                "request_id": request_id,
                "tool_name": tool,
                "params_as_json": json.dumps(params),
                "tool_has_been_called": True,
                "tool_details": None,
            }
        ],
        "tool_results": [
            {
                "type": "system",
                "request_id": request_id,
                "tool_name": tool,
                "result_value": json.dumps(result),
                "is_error": False,
                "tool_has_been_called": True,
                "tool_latency_secs": 0.4,
                "dynamic_variable_updates": [],
                "result": result,
            }
        ],
        "interrupted": False,
    }


def _plain_turn(role: str, text: str) -> dict[str, Any]:
    return {
        "role": role,
        "message": text,
        "tool_calls": [],
        "tool_results": [],
        "interrupted": False,
    }


def voicemail_transcript(params: dict[str, Any], first_message: str) -> list[dict[str, Any]]:
    """Voicemail answers; the tool leaves the agent's configured message (none: the call ends)."""
    message = params.get("voicemail_message") or None
    result = {
        "result_type": "voicemail_detection_success",
        "status": "success",
        "voicemail_message": message,
        "reason": "Voicemail greeting detected",
    }
    turns = [
        _plain_turn("agent", first_message),
        _plain_turn("user", "You've reached my voicemail. Please leave a message after the tone."),
        _tool_turn("voicemail_detection", message or "", {"reason": result["reason"]}, result),
    ]
    return [{**turn, "time_in_call_secs": index * 6} for index, turn in enumerate(turns)]


def transfer_transcript(script: Script, number: str) -> list[dict[str, Any]]:
    """The driver's urgent report, then the agent puts the call through to `number`."""
    said = "I'm connecting you with the on-call dispatcher now."
    reason = "The driver reported an urgent problem."
    result = {
        "result_type": "transfer_to_number_twilio_success",
        "status": "success",
        "transfer_number": number,
        "reason": reason,
        "client_message": said,
        "agent_message": "Transferring a driver who reported an urgent problem.",
        "conference_name": "transfer_" + uuid.uuid4().hex[:16],
        "note": None,
    }
    params = {"transfer_number": number, "reason": reason}
    turns = [_plain_turn(role, text) for role, text in script.turns[:-1]]
    turns.append(_tool_turn("transfer_to_number", said, params, result))
    return [{**turn, "time_in_call_secs": index * 6} for index, turn in enumerate(turns)]
