"""Sandbox imitation of ElevenLabs Agents: Twilio outbound calls, batch calling, conversations.

Auth is `xi-api-key`; bodies are validated like the real FastAPI service (422 `{"detail": [...]}`;
`dynamic_variables` must be scalars). An unusable `to_number` is `success:false` at HTTP 200.
After a call starts, the fake POSTs a signed `post_call_transcription` (transcript, summary, data
collection) or `call_initiation_failure` webhook: `ElevenLabs-Signature: t=…,v0=…` over
`"{t}.{body}"`. Outcome by the number's last digit: 9 no-answer, 8 busy, else a conversation.
An agent given built-in system tools (`PATCH /v1/convai/agents/{id}`, `sandbox/elevenlabs_tools.py`)
uses them: with `voicemail_detection`, a number ending 7 reaches voicemail and the tool leaves the
configured message; with `transfer_to_number`, a driver reporting a breakdown or a health problem
(scenarios 1 and 5, `sandbox/call_scripts.py`) is put through to its first phone destination.
Both show as `transcript[].tool_results[]` in the webhook and the polled conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox import elevenlabs_tools as tools
from sandbox.call_scripts import is_urgent, script_for
from sandbox.credentials import ELEVENLABS_API_KEY
from sandbox.webhooks import WebhookTarget, dispatcher

router = APIRouter(prefix="/elevenlabs", tags=["elevenlabs"])

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
FAILURES = {"9": "no-answer", "8": "busy"}
AGENT_NUMBER = "+13125550100"

Scalar = str | int | float | bool | None


class ClientData(BaseModel):
    dynamic_variables: dict[str, Scalar] | None = None
    user_id: str | None = None
    conversation_config_override: dict[str, Any] | None = None
    custom_llm_extra_body: dict[str, Any] | None = None
    source_info: dict[str, Any] | None = None


class OutboundCallBody(BaseModel):
    agent_id: str
    agent_phone_number_id: str
    to_number: str
    conversation_initiation_client_data: ClientData | None = None


class Recipient(BaseModel):
    id: str | None = None
    phone_number: str
    conversation_initiation_client_data: ClientData | None = None


class BatchBody(BaseModel):
    call_name: str
    agent_id: str
    agent_phone_number_id: str
    scheduled_time_unix: int | None
    recipients: list[Recipient] = Field(max_length=10_000)


_lock = threading.Lock()
_conversations: dict[str, dict[str, Any]] = {}
_batches: dict[str, dict[str, Any]] = {}


def reset() -> None:
    with _lock:
        _conversations.clear()
        _batches.clear()
    tools.reset()


def export() -> dict[str, Any]:
    """Conversations, batches and agents, JSON-ready, for persistence (`sandbox/persistence.py`)."""
    with _lock:
        saved = json.loads(json.dumps({"conversations": _conversations, "batches": _batches}))
    return {**saved, "agents": tools.export()}


def restore(data: dict[str, Any]) -> None:
    with _lock:
        _conversations.clear()
        _conversations.update(data.get("conversations", {}))
        _batches.clear()
        _batches.update(data.get("batches", {}))
    tools.restore(data.get("agents", {}))


def init_state(state: Any) -> None:
    state.on_reset(reset)


def _detail(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"detail": {"status": code, "message": message}}, status_code=status)


def require_api_key(request: Request) -> None:
    """Runs before body validation, as the real service checks the key first."""
    if request.headers.get("xi-api-key") != ELEVENLABS_API_KEY:
        # HTTPException renders `{"detail": {...}}`, which is ElevenLabs' own error shape.
        raise HTTPException(401, detail={"status": "invalid_api_key", "message": "Invalid API key"})


Authorized = Depends(require_api_key)


def _new_conversation(
    agent_id: str,
    phone_number_id: str,
    to_number: str,
    client_data: ClientData | None,
    batch: tuple[str, str] | None = None,
) -> dict[str, Any]:
    conversation_id = "conv_" + uuid.uuid4().hex[:24]
    data = client_data.model_dump(exclude_none=True) if client_data else {}
    metadata: dict[str, Any] = {
        "start_time_unix_secs": int(time.time()),
        "call_duration_secs": 0,
        "cost": 0,
        "termination_reason": "",
        "phone_call": {
            "type": "twilio",
            "direction": "outbound",
            "phone_number_id": phone_number_id,
            "agent_number": AGENT_NUMBER,
            "external_number": to_number,
            "stream_sid": "MZ" + uuid.uuid4().hex,
            "call_sid": "CA" + uuid.uuid4().hex,
        },
    }
    if batch:
        metadata["batch_call"] = {"batch_call_id": batch[0], "batch_call_recipient_id": batch[1]}
    conversation = {
        "agent_id": agent_id,
        "conversation_id": conversation_id,
        "status": "initiated",
        "user_id": data.get("user_id"),
        "transcript": [],
        "metadata": metadata,
        "analysis": None,
        "conversation_initiation_client_data": {
            "dynamic_variables": data.get("dynamic_variables") or {},
            # Always an object on the wire (its fields null when not overridden), per the spec.
            "conversation_config_override": data.get("conversation_config_override")
            or {
                "agent": {"first_message": None, "language": None, "prompt": None},
                "tts": {"voice_id": None},
            },
        },
        "has_audio": False,
        "has_user_audio": False,
        "has_response_audio": False,
    }
    with _lock:
        _conversations[conversation_id] = conversation
    return conversation


def _set(conversation_id: str, **changes: Any) -> dict[str, Any]:
    with _lock:
        conversation = _conversations[conversation_id]
        conversation.update(changes)
        return json.loads(json.dumps(conversation))


def _talk(conversation: dict[str, Any]) -> dict[str, Any]:
    variables = conversation["conversation_initiation_client_data"]["dynamic_variables"]
    number = conversation["metadata"]["phone_call"]["external_number"]
    script = script_for(number, variables, conversation["conversation_id"])
    agent_id = conversation["agent_id"]
    voicemail = tools.built_in_params(agent_id, "voicemail_detection")
    transfer_to = tools.transfer_number(tools.built_in_params(agent_id, "transfer_to_number"))
    summary, ended_by, structured = script.summary, "Call ended by remote party", script.structured
    if voicemail is not None and number.endswith("7"):
        transcript = tools.voicemail_transcript(voicemail, script.turns[0][1])
        summary, ended_by, structured = "Reached voicemail.", "voicemail_detection", None
    elif transfer_to and is_urgent(number):
        transcript = tools.transfer_transcript(script, transfer_to)
        ended_by = "Call transferred to another number"
    else:
        transcript = [
            {
                "role": role,
                "message": text,
                "time_in_call_secs": index * 6,
                "tool_calls": [],
                "tool_results": [],
                "interrupted": False,
            }
            for index, (role, text) in enumerate(script.turns)
        ]
    metadata = dict(conversation["metadata"])
    metadata.update(
        call_duration_secs=len(transcript) * 6 + 4,
        accepted_time_unix_secs=metadata["start_time_unix_secs"] + 4,
        cost=912,
        termination_reason=ended_by,
    )
    collected = {
        key: {"data_collection_id": key, "value": value, "rationale": "Stated by the driver."}
        for key, value in (structured or {}).items()
    }
    return {
        "status": "done",
        "transcript": transcript,
        "metadata": metadata,
        "has_audio": True,
        "has_user_audio": True,
        "has_response_audio": True,
        "analysis": {
            "call_successful": "success",
            "transcript_summary": summary,
            "call_summary_title": "Driver check-in",
            "evaluation_criteria_results": {
                "got_update": {
                    "criteria_id": "got_update",
                    "result": "success",
                    "rationale": "The driver gave an update.",
                }
            },
            "data_collection_results": collected,
        },
    }


def _sign(body: bytes, target: WebhookTarget) -> dict[str, str]:
    timestamp = int(time.time())
    digest = hmac.new(
        target.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return {"ElevenLabs-Signature": f"t={timestamp},v0={digest}"}


def _steps(conversation_id: str, on_done: Any = None) -> list:
    with _lock:
        conversation = _conversations[conversation_id]
        number = conversation["metadata"]["phone_call"]["external_number"]
    failure = FAILURES.get(number[-1:])

    def ringing():
        _set(conversation_id, status="in-progress" if not failure else "initiated")
        return None

    def finish():
        with _lock:
            current = json.loads(json.dumps(_conversations[conversation_id]))
        if failure:
            # What a polled failed conversation carries: the Twilio status as its reason.
            metadata = {
                **current["metadata"],
                "termination_reason": f"Call failed: {failure}",
                "error": {"code": 486 if failure == "busy" else 480, "reason": failure},
            }
            final = _set(conversation_id, status="failed", metadata=metadata)
            payload = {
                "agent_id": final["agent_id"],
                "conversation_id": conversation_id,
                "failure_reason": failure,
                "metadata": {
                    "type": "twilio",
                    "body": {
                        "CallSid": final["metadata"]["phone_call"]["call_sid"],
                        "CallStatus": failure,
                        "To": number,
                        "From": AGENT_NUMBER,
                    },
                },
            }
            event = "call_initiation_failure"
        else:
            final = _set(conversation_id, **_talk(current))
            payload = final
            event = "post_call_transcription"
        if on_done:
            on_done(conversation_id, final["status"])
        return event, {"type": event, "event_timestamp": int(time.time()), "data": payload}

    return [ringing, finish]


@router.post("/v1/convai/twilio/outbound-call", dependencies=[Authorized])
def outbound_call(body: OutboundCallBody) -> JSONResponse:
    """Start an outbound call through a Twilio number imported into ElevenLabs."""
    if not E164.match(body.to_number):
        return JSONResponse(
            {
                "success": False,
                "message": f"Invalid phone number: {body.to_number}",
                "conversation_id": None,
                "callSid": None,
            }
        )
    conversation = _new_conversation(
        body.agent_id,
        body.agent_phone_number_id,
        body.to_number,
        body.conversation_initiation_client_data,
    )
    dispatcher.schedule("elevenlabs", _steps(conversation["conversation_id"]), _sign)
    return JSONResponse(
        {
            "success": True,
            "message": "Call initiated successfully",
            "conversation_id": conversation["conversation_id"],
            "callSid": conversation["metadata"]["phone_call"]["call_sid"],
        }
    )


class AgentPatchBody(BaseModel):
    conversation_config: dict[str, Any] | None = None
    platform_settings: dict[str, Any] | None = None
    name: str | None = None
    tags: list[str] | None = None


@router.get("/v1/convai/agents/{agent_id}", dependencies=[Authorized])
def get_agent(agent_id: str) -> JSONResponse:
    """The agent's settings (`GetAgentResponseModel`)."""
    return JSONResponse(tools.get_agent(agent_id))


