"""ElevenLabs behind `VoiceProvider`: post-call webhooks (`ElevenLabs-Signature`), Twilio
outbound call, find a conversation by agent, user and start time (confirmed by its
`hub_call_id` variable), poll the conversation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from config import Settings
from logic.calls.voice.base import Dialed, DialSpec, EventKey, Polled
from logic.calls.voice.state import body_digest, end_call, hub_call_id, vendor_time
from models.call import Call, CallOutcome
from utils.elevenlabs_client import (
    SIGNATURE_HEADER,
    ElevenLabsClient,
    build_elevenlabs_client,
    verify_elevenlabs_signature,
)

NAME = "elevenlabs"
FINISHED = ("done", "failed")
FAILURES = {"busy": CallOutcome.BUSY, "no-answer": CallOutcome.NO_ANSWER}
HANDLED = frozenset({"post_call_transcription", "call_initiation_failure"})
# The agent's built-in system tools report in `transcript[].tool_results[].result` (the spec's
# `ConversationHistoryTranscriptSystemToolResultCommonModel`), keyed by `result_type`.
VOICEMAIL_DETECTED = "voicemail_detection_success"
TRANSFERRED = frozenset({"transfer_to_number_twilio_success", "transfer_to_number_sip_success"})


def parse_elevenlabs(payload: Any, raw_body: bytes) -> EventKey | None:
    """Key of an ElevenLabs post-call webhook; None for `post_call_audio` and unknown types."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise ValueError("ElevenLabs webhook body has no data object")
    event_type = str(payload.get("type") or "")
    if event_type not in HANDLED:
        return None
    data = payload["data"]
    conversation_id = data.get("conversation_id")
    variables = (data.get("conversation_initiation_client_data") or {}).get(
        "dynamic_variables"
    ) or {}
    detail = conversation_id or body_digest(raw_body)
    return EventKey(
        provider=NAME,
        event_type=event_type,
        fingerprint=f"{detail}:{event_type}"[:200],
        provider_call_id=str(conversation_id) if conversation_id else None,
        hub_call_id=hub_call_id(variables.get("hub_call_id")),
        occurred_at=vendor_time(payload.get("event_timestamp"), epoch="s"),
    )


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


def _after(started: datetime | None, seconds: Any) -> datetime | None:
    """`seconds` into a call that began at `started`, when both are known."""
    if started is None or not isinstance(seconds, int | float):
        return None
    return datetime.fromtimestamp(started.timestamp() + seconds, started.tzinfo)


def _system_results(data: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(turn, result) for every successful system-tool result in the transcript."""
    return [
        (turn, item["result"])
        for turn in data.get("transcript") or []
        if isinstance(turn, dict)
        for item in turn.get("tool_results") or []
        if isinstance(item, dict)
        and item.get("type") == "system"
        and not item.get("is_error")
        and isinstance(item.get("result"), dict)
    ]


def _apply_tools(
    call: Call, data: dict[str, Any], outcome: CallOutcome, started: datetime | None, now: datetime
) -> CallOutcome:
    """What the agent's voicemail and transfer tools did: the outcome (a voicemail the tool
    left its message on is `voicemail_left`) and the transfer, recorded as VAPI's is."""
    for turn, result in _system_results(data):
        kind = result.get("result_type")
        if kind == VOICEMAIL_DETECTED:
            left = bool(result.get("voicemail_message"))
            outcome = CallOutcome.VOICEMAIL_LEFT if left else CallOutcome.VOICEMAIL
        elif kind in TRANSFERRED and result.get("transfer_number"):
            call.transferred_to = str(result["transfer_number"])[:40]
            at = _after(started, turn.get("time_in_call_secs")) or now
            call.transferred_at = call.transferred_at or at
    return outcome


def _apply_transcription(call: Call, data: dict[str, Any], now: datetime) -> None:
    """post_call_transcription: the conversation as it ended."""
    metadata = data.get("metadata") or {}
    turns = [
        {
            "role": "user" if t.get("role") == "user" else "agent",
            "text": str(t.get("message")),
            "seconds": t.get("time_in_call_secs"),
        }
        for t in data.get("transcript") or []
        if isinstance(t, dict) and t.get("message")
    ]
    started = vendor_time(metadata.get("start_time_unix_secs"), epoch="s")
    duration = metadata.get("call_duration_secs")
    answered = any(t["role"] == "user" for t in turns)
    if data.get("status") == "failed":
        outcome = elevenlabs_failure_outcome(metadata)
    else:
        outcome = CallOutcome.COMPLETED if answered else CallOutcome.NO_ANSWER
    outcome = _apply_tools(call, data, outcome, started, now)
    ended = _after(started, duration) or now
    end_call(call, outcome, ended_at=ended, reason=metadata.get("termination_reason") or None)
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


def apply_elevenlabs(
    call: Call, event_type: str, payload: dict[str, Any], *, now: datetime
) -> None:
    data = payload["data"]
    if event_type == "call_initiation_failure":
        reason = str(data.get("failure_reason") or "unknown")
        outcome = FAILURES.get(reason, CallOutcome.FAILED)
        end_call(call, outcome, ended_at=now, reason=f"call_initiation_failure: {reason}")
        call.report_received_at = call.report_received_at or now
        return
    _apply_transcription(call, data, now)


class ElevenLabsProvider:
    name = NAME
    label = "ElevenLabs"

    def __init__(self, settings: Settings, *, retry_wait: float = 0.5) -> None:
        self._settings = settings
        self._retry_wait = retry_wait
        self._client: ElevenLabsClient | None = None

    @property
    def client(self) -> ElevenLabsClient:
        if self._client is None:
            self._client = build_elevenlabs_client(self._settings, retry_wait=self._retry_wait)
        return self._client

    def default_agent(self) -> tuple[str, str] | None:
        ids = (self._settings.ELEVENLABS_AGENT_ID, self._settings.ELEVENLABS_PHONE_NUMBER_ID)
        return ids if all(ids) else None

    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> None:
        secret = self._settings.ELEVENLABS_WEBHOOK_SECRET.get_secret_value()
        verify_elevenlabs_signature(raw_body, headers.get(SIGNATURE_HEADER), secret)

    parse_event = staticmethod(parse_elevenlabs)
    apply_event = staticmethod(apply_elevenlabs)

    def dial(self, spec: DialSpec) -> Dialed:
        started = self.client.outbound_call(
            agent_id=spec.assistant_id,
            agent_phone_number_id=spec.phone_number_id,
            to_number=spec.to_number,
            dynamic_variables=spec.variables,
            user_id=spec.user_id,
        )
        return Dialed(started.conversation_id, started.call_sid)

    def find_placed(self, spec: DialSpec, since: datetime) -> Dialed | None:
        """Conversation summaries carry no variables: narrow by agent, user and start time,
        then read each candidate for its `hub_call_id`."""
        candidates = self.client.list_conversations(
            agent_id=spec.assistant_id, started_after=since, user_id=spec.user_id
        )
        for summary in candidates:
            conversation = self.client.get_conversation(summary.conversation_id)
            if str(conversation.dynamic_variables.get("hub_call_id")) == str(spec.call_id):
                return Dialed(conversation.conversation_id, conversation.call_sid)
        return None

    def poll(
        self, provider_call_id: str, *, expected_end: datetime, now: datetime
    ) -> Polled | None:
        conversation = self.client.get_conversation(provider_call_id)
        if conversation.status not in FINISHED:
            return None
        return Polled(
            "post_call_transcription",
            {"type": "post_call_transcription", "data": conversation.raw, "source": "poll"},
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
