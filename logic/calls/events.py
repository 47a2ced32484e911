"""Provider events → call state: parsing VAPI / ElevenLabs payloads and applying them in order.

`parse_vapi` / `parse_elevenlabs` turn a verified payload into an `EventKey` (type, ids,
fingerprint) or None for types we acknowledge and ignore. `apply_event` moves a call forward
only (`STATUS_RANK`), so duplicated, late or reordered events never take it backwards; the final
report fills transcript, summary, cost and structured data whenever it arrives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from helpers.time_utils import parse_vendor_timestamp
from models.call import STATUS_RANK, Call, CallOutcome, CallProvider, CallStatus
from utils.call_insights import turns_from_text

VAPI_STATUS = {
    "scheduled": CallStatus.QUEUED,
    "queued": CallStatus.DIALING,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "forwarding": CallStatus.IN_PROGRESS,
    "ended": CallStatus.ENDED,
}
VAPI_COMPLETED = frozenset(
    {
        "customer-ended-call",
        "assistant-ended-call",
        "assistant-said-end-call-phrase",
        "assistant-ended-call-after-message-spoken",
        "assistant-ended-call-with-hangup-task",
        "assistant-forwarded-call",
        "exceeded-max-duration",
        "silence-timed-out",
    }
)
VAPI_CANCELED = frozenset({"manually-canceled", "call-deleted", "scheduled-call-deleted"})
ELEVENLABS_FAILURES = {"busy": CallOutcome.BUSY, "no-answer": CallOutcome.NO_ANSWER}

VAPI_HANDLED = frozenset({"status-update", "end-of-call-report", "transcript"})
ELEVENLABS_HANDLED = frozenset({"post_call_transcription", "call_initiation_failure"})


@dataclass(frozen=True)
class EventKey:
    provider: str
    event_type: str
    fingerprint: str
    provider_call_id: str | None
    hub_call_id: int | None
    occurred_at: datetime | None

    def __post_init__(self) -> None:
        # Refused here (400), not by the inbox column: one delivery's value must not fail
        # the statement the deliveries arriving with it share.
        if self.provider_call_id and len(self.provider_call_id) > PROVIDER_CALL_ID_MAX:
            raise ValueError(f"call id longer than {PROVIDER_CALL_ID_MAX} characters")


PROVIDER_CALL_ID_MAX = 100  # the inbox's and the call's column
_CALL_ID_MAX = 2**31 - 1  # our call ids are an INTEGER primary key


def _hub_call_id(value: Any) -> int | None:
    """Our call id, if `value` can be one (anything else is not ours: None)."""
    try:
        number = int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and 0 < number <= _CALL_ID_MAX else None


def _ts(value: Any, *, epoch: Literal["s", "ms"] | None) -> datetime | None:
    try:
        return parse_vendor_timestamp(value, epoch=epoch)
    except (ValueError, TypeError, OverflowError):
        return None


def vapi_outcome(ended_reason: str | None) -> CallOutcome:
    """VAPI's 600-odd ended reasons by exact value and family; unknown ones are failures."""
    reason = ended_reason or ""
    if reason in VAPI_COMPLETED:
        return CallOutcome.COMPLETED
    if reason == "customer-did-not-answer" or reason.startswith("call.ringing."):
        return CallOutcome.NO_ANSWER
    if reason == "customer-busy":
        return CallOutcome.BUSY
    if reason == "voicemail":
        return CallOutcome.VOICEMAIL
    if reason in VAPI_CANCELED:
        return CallOutcome.CANCELED
    return CallOutcome.FAILED


def terminal_status(outcome: CallOutcome) -> CallStatus:
    if outcome == CallOutcome.FAILED:
        return CallStatus.FAILED
    if outcome == CallOutcome.CANCELED:
        return CallStatus.CANCELED
    return CallStatus.ENDED


def parse_vapi(payload: Any, raw_body: bytes) -> EventKey | None:
    """Key of a VAPI server message; None for types we do not handle (answered 200, not kept)."""
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, dict):
        raise ValueError("VAPI webhook body has no message object")
    event_type = str(message.get("type") or "")
    if event_type not in VAPI_HANDLED:
        return None
    if event_type == "transcript" and message.get("transcriptType") != "final":
        return None
    call = message.get("call") or {}
    call_id = call.get("id")
    overrides = call.get("assistantOverrides") or {}
    hub = (overrides.get("metadata") or {}).get("hub_call_id") or (
        overrides.get("variableValues") or {}
    ).get("hub_call_id")
    if event_type == "status-update":
        detail = str(message.get("status") or "")
    elif event_type == "transcript":
        detail = hashlib.sha256(raw_body).hexdigest()[:32]
    else:
        detail = ""
    if not call_id:
        detail = hashlib.sha256(raw_body).hexdigest()[:32]
    return EventKey(
        provider=CallProvider.VAPI,
        event_type=event_type,
        fingerprint=f"{call_id}:{event_type}:{detail}"[:200],
        provider_call_id=str(call_id) if call_id else None,
        hub_call_id=_hub_call_id(hub),
        occurred_at=_ts(message.get("timestamp"), epoch="ms"),
    )