@router.patch("/v1/convai/agents/{agent_id}", dependencies=[Authorized])
def patch_agent(agent_id: str, body: AgentPatchBody) -> JSONResponse:
    """Patch the agent's settings: its conversation config is merged (built-in tools among it)."""
    return JSONResponse(tools.patch_agent(agent_id, body.model_dump(exclude_none=True)))


@router.get("/v1/convai/conversations", dependencies=[Authorized])
def list_conversations(
    agent_id: str | None = None,
    user_id: str | None = None,
    call_start_after_unix: int | None = None,
    call_start_before_unix: int | None = None,
    page_size: int = 30,
) -> JSONResponse:
    """Conversation summaries newest first (`GetConversationsPageResponseModel`), one page."""
    with _lock:
        items = json.loads(json.dumps(list(_conversations.values())))
    if agent_id:
        items = [c for c in items if c["agent_id"] == agent_id]
    if user_id:
        items = [c for c in items if c.get("user_id") == user_id]
    start = "start_time_unix_secs"
    if call_start_after_unix is not None:
        items = [c for c in items if c["metadata"][start] >= call_start_after_unix]
    if call_start_before_unix is not None:
        items = [c for c in items if c["metadata"][start] <= call_start_before_unix]
    items.sort(key=lambda c: c["metadata"][start], reverse=True)
    size = max(1, min(page_size, 100))
    summaries = [
        {
            "agent_id": c["agent_id"],
            "agent_name": None,
            "conversation_id": c["conversation_id"],
            "start_time_unix_secs": c["metadata"][start],
            "call_duration_secs": c["metadata"]["call_duration_secs"],
            "message_count": len(c["transcript"]),
            "status": c["status"],
            "call_successful": (c.get("analysis") or {}).get("call_successful", "unknown"),
            "transcript_summary": (c.get("analysis") or {}).get("transcript_summary"),
            "call_summary_title": None,
            "direction": "outbound",
        }
        for c in items[:size]
    ]
    return JSONResponse(
        {
            "conversations": summaries,
            "has_more": len(items) > size,
            "next_cursor": None,
        }
    )


