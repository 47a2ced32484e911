"""VAPI behind `VoiceProvider`: server-URL webhooks (X-Vapi-Secret or HMAC), `POST /call`, find
a call by `assistantOverrides.metadata`, poll `GET /call/{id}`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from config import Settings
from logic.calls.voice.base import Dialed, DialSpec, EventKey, Polled, voicemail_message
from logic.calls.voice.state import advance, body_digest, end_call, hub_call_id, vendor_time
from models.call import Call, CallOutcome, CallStatus
from utils.call_insights import turns_from_text
from utils.vapi_client import VapiCall, VapiClient, build_vapi_client, verify_vapi_webhook

NAME = "vapi"
# VAPI marks a call ended before it attaches its end time and analysis (summary, structured
# data); a poll in between would finalize the call without insights, so such a call is given
# this long past its expected end before it is filled as it is.
ANALYSIS_GRACE = timedelta(minutes=10)

STATUS = {
    "scheduled": CallStatus.QUEUED,
    "queued": CallStatus.DIALING,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "forwarding": CallStatus.IN_PROGRESS,
    "ended": CallStatus.ENDED,
}
COMPLETED = frozenset(
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
CANCELED = frozenset({"manually-canceled", "call-deleted", "scheduled-call-deleted"})
HANDLED = frozenset({"status-update", "end-of-call-report", "transcript", "transfer-update"})


def _outcome(reason: str | None, call_object: dict[str, Any]) -> CallOutcome:
    """A voicemail the call was told to leave a message on is `voicemail_left`."""
    outcome = vapi_outcome(reason)
    overrides = call_object.get("assistantOverrides") or {}
    if outcome == CallOutcome.VOICEMAIL and overrides.get("voicemailMessage"):
        return CallOutcome.VOICEMAIL_LEFT
    return outcome


def vapi_outcome(ended_reason: str | None) -> CallOutcome:
    """VAPI's 600-odd ended reasons by exact value and family; unknown ones are failures."""
    reason = ended_reason or ""
    if reason in COMPLETED:
        return CallOutcome.COMPLETED
    if reason == "customer-did-not-answer" or reason.startswith("call.ringing."):
        return CallOutcome.NO_ANSWER
    if reason == "customer-busy":
        return CallOutcome.BUSY
    if reason == "voicemail":
        return CallOutcome.VOICEMAIL
    if reason in CANCELED:
        return CallOutcome.CANCELED
    return CallOutcome.FAILED


def parse_vapi(payload: Any, raw_body: bytes) -> EventKey | None:
    """Key of a VAPI server message; None for types we do not handle (answered 200, not kept)."""
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, dict):
        raise ValueError("VAPI webhook body has no message object")
    event_type = str(message.get("type") or "")
    if event_type not in HANDLED:
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
        detail = body_digest(raw_body)
    else:
        detail = ""
    if not call_id:
        detail = body_digest(raw_body)
    return EventKey(
        provider=NAME,
        event_type=event_type,
        fingerprint=f"{call_id}:{event_type}:{detail}"[:200],
        provider_call_id=str(call_id) if call_id else None,
        hub_call_id=hub_call_id(hub),
        occurred_at=vendor_time(message.get("timestamp"), epoch="ms"),
    )


def _transcript(call_object: dict[str, Any], message: dict[str, Any]) -> list[dict[str, Any]]:
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


def _apply_status(call: Call, message: dict[str, Any], call_object: dict[str, Any], now: datetime):
    status = STATUS.get(str(message.get("status")))
    if status is None:
        return
    if status == CallStatus.IN_PROGRESS:
        call.started_at = (
            call.started_at or vendor_time(call_object.get("startedAt"), epoch=None) or now
        )
    if status == CallStatus.ENDED:
        reason = message.get("endedReason") or call_object.get("endedReason")
        ended = vendor_time(call_object.get("endedAt"), epoch=None) or now
        end_call(call, _outcome(reason, call_object), ended_at=ended, reason=reason)
    else:
        advance(call, status)


def _apply_report(call: Call, message: dict[str, Any], call_object: dict[str, Any], now: datetime):
    """end-of-call-report: the complete record; it also ends the call if no status did."""
    reason = message.get("endedReason") or call_object.get("endedReason")
    started = vendor_time(message.get("startedAt") or call_object.get("startedAt"), epoch=None)
    ended = vendor_time(message.get("endedAt") or call_object.get("endedAt"), epoch=None) or now
    end_call(call, _outcome(reason, call_object), ended_at=ended, reason=reason)
    call.started_at = call.started_at or started
    if call.started_at and call.ended_at:
        call.duration_seconds = max(0, round((call.ended_at - call.started_at).total_seconds()))
    cost = message.get("cost", call_object.get("cost"))
    if isinstance(cost, int | float):
        call.cost_usd = float(cost)
    analysis = message.get("analysis") or call_object.get("analysis") or {}
    artifact = message.get("artifact") or call_object.get("artifact") or {}
    call.transcript = _transcript(call_object, message) or call.transcript
    call.summary = analysis.get("summary") or message.get("summary") or call.summary
    call.structured_data = analysis.get("structuredData") or call.structured_data
    call.recording_url = (
        artifact.get("recordingUrl") or message.get("recordingUrl") or call.recording_url
    )
    call.report_received_at = call.report_received_at or now


