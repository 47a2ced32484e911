"""Sandbox imitation of VAPI: `POST /call`, `GET /call/{id}`, `GET /call`, and its webhooks.

Validation is NestJS-style like the real API: unknown properties are rejected with 400
`{"message": ["property metadata should not exist"], "error": "Bad Request", "statusCode": 400}`.
After a call is accepted it progresses ringing → in-progress → ended and the fake POSTs
`status-update` messages and an `end-of-call-report` (transcript, summary, structured data) to
the configured server URL, authenticated with `X-Vapi-Secret` or VAPI's HMAC defaults.
Outcome by the customer number's last digit: 9 no answer, 8 busy, 7 voicemail, else a talk.
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

from sandbox.call_scripts import script_for
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
        number = str(_calls[call_id]["customer"].get("number", ""))
    ended_reason = OUTCOMES.get(number[-1:], "customer-ended-call")
    answered = ended_reason in ("customer-ended-call", "voicemail")

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
        if ended_reason == "customer-ended-call" and started:
            changes.update(_conversation({**call, "startedAt": started}))
            changes["cost"] = 0.1342
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

    steps = [status("ringing")]
    if answered:
        steps.append(status("in-progress"))
    steps += [status("ended", endedReason=ended_reason), end_of_call_report]
    return steps
