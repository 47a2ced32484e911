"""Sandbox imitation of VAPI: `POST /call`, `GET /call/{id}`, `GET /call`, and its webhooks.

Validation is NestJS-style like the real API: unknown properties are rejected with 400
`{"message": ["property metadata should not exist"], "error": "Bad Request", "statusCode": 400}`.
After a call is accepted it progresses ringing → in-progress → ended and the fake POSTs
`status-update` messages and an `end-of-call-report` (transcript, summary, structured data) to
the configured server URL, authenticated with `X-Vapi-Secret` or VAPI's HMAC defaults.
Outcome by the customer number's last digit: 9 no answer, 8 busy, 7 voicemail, else a talk.
Voicemail: with `voicemailDetection` on and a `voicemailMessage`, the bot leaves the message
(it is in the artifact). Transfer: a call given a `transferCall` tool (`tools:append`) whose
driver reports a breakdown or a health problem (scenarios 1 and 5, `sandbox/call_scripts.py`) is
put through to the tool's number: a `transfer-update` (when `serverMessages` asks for it) and
the call ends `assistant-forwarded-call`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sandbox.call_scripts import is_urgent, script_for
from sandbox.credentials import VAPI_API_KEY
from sandbox.webhooks import WebhookTarget, dispatcher
from sandbox.webhooks import control_router as webhooks_control_router

router = APIRouter(prefix="/vapi", tags=["vapi"])
# The webhook controls serve both call vendors; they are mounted once, here.
extra_routers = (webhooks_control_router,)

ORG_ID = "0f0f0f0f-5a4d-4b0c-8000-5a4db0c00001"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Our own copy of the schema's property lists (vapi-openapi.json, 2026-08).
CREATE_CALL_FIELDS = frozenset(
    {
        "assistant",
        "assistantId",
        "assistantOverrides",
        "assistantVersion",
        "customer",
        "customerId",
        "customers",
        "name",
        "phoneNumber",
        "phoneNumberId",
        "schedulePlan",
        "squad",
        "squadId",
        "squadOverrides",
        "transport",
        "workflow",
        "workflowId",
        "workflowOverrides",
    }
)
CUSTOMER_FIELDS = frozenset(
    {
        "assistantOverrides",
        "email",
        "extension",
        "externalId",
        "name",
        "number",
        "numberE164CheckEnabled",
        "sipUri",
        "squadOverrides",
    }
)
OVERRIDE_FIELDS = frozenset(
    {
        "analysisPlan",
        "artifactPlan",
        "backgroundSound",
        "backgroundSpeechDenoisingPlan",
        "clientMessages",
        "compliancePlan",
        "credentialIds",
        "credentials",
        "endCallMessage",
        "endCallPhrases",
        "firstMessage",
        "firstMessageInterruptionsEnabled",
        "firstMessageMode",
        "hooks",
        "keypadInputPlan",
        "maxDurationSeconds",
        "metadata",
        "model",
        "modelOutputInMessagesEnabled",
        "monitorPlan",
        "name",
        "observabilityPlan",
        "server",
        "serverMessages",
        "startSpeakingPlan",
        "stopSpeakingPlan",
        "tools:append",
        "transcriber",
        "transportConfigurations",
        "variableValues",
        "voice",
        "voicemailDetection",
        "voicemailMessage",
    }
)
OUTCOMES = {"9": "customer-did-not-answer", "8": "customer-busy", "7": "voicemail"}

_lock = threading.Lock()
_calls: dict[str, dict[str, Any]] = {}


def reset() -> None:
    with _lock:
        _calls.clear()
    dispatcher.reset()


def export() -> dict[str, Any]:
    """Placed calls, JSON-ready, for persistence (`sandbox/persistence.py`)."""
    with _lock:
        return json.loads(json.dumps(_calls))


def restore(calls: dict[str, Any]) -> None:
    with _lock:
        _calls.clear()
        _calls.update(calls)


def init_state(state: Any) -> None:
    state.on_reset(reset)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> datetime:
    return datetime.now(UTC)


def _nest_error(status: int, error: str, message: Any) -> JSONResponse:
    return JSONResponse(
        {"message": message, "error": error, "statusCode": status}, status_code=status
    )


def _unauthorized(request: Request) -> JSONResponse | None:
    authorization = request.headers.get("authorization", "")
    if authorization == f"Bearer {VAPI_API_KEY}":
        return None
    return _nest_error(
        401,
        "Unauthorized",
        "Invalid Key. Hot tip, you may be using the private key instead of the public key, or "
        "vice versa.",
    )


def validate_create_call(body: Any) -> list[str]:
    """The messages VAPI's validator would give for `body` (empty when valid)."""
    if not isinstance(body, dict):
        return ["body must be an object"]
    errors = [f"property {k} should not exist" for k in body if k not in CREATE_CALL_FIELDS]
    customer = body.get("customer")
    if "customers" in body:
        errors.append("the sandbox places one call per request; use customer, not customers")
    if not isinstance(customer, dict):
        errors.append("customer must be an object")
    else:
        errors += [
            f"property customer.{k} should not exist" for k in customer if k not in CUSTOMER_FIELDS
        ]
        number = customer.get("number")
        if not isinstance(number, str) or not 3 <= len(number) <= 40:
            errors.append("customer.number must be longer than or equal to 3 characters")
        elif customer.get("numberE164CheckEnabled", True) and not E164.match(number):
            errors.append("customer.number must be a valid phone number in the E.164 format")
    overrides = body.get("assistantOverrides")
    if overrides is not None:
        if not isinstance(overrides, dict):
            errors.append("assistantOverrides must be an object")
        else:
            errors += [
                f"property assistantOverrides.{k} should not exist"
                for k in overrides
                if k not in OVERRIDE_FIELDS
            ]
            for key in ("variableValues", "metadata"):
                if key in overrides and not isinstance(overrides[key], dict):
                    errors.append(f"assistantOverrides.{key} must be an object")
            errors += _voicemail_errors(overrides) + _tool_errors(overrides)
    if not any(
        body.get(k)
        for k in ("assistantId", "assistant", "squadId", "squad", "workflowId", "workflow")
    ):
        errors.append(
            "Need Either `assistantId`, `assistant`, `squadId`, `squad`, "
            "`workflowId`, or `workflow`."
        )
    if not (body.get("phoneNumberId") or body.get("phoneNumber")):
        errors.append("Need Either `phoneNumberId` Or `phoneNumber`.")
    if "name" in body and (not isinstance(body["name"], str) or len(body["name"]) > 40):
        errors.append("name must be shorter than or equal to 40 characters")
    return errors