@router.get("/v1/convai/conversations/{conversation_id}", dependencies=[Authorized])
def get_conversation(conversation_id: str) -> JSONResponse:
    """A conversation with transcript, metadata and analysis."""
    with _lock:
        conversation = _conversations.get(conversation_id)
        snapshot = json.loads(json.dumps(conversation)) if conversation else None
    if snapshot is None:
        return _detail(404, "conversation_not_found", f"Conversation {conversation_id} not found")
    return JSONResponse(snapshot)


def _batch_public(batch: dict[str, Any], *, detailed: bool) -> dict[str, Any]:
    public = {k: v for k, v in batch.items() if k != "recipients"}
    if detailed:
        public["recipients"] = batch["recipients"]
    return json.loads(json.dumps(public))


@router.post("/v1/convai/batch-calling/submit", dependencies=[Authorized])
def submit_batch(body: BatchBody) -> JSONResponse:
    """Submit a batch; its calls start after the configured webhook delay."""
    now = int(time.time())
    batch_id = "btcal_" + uuid.uuid4().hex[:20]
    recipients = [
        {
            "id": r.id or "rcpt_" + uuid.uuid4().hex[:12],
            "phone_number": r.phone_number,
            "status": "pending",
            "created_at_unix": now,
            "updated_at_unix": now,
            "conversation_id": None,
            "conversation_initiation_client_data": (
                r.conversation_initiation_client_data.model_dump(exclude_none=True)
                if r.conversation_initiation_client_data
                else None
            ),
        }
        for r in body.recipients
    ]
    batch = {
        "id": batch_id,
        "phone_number_id": body.agent_phone_number_id,
        "phone_provider": "twilio",
        "name": body.call_name,
        "agent_id": body.agent_id,
        "created_at_unix": now,
        "scheduled_time_unix": body.scheduled_time_unix or now,
        "total_calls_dispatched": 0,
        "total_calls_scheduled": len(recipients),
        "last_updated_at_unix": now,
        "status": "pending",
        "agent_name": "Fleet Dispatch Agent",
        "recipients": recipients,
    }
    with _lock:
        _batches[batch_id] = batch
    steps: list = [lambda: _start_batch(batch_id, body)]
    for index, recipient in enumerate(body.recipients):
        steps += _recipient_steps(batch_id, index, body, recipient)
    dispatcher.schedule("elevenlabs", steps, _sign)
    return JSONResponse(_batch_public(batch, detailed=False))