def apply_vapi(call: Call, event_type: str, payload: dict[str, Any], *, now: datetime) -> None:
    message = payload["message"]
    call_object = message.get("call") or {}
    if call_object.get("phoneCallProviderId") and not call.twilio_call_sid:
        call.twilio_call_sid = call_object["phoneCallProviderId"]
    if event_type == "status-update":
        _apply_status(call, message, call_object, now)
    elif event_type == "transfer-update":
        destination = message.get("destination") or {}
        call.transferred_to = str(destination.get("number") or destination.get("type") or "")[:40]
        call.transferred_at = (
            call.transferred_at or vendor_time(message.get("timestamp"), epoch="ms") or now
        )
    elif event_type == "transcript":
        if call.report_received_at is None and message.get("transcript"):
            role = "user" if message.get("role") == "user" else "agent"
            call.transcript = [
                *call.transcript,
                {"role": role, "text": message["transcript"], "seconds": None},
            ]
    else:
        _apply_report(call, message, call_object, now)


def _dialed(call: VapiCall) -> Dialed:
    return Dialed(call.id, call.raw.get("phoneCallProviderId"))


class VapiProvider:
    name = NAME
    label = "VAPI"

    def __init__(self, settings: Settings, *, retry_wait: float = 0.5) -> None:
        self._settings = settings
        self._retry_wait = retry_wait
        self._client: VapiClient | None = None

    @property
    def client(self) -> VapiClient:
        if self._client is None:
            self._client = build_vapi_client(self._settings, retry_wait=self._retry_wait)
        return self._client

    def default_agent(self) -> tuple[str, str] | None:
        ids = (self._settings.VAPI_ASSISTANT_ID, self._settings.VAPI_PHONE_NUMBER_ID)
        return ids if all(ids) else None

    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> None:
        secret = self._settings.VAPI_WEBHOOK_SECRET.get_secret_value()
        verify_vapi_webhook(raw_body, headers, secret)

    parse_event = staticmethod(parse_vapi)
    apply_event = staticmethod(apply_vapi)

    def dial(self, spec: DialSpec) -> Dialed:
        created = self.client.create_call(
            assistant_id=spec.assistant_id,
            phone_number_id=spec.phone_number_id,
            customer_number=spec.to_number,
            variable_values=spec.variables,
            metadata={
                "hub_call_id": spec.call_id,
                "driver_id": spec.driver_id,
                "alert_id": spec.alert_id,
            },
            customer_name=spec.customer_name or None,
            customer_external_id=spec.user_id,
            name=f"{spec.purpose} #{spec.call_id}",
            server_url=f"{spec.server_url.rstrip('/')}/webhooks/vapi" if spec.server_url else None,
            voicemail_message=voicemail_message(self._settings),
            transfer_number=self._settings.CALL_TRANSFER_NUMBER or None,
        )
        return _dialed(created)

    def find_placed(self, spec: DialSpec, since: datetime) -> Dialed | None:
        """VAPI cannot filter by metadata: list the assistant's calls since the dial began and
        match `hub_call_id` here (a handful of calls per minute per assistant)."""
        calls = self.client.list_calls(
            assistant_id=spec.assistant_id, created_after=since, limit=1000
        )
        for call in calls:
            if str(call.metadata.get("hub_call_id")) == str(spec.call_id):
                return _dialed(call)
        return None

    def poll(
        self, provider_call_id: str, *, expected_end: datetime, now: datetime
    ) -> Polled | None:
        polled = self.client.get_call(provider_call_id)
        if not polled.is_ended:
            return None
        raw = polled.raw
        analysed = "analysis" in raw and raw.get("endedAt")
        if not analysed and now - expected_end < ANALYSIS_GRACE:
            return None
        message = {
            "type": "end-of-call-report",
            "endedReason": raw.get("endedReason"),
            "startedAt": raw.get("startedAt"),
            "endedAt": raw.get("endedAt"),
            "cost": raw.get("cost"),
            "artifact": raw.get("artifact") or {},
            "analysis": raw.get("analysis") or {},
            "call": raw,
        }
        return Polled("end-of-call-report", {"message": message, "source": "poll"})

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