def parse_elevenlabs(payload: Any, raw_body: bytes) -> EventKey | None:
    """Key of an ElevenLabs post-call webhook; None for `post_call_audio` and unknown types."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise ValueError("ElevenLabs webhook body has no data object")
    event_type = str(payload.get("type") or "")
    if event_type not in ELEVENLABS_HANDLED:
        return None
    data = payload["data"]
    conversation_id = data.get("conversation_id")
    variables = (data.get("conversation_initiation_client_data") or {}).get(
        "dynamic_variables"
    ) or {}
    detail = conversation_id or hashlib.sha256(raw_body).hexdigest()[:32]
    return EventKey(
        provider=CallProvider.ELEVENLABS,
        event_type=event_type,
        fingerprint=f"{detail}:{event_type}"[:200],
        provider_call_id=str(conversation_id) if conversation_id else None,
        hub_call_id=_hub_call_id(variables.get("hub_call_id")),
        occurred_at=_ts(payload.get("event_timestamp"), epoch="s"),
    )


def _advance(call: Call, status: CallStatus) -> bool:
    """Move to `status` if it is further along; terminal states are final."""
    if STATUS_RANK[status] <= STATUS_RANK[CallStatus(call.status)]:
        return False
    call.status = status
    return True


def _end(call: Call, outcome: CallOutcome, *, ended_at: datetime | None, reason: str | None):
    if call.status in (CallStatus.CANCELED,):
        return
    if _advance(call, terminal_status(outcome)) or call.outcome is None:
        call.outcome = outcome
    if reason and not call.ended_reason:
        call.ended_reason = reason[:200]
    call.ended_at = call.ended_at or ended_at


def _vapi_transcript(call_object: dict[str, Any], message: dict[str, Any]) -> list[dict[str, Any]]:
    artifact = message.get("artifact") or call_object.get("artifact") or {}
    roles = {"bot": "agent", "assistant": "agent", "user": "user"}
    turns = [
        {
            "role": roles[str(m.get("role"))],
            "text": str(m.get("message")),
            "seconds": m.get("secondsFromStart"),
        }
        for m in artifact.get("messages") or []
        if str(m.get("role")) in roles and m.get("message")
    ]
    if not turns and artifact.get("transcript"):
        turns = [
            {"role": t.role, "text": t.text, "seconds": None}
            for t in turns_from_text(artifact["transcript"])
        ]
    return turns


def apply_vapi(call: Call, event_type: str, payload: dict[str, Any], *, now: datetime) -> None:
    message = payload["message"]
    call_object = message.get("call") or {}
    if call_object.get("phoneCallProviderId") and not call.twilio_call_sid:
        call.twilio_call_sid = call_object["phoneCallProviderId"]
    if event_type == "status-update":
        status = VAPI_STATUS.get(str(message.get("status")))
        if status is None:
            return
        if status == CallStatus.IN_PROGRESS:
            call.started_at = (
                call.started_at or _ts(call_object.get("startedAt"), epoch=None) or now
            )
        if status == CallStatus.ENDED:
            reason = message.get("endedReason") or call_object.get("endedReason")
            _end(
                call,
                vapi_outcome(reason),
                ended_at=_ts(call_object.get("endedAt"), epoch=None) or now,
                reason=reason,
            )
        else:
            _advance(call, status)
        return
    if event_type == "transcript":
        if call.report_received_at is None and message.get("transcript"):
            role = "user" if message.get("role") == "user" else "agent"
            call.transcript = [
                *call.transcript,
                {"role": role, "text": message["transcript"], "seconds": None},
            ]
        return
    # end-of-call-report: the complete record; it also ends the call if no status did.
    reason = message.get("endedReason") or call_object.get("endedReason")
    started = _ts(message.get("startedAt") or call_object.get("startedAt"), epoch=None)
    ended = _ts(message.get("endedAt") or call_object.get("endedAt"), epoch=None) or now
    _end(call, vapi_outcome(reason), ended_at=ended, reason=reason)
    call.started_at = call.started_at or started
    if call.started_at and call.ended_at:
        call.duration_seconds = max(0, round((call.ended_at - call.started_at).total_seconds()))
    cost = message.get("cost", call_object.get("cost"))
    if isinstance(cost, int | float):
        call.cost_usd = float(cost)
    analysis = message.get("analysis") or call_object.get("analysis") or {}
    artifact = message.get("artifact") or call_object.get("artifact") or {}
    call.transcript = _vapi_transcript(call_object, message) or call.transcript
    call.summary = analysis.get("summary") or message.get("summary") or call.summary
    call.structured_data = analysis.get("structuredData") or call.structured_data
    call.recording_url = (
        artifact.get("recordingUrl") or message.get("recordingUrl") or call.recording_url
    )
    call.report_received_at = call.report_received_at or now


def elevenlabs_failure_outcome(metadata: dict[str, Any]) -> CallOutcome:
    """A failed conversation's outcome from its own words (a polled one carries no
    `call_initiation_failure`): the error reason, else the termination reason, read for the
    same busy / no-answer the webhook names, and voicemail."""
    error = metadata.get("error") or {}
    said = (
        " ".join(
            str(v).lower()
            for v in (
                error.get("reason") if isinstance(error, dict) else None,
                metadata.get("termination_reason"),
            )
            if v
        )
        .replace("_", "-")
        .replace(" ", "-")
    )
    for needle, outcome in (
        ("no-answer", CallOutcome.NO_ANSWER),
        ("busy", CallOutcome.BUSY),
        ("voicemail", CallOutcome.VOICEMAIL),
    ):
        if needle in said:
            return outcome
    return CallOutcome.FAILED


def apply_elevenlabs(
    call: Call, event_type: str, payload: dict[str, Any], *, now: datetime
) -> None:
    data = payload["data"]
    metadata = data.get("metadata") or {}
    if event_type == "call_initiation_failure":
        reason = str(data.get("failure_reason") or "unknown")
        outcome = ELEVENLABS_FAILURES.get(reason, CallOutcome.FAILED)
        _end(call, outcome, ended_at=now, reason=f"call_initiation_failure: {reason}")
        call.report_received_at = call.report_received_at or now
        return
    # post_call_transcription: the conversation as it ended.
    turns = [
        {
            "role": "user" if t.get("role") == "user" else "agent",
            "text": str(t.get("message")),
            "seconds": t.get("time_in_call_secs"),
        }
        for t in data.get("transcript") or []
        if isinstance(t, dict) and t.get("message")
    ]
    started = _ts(metadata.get("start_time_unix_secs"), epoch="s")
    duration = metadata.get("call_duration_secs")
    answered = any(t["role"] == "user" for t in turns)
    if data.get("status") == "failed":
        outcome = elevenlabs_failure_outcome(metadata)
    else:
        outcome = CallOutcome.COMPLETED if answered else CallOutcome.NO_ANSWER
    ended = (
        datetime.fromtimestamp(started.timestamp() + duration, started.tzinfo)
        if started and isinstance(duration, int | float)
        else now
    )
    _end(call, outcome, ended_at=ended, reason=metadata.get("termination_reason") or None)
    call.started_at = call.started_at or started
    if isinstance(duration, int | float):
        call.duration_seconds = int(duration)
    if isinstance(metadata.get("cost"), int | float):
        call.cost_credits = int(metadata["cost"])
    charging = metadata.get("charging") or {}
    fiat = metadata.get("cost_fiat", charging.get("cost_fiat"))
    if isinstance(fiat, int | float):
        call.cost_usd = float(fiat)
    phone = metadata.get("phone_call") or {}
    call.twilio_call_sid = call.twilio_call_sid or phone.get("call_sid")
    analysis = data.get("analysis") or {}
    call.transcript = turns or call.transcript
    call.summary = analysis.get("transcript_summary") or call.summary
    collected = {
        key: (item or {}).get("value")
        for key, item in (analysis.get("data_collection_results") or {}).items()
    }
    call.structured_data = collected or call.structured_data
    call.report_received_at = call.report_received_at or now


def apply_event(call: Call, event_type: str, payload: dict[str, Any], *, now: datetime) -> None:
    """Apply one stored event to its call (idempotent: applying it twice changes nothing)."""
    if call.provider == CallProvider.VAPI:
        apply_vapi(call, event_type, payload, now=now)
    else:
        apply_elevenlabs(call, event_type, payload, now=now)