VOICEMAIL_PROVIDERS = frozenset({"google", "openai", "twilio", "vapi"})
SERVER_MESSAGES = frozenset(
    {
        "assistant.started",
        "assistant.speechStarted",
        "conversation-update",
        "end-of-call-report",
        "function-call",
        "hang",
        "language-changed",
        "language-change-detected",
        "model-output",
        "phone-call-control",
        "speech-update",
        "status-update",
        "transcript",
        'transcript[transcriptType="final"]',
        "tool-calls",
        "transfer-destination-request",
        "handoff-destination-request",
        "transfer-update",
        "user-interrupted",
        "voice-input",
        "chat.created",
        "chat.deleted",
        "session.created",
        "session.updated",
        "session.deleted",
        "call.deleted",
        "call.delete.failed",
        "call.artifact.upload",
    }
)


def _voicemail_errors(overrides: dict[str, Any]) -> list[str]:
    """`voicemailDetection` is "off" or a plan naming its provider; `voicemailMessage` ≤ 1000."""
    errors = []
    detection = overrides.get("voicemailDetection")
    plan_ok = isinstance(detection, dict) and detection.get("provider") in VOICEMAIL_PROVIDERS
    if detection not in (None, "off") and not plan_ok:
        errors.append("assistantOverrides.voicemailDetection.provider must be a valid enum")
    message = overrides.get("voicemailMessage")
    if message is not None and (not isinstance(message, str) or len(message) > 1000):
        errors.append("assistantOverrides.voicemailMessage must be at most 1000 characters")
    wanted = overrides.get("serverMessages")
    if wanted is not None and (
        not isinstance(wanted, list) or any(m not in SERVER_MESSAGES for m in wanted)
    ):
        errors.append("each value in assistantOverrides.serverMessages must be a valid enum value")
    return errors


def _tool_errors(overrides: dict[str, Any]) -> list[str]:
    """`tools:append` items need a `type`; a transferCall's number destinations an E.164."""
    tools = overrides.get("tools:append")
    if tools is None:
        return []
    if not isinstance(tools, list) or not all(isinstance(t, dict) and t.get("type") for t in tools):
        return ["assistantOverrides.tools:append must be an array of tools with a type"]
    errors = []
    for tool in tools:
        for destination in tool.get("destinations") or [] if tool["type"] == "transferCall" else []:
            if destination.get("type") == "number" and not E164.match(
                str(destination.get("number") or "")
            ):
                errors.append("transferCall destination number must be a valid E.164 number")
    return errors


def _transfer_number(call: dict[str, Any]) -> str | None:
    tools = (call.get("assistantOverrides") or {}).get("tools:append") or []
    for tool in tools:
        if tool.get("type") == "transferCall":
            for destination in tool.get("destinations") or []:
                if destination.get("type") == "number":
                    return destination["number"]
    return None