def _start_batch(batch_id: str, body: BatchBody) -> None:
    with _lock:
        batch = _batches[batch_id]
        batch["status"] = "in_progress"
        batch["last_updated_at_unix"] = int(time.time())


def _recipient_steps(batch_id: str, index: int, body: BatchBody, recipient: Recipient) -> list:
    holder: dict[str, list] = {}

    def dial():
        with _lock:
            row = _batches[batch_id]["recipients"][index]
            row_id = row["id"]
        conversation = _new_conversation(
            body.agent_id,
            body.agent_phone_number_id,
            recipient.phone_number,
            recipient.conversation_initiation_client_data,
            batch=(batch_id, row_id),
        )
        conversation_id = conversation["conversation_id"]
        with _lock:
            batch = _batches[batch_id]
            row = batch["recipients"][index]
            row.update(
                status="initiated",
                conversation_id=conversation_id,
                updated_at_unix=int(time.time()),
            )
            batch["total_calls_dispatched"] += 1
        holder["steps"] = _steps(conversation_id, on_done=finished)
        return holder["steps"][0]()

    def finished(conversation_id: str, status: str) -> None:
        with _lock:
            batch = _batches[batch_id]
            batch["recipients"][index].update(
                status="completed" if status == "done" else "failed",
                updated_at_unix=int(time.time()),
            )
            if all(r["status"] in ("completed", "failed") for r in batch["recipients"]):
                batch["status"] = "completed"
            batch["last_updated_at_unix"] = int(time.time())

    return [dial, lambda: holder["steps"][1]()]


@router.get("/v1/convai/batch-calling/{batch_id}", dependencies=[Authorized])
def get_batch(batch_id: str) -> JSONResponse:
    """A batch with its recipients' statuses and conversation ids."""
    with _lock:
        batch = _batches.get(batch_id)
        public = _batch_public(batch, detailed=True) if batch else None
    if public is None:
        return _detail(404, "batch_call_not_found", f"Batch call {batch_id} not found")
    return JSONResponse(public)