@router.post("/call")
async def create_call(request: Request) -> JSONResponse:
    """Create an outbound phone call (201 with the queued Call)."""
    if (error := _unauthorized(request)) is not None:
        return error
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return _nest_error(400, "Bad Request", "Unexpected token in JSON")
    if errors := validate_create_call(body):
        return _nest_error(400, "Bad Request", errors)
    now = _now()
    call_id = str(uuid.uuid4())
    call: dict[str, Any] = {
        "id": call_id,
        "orgId": ORG_ID,
        "type": "outboundPhoneCall",
        "status": "queued",
        "createdAt": _iso(now),
        "updatedAt": _iso(now),
        "assistantId": body.get("assistantId"),
        "phoneNumberId": body.get("phoneNumberId"),
        "customer": body["customer"],
        "phoneCallProvider": "twilio",
        "phoneCallProviderId": "CA" + uuid.uuid4().hex,
        "phoneCallTransport": "pstn",
    }
    for key in ("assistantOverrides", "name", "assistantVersion"):
        if key in body:
            call[key] = body[key]
    with _lock:
        _calls[call_id] = call
    server = (body.get("assistantOverrides") or {}).get("server") or {}
    dispatcher.schedule("vapi", _steps(call_id), _sign, url_override=server.get("url"))
    return JSONResponse(call, status_code=201)


@router.get("/call/{call_id}")
def get_call(call_id: str, request: Request) -> JSONResponse:
    """One call as it stands now."""
    if (error := _unauthorized(request)) is not None:
        return error
    with _lock:
        call = _calls.get(call_id)
        snapshot = json.loads(json.dumps(call)) if call else None
    if snapshot is None:
        return _nest_error(404, "Not Found", "Couldn't Get Call. Call Not Found")
    return JSONResponse(snapshot)


@router.get("/call")
def list_calls(request: Request) -> JSONResponse:
    """Calls newest first, as a plain JSON array (VAPI has no envelope here)."""
    if (error := _unauthorized(request)) is not None:
        return error
    params = request.query_params
    try:
        limit = int(float(params.get("limit", "100")))
    except ValueError:
        return _nest_error(400, "Bad Request", ["limit must be a number"])
    with _lock:
        calls = json.loads(json.dumps(list(_calls.values())))
    for key in ("id", "assistantId", "phoneNumberId"):
        if params.get(key):
            calls = [c for c in calls if c.get(key) == params[key]]
    if params.get("createdAtGt"):
        calls = [c for c in calls if c["createdAt"] > _normalize(params["createdAtGt"])]
    calls.sort(key=lambda c: c["createdAt"], reverse=True)
    return JSONResponse(calls[: max(0, min(limit, 1000))])


def _normalize(value: str) -> str:
    try:
        return _iso(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return value


def _sign(body: bytes, target: WebhookTarget) -> dict[str, str]:
    if target.vapi_auth == "hmac":
        timestamp = str(int(time.time() * 1000))
        digest = hmac.new(
            target.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return {"x-signature": digest, "x-timestamp": timestamp}
    return {"X-Vapi-Secret": target.secret}


def _update(call_id: str, **changes: Any) -> dict[str, Any]:
    with _lock:
        call = _calls[call_id]
        call.update(changes)
        call["updatedAt"] = _iso(_now())
        return json.loads(json.dumps(call))


def _conversation(call: dict[str, Any]) -> dict[str, Any]:
    """Transcript, messages and analysis for a call that was answered (see call_scripts)."""
    values = (call.get("assistantOverrides") or {}).get("variableValues") or {}
    number = str((call.get("customer") or {}).get("number") or "")
    script = script_for(number, values, call["id"])
    lines = [("bot" if role == "agent" else "user", text) for role, text in script.turns]
    started = datetime.fromisoformat(call["startedAt"].replace("Z", "+00:00"))
    messages: list[dict[str, Any]] = [
        {
            "role": "system",
            "message": "You are a dispatcher calling a driver.",
            "time": int(started.timestamp() * 1000),
            "secondsFromStart": 0,
        }
    ]
    for index, (role, text) in enumerate(lines):
        at = started + timedelta(seconds=1 + index * 6)
        messages.append(
            {
                "role": role,
                "message": text,
                "time": int(at.timestamp() * 1000),
                "endTime": int(at.timestamp() * 1000) + 4000,
                "secondsFromStart": 1 + index * 6,
                "duration": 4000,
            }
        )
    transcript = "".join(f"{'AI' if r == 'bot' else 'User'}: {t}\n" for r, t in lines)
    analysis: dict[str, Any] = {"summary": script.summary, "successEvaluation": "true"}
    # structuredData exists only when the assistant's structuredDataPlan is on; the fake turns
    # it on for the scripts that define one, so both insight paths are exercised.
    if script.structured is not None:
        analysis["structuredData"] = script.structured
    return {
        "artifact": {
            "transcript": transcript,
            "messages": messages,
            "messagesOpenAIFormatted": [
                {"role": "assistant" if r == "bot" else "user", "content": t} for r, t in lines
            ],
            "recordingUrl": f"https://storage.vapi.ai/{call['id']}-mono.wav",
            "stereoRecordingUrl": f"https://storage.vapi.ai/{call['id']}-stereo.wav",
        },
        "analysis": analysis,
    }


def _costs(call: dict[str, Any]) -> list[dict[str, Any]]:
    """`costs[]` per the spec: TransportCost and VapiCost both require `minutes`."""
    started, ended = call.get("startedAt"), call.get("endedAt")
    minutes = 0.0
    if started and ended:
        seconds = (
            datetime.fromisoformat(ended.replace("Z", "+00:00"))
            - datetime.fromisoformat(started.replace("Z", "+00:00"))
        ).total_seconds()
        minutes = round(max(0.0, seconds) / 60, 4)
    total = float(call.get("cost") or 0.0)
    return [
        {
            "type": "transport",
            "provider": "twilio",
            "minutes": minutes,
            "cost": round(total * 0.1, 4),
        },
        {"type": "vapi", "subType": "normal", "minutes": minutes, "cost": round(total * 0.9, 4)},
    ]


def _steps(call_id: str) -> list:
    with _lock:
        call = _calls[call_id]
        number = str(call["customer"].get("number", ""))
        overrides = call.get("assistantOverrides") or {}
        transfer_to = _transfer_number(call)
    ended_reason = OUTCOMES.get(number[-1:], "customer-ended-call")
    answered = ended_reason in ("customer-ended-call", "voicemail")
    transfers = (
        ended_reason == "customer-ended-call" and is_urgent(number) and transfer_to is not None
    )
    if transfers:
        ended_reason = "assistant-forwarded-call"
    leaves = (
        ended_reason == "voicemail"
        and overrides.get("voicemailDetection") not in (None, "off")
        and bool(overrides.get("voicemailMessage"))
    )

    def status(value: str, **extra: Any):
        def step():
            changes: dict[str, Any] = {"status": value, **extra}
            if value == "in-progress":
                changes["startedAt"] = _iso(_now())
            call = _update(call_id, **changes)
            message = {
                "type": "status-update",
                "status": value,
                "timestamp": int(time.time() * 1000),
                "call": call,
                "customer": call["customer"],
            }
            if value == "ended":
                message["endedReason"] = ended_reason
            return "status-update", {"message": message}

        return step

    def end_of_call_report():
        with _lock:
            call = _calls[call_id]
            started = call.get("startedAt")
        ended = _now()
        changes: dict[str, Any] = {"endedAt": _iso(ended), "cost": 0.0}
        if ended_reason in ("customer-ended-call", "assistant-forwarded-call") and started:
            changes.update(_conversation({**call, "startedAt": started}))
            changes["cost"] = 0.1342
        elif leaves and started:
            spoken = overrides["voicemailMessage"]
            changes.update(
                {
                    "artifact": {
                        "transcript": f"AI: {spoken}\n",
                        "messages": [
                            {
                                "role": "bot",
                                "message": spoken,
                                "time": int(ended.timestamp() * 1000),
                                "secondsFromStart": 20,
                            }
                        ],
                    },
                    "analysis": {},
                }
            )
            changes["cost"] = 0.0211
        else:
            changes.update({"artifact": {"transcript": "", "messages": []}, "analysis": {}})
        call = _update(call_id, **changes)
        message = {
            "type": "end-of-call-report",
            "timestamp": int(time.time() * 1000),
            "endedReason": ended_reason,
            "startedAt": call.get("startedAt"),
            "endedAt": call["endedAt"],
            "cost": call["cost"],
            "costs": _costs(call),
            "call": call,
            "customer": call["customer"],
            "artifact": call["artifact"],
            "analysis": call["analysis"],
        }
        return "end-of-call-report", {"message": message}

    def transfer_update():
        if "transfer-update" not in (overrides.get("serverMessages") or []):
            return None  # not in VAPI's default server messages: sent only when asked for
        destination = {"type": "number", "number": transfer_to}
        call = _update(call_id, status="forwarding", destination=destination)
        message = {
            "type": "transfer-update",
            "timestamp": int(time.time() * 1000),
            "destination": destination,
            "call": call,
            "customer": call["customer"],
        }
        return "transfer-update", {"message": message}

    steps = [status("ringing")]
    if answered:
        steps.append(status("in-progress"))
    if transfers:
        steps.append(transfer_update)
    steps += [status("ended", endedReason=ended_reason), end_of_call_report]
    return steps
