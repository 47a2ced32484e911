"""ElevenLabs Agents client: Twilio outbound calls, batch calling, conversations, webhook HMAC.

Auth is the `xi-api-key` header. JSON is snake_case except the outbound-call response's
`callSid`. `dynamic_variables` values must be scalars (string, number, boolean). A call that
ElevenLabs could not start may come back as HTTP 200 with `success:false`: that is a rejection.
Webhooks carry `ElevenLabs-Signature: t=<unix>,v0=<hex>` over `"{t}.{raw_body}"` (30 minutes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from config import Settings
from utils.http import (
    VendorJsonClient,
    VendorRejectedError,
    VendorResponseError,
    build_http_client,
    create_is_retryable,
    required_credential,
)
from utils.signatures import (
    SignatureInvalid,
    SignatureMissing,
    check_age,
    constant_time_equals,
    hmac_sha256_hex,
    parse_unix_timestamp,
    require_secret,
)

VENDOR = "elevenlabs"
SIGNATURE_HEADER = "elevenlabs-signature"
SIGNATURE_TOLERANCE_SECONDS = 30 * 60
OUTBOUND_CALL_PATH = "/v1/convai/twilio/outbound-call"
BATCH_SUBMIT_PATH = "/v1/convai/batch-calling/submit"

Scalar = str | int | float | bool | None


class CallNotStarted(VendorRejectedError):
    """ElevenLabs answered 200 but `success` was false (or no conversation id came back)."""


@dataclass(frozen=True)
class OutboundCall:
    conversation_id: str
    call_sid: str | None
    message: str


@dataclass(frozen=True)
class BatchRecipient:
    phone_number: str
    id: str | None = None
    dynamic_variables: Mapping[str, Scalar] | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class BatchRecipientStatus:
    id: str
    phone_number: str
    status: str
    conversation_id: str | None


@dataclass(frozen=True)
class BatchCall:
    id: str
    name: str
    agent_id: str
    status: str
    total_calls_dispatched: int
    total_calls_scheduled: int
    created_at: datetime | None
    recipients: tuple[BatchRecipientStatus, ...] = ()


@dataclass(frozen=True)
class TranscriptTurn:
    role: str
    message: str | None
    time_in_call_secs: int


@dataclass(frozen=True)
class ConversationSummary:
    conversation_id: str
    agent_id: str
    status: str
    started_at: datetime | None


@dataclass(frozen=True)
class Conversation:
    conversation_id: str
    agent_id: str
    status: str
    transcript: tuple[TranscriptTurn, ...]
    call_successful: str | None
    summary: str | None
    data_collection: dict[str, Any]
    evaluation: dict[str, str]
    duration_secs: int | None
    started_at: datetime | None
    termination_reason: str | None
    call_sid: str | None
    dynamic_variables: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _from_unix(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else None


def validate_dynamic_variables(values: Mapping[str, Any] | None) -> dict[str, Scalar]:
    """ElevenLabs accepts only scalar values; refuse nested data before it reaches the wire."""
    result: dict[str, Scalar] = {}
    for key, value in (values or {}).items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ValueError(
                f"dynamic variable {key!r} must be a string, number or boolean, "
                f"not {type(value).__name__}"
            )
        result[str(key)] = value
    return result


def _client_data(
    dynamic_variables: Mapping[str, Any] | None, user_id: str | None
) -> dict[str, Any] | None:
    data: dict[str, Any] = {}
    variables = validate_dynamic_variables(dynamic_variables)
    if variables:
        data["dynamic_variables"] = variables
    if user_id:
        data["user_id"] = user_id
    return data or None


def parse_conversation(data: Any) -> Conversation:
    """A conversation (GET response or a `post_call_transcription` webhook's `data`)."""
    if not isinstance(data, dict) or not data.get("conversation_id"):
        raise VendorResponseError(VENDOR, "conversation without a conversation_id")
    metadata = data.get("metadata") or {}
    analysis = data.get("analysis") or {}
    phone = metadata.get("phone_call") or {}
    client_data = data.get("conversation_initiation_client_data") or {}
    turns = tuple(
        TranscriptTurn(
            role=str(turn.get("role") or ""),
            message=turn.get("message"),
            time_in_call_secs=int(turn.get("time_in_call_secs") or 0),
        )
        for turn in data.get("transcript") or []
        if isinstance(turn, dict)
    )
    return Conversation(
        conversation_id=str(data["conversation_id"]),
        agent_id=str(data.get("agent_id") or ""),
        status=str(data.get("status") or ""),
        transcript=turns,
        call_successful=analysis.get("call_successful"),
        summary=analysis.get("transcript_summary"),
        data_collection={
            key: (item or {}).get("value")
            for key, item in (analysis.get("data_collection_results") or {}).items()
        },
        evaluation={
            key: str((item or {}).get("result"))
            for key, item in (analysis.get("evaluation_criteria_results") or {}).items()
        },
        duration_secs=metadata.get("call_duration_secs"),
        started_at=_from_unix(metadata.get("start_time_unix_secs")),
        termination_reason=metadata.get("termination_reason"),
        call_sid=phone.get("call_sid"),
        dynamic_variables=dict(client_data.get("dynamic_variables") or {}),
        raw=data,
    )


def _parse_batch(data: Any) -> BatchCall:
    if not isinstance(data, dict) or not data.get("id"):
        raise VendorResponseError(VENDOR, "batch call without an id")
    return BatchCall(
        id=str(data["id"]),
        name=str(data.get("name") or ""),
        agent_id=str(data.get("agent_id") or ""),
        status=str(data.get("status") or ""),
        total_calls_dispatched=int(data.get("total_calls_dispatched") or 0),
        total_calls_scheduled=int(data.get("total_calls_scheduled") or 0),
        created_at=_from_unix(data.get("created_at_unix")),
        recipients=tuple(
            BatchRecipientStatus(
                id=str(r.get("id") or ""),
                phone_number=str(r.get("phone_number") or ""),
                status=str(r.get("status") or ""),
                conversation_id=r.get("conversation_id"),
            )
            for r in data.get("recipients") or []
            if isinstance(r, dict)
        ),
    )


class ElevenLabsClient(VendorJsonClient):
    vendor = VENDOR

    def outbound_call(
        self,
        *,
        agent_id: str,
        agent_phone_number_id: str,
        to_number: str,
        dynamic_variables: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> OutboundCall:
        """Start one Twilio call; raises CallNotStarted when ElevenLabs says `success:false`."""
        body: dict[str, Any] = {
            "agent_id": agent_id,
            "agent_phone_number_id": agent_phone_number_id,
            "to_number": to_number,
        }
        if client_data := _client_data(dynamic_variables, user_id):
            body["conversation_initiation_client_data"] = client_data
        data = self._call("POST", OUTBOUND_CALL_PATH, json=body, retry_if=create_is_retryable)
        if not isinstance(data, dict):
            raise VendorResponseError(VENDOR, "outbound-call response is not an object")
        if not data.get("success") or not data.get("conversation_id"):
            raise CallNotStarted(VENDOR, f"call not started: {data.get('message')}", status=200)
        return OutboundCall(
            conversation_id=str(data["conversation_id"]),
            call_sid=data.get("callSid"),
            message=str(data.get("message") or ""),
        )

    def submit_batch(
        self,
        *,
        call_name: str,
        agent_id: str,
        agent_phone_number_id: str,
        recipients: Sequence[BatchRecipient],
        scheduled_time_unix: int | None = None,
    ) -> BatchCall:
        body = {
            "call_name": call_name,
            "agent_id": agent_id,
            "agent_phone_number_id": agent_phone_number_id,
            # Required-but-nullable in the 2025 spec: send null for "now".
            "scheduled_time_unix": scheduled_time_unix,
            "recipients": [_recipient(r) for r in recipients],
        }
        data = self._call("POST", BATCH_SUBMIT_PATH, json=body, retry_if=create_is_retryable)
        return _parse_batch(data)

    def get_batch(self, batch_id: str) -> BatchCall:
        data = self._call("GET", f"/v1/convai/batch-calling/{batch_id}")
        return _parse_batch(data)

    def get_conversation(self, conversation_id: str) -> Conversation:
        data = self._call("GET", f"/v1/convai/conversations/{conversation_id}")
        return parse_conversation(data)

    def list_conversations(
        self,
        *,
        agent_id: str,
        started_after: datetime | None = None,
        user_id: str | None = None,
        page_size: int = 100,
    ) -> list[ConversationSummary]:
        """One page of an agent's conversations, newest first (summaries, no transcript)."""
        params: dict[str, str] = {"agent_id": agent_id, "page_size": str(page_size)}
        if started_after is not None:
            params["call_start_after_unix"] = str(int(started_after.timestamp()))
        if user_id:
            params["user_id"] = user_id
        data = self._call("GET", "/v1/convai/conversations", params=params)
        items = data.get("conversations") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise VendorResponseError(VENDOR, "conversations page without a conversations list")
        return [
            ConversationSummary(
                conversation_id=str(item.get("conversation_id")),
                agent_id=str(item.get("agent_id")),
                status=str(item.get("status") or ""),
                started_at=_from_unix(item.get("start_time_unix_secs")),
            )
            for item in items
            if isinstance(item, dict) and item.get("conversation_id")
        ]

    @staticmethod
    def _error_message(response: httpx.Response) -> str | None:
        """`{"detail": {"status", "message"}}` or FastAPI's `{"detail": [{"loc", "msg"}]}`."""
        if response.status_code < 400:
            return None
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            return None
        if isinstance(detail, dict):
            text = f"{detail.get('status')}: {detail.get('message')}"
        elif isinstance(detail, list):
            text = "; ".join(
                f"{'.'.join(str(p) for p in (d.get('loc') or []))}: {d.get('msg')}"
                for d in detail
                if isinstance(d, dict)
            )
        else:
            text = str(detail)
        return f"HTTP {response.status_code}: {text}"


def _recipient(recipient: BatchRecipient) -> dict[str, Any]:
    item: dict[str, Any] = {"phone_number": recipient.phone_number}
    if recipient.id:
        item["id"] = recipient.id
    if client_data := _client_data(recipient.dynamic_variables, recipient.user_id):
        item["conversation_initiation_client_data"] = client_data
    return item


def build_elevenlabs_client(settings: Settings, *, retry_wait: float = 0.5) -> ElevenLabsClient:
    """A client for `ELEVENLABS_BASE_URL`; needs `ELEVENLABS_API_KEY`."""
    key = required_credential(settings, "ELEVENLABS_API_KEY", vendor="ElevenLabs")
    http = build_http_client(
        settings.ELEVENLABS_BASE_URL,
        timeout=settings.VENDOR_TIMEOUT_SECONDS,
        headers={"xi-api-key": key},
    )
    return ElevenLabsClient(http, retry_wait=retry_wait)


def sign_elevenlabs_payload(secret: str, timestamp: int, raw_body: bytes) -> str:
    """The `ElevenLabs-Signature` header value for `raw_body` at `timestamp`."""
    digest = hmac_sha256_hex(secret, str(timestamp).encode() + b"." + raw_body)
    return f"t={timestamp},v0={digest}"


def verify_elevenlabs_signature(
    raw_body: bytes,
    header: str | None,
    secret: str | None,
    *,
    now: float | None = None,
    tolerance: float = SIGNATURE_TOLERANCE_SECONDS,
) -> None:
    """Check `ElevenLabs-Signature` (any order of `t=`/`v0=`; several `v0=` entries allowed).

    Like the vendor's SDK, only timestamps older than the tolerance are refused.
    """
    key = require_secret(secret, "ELEVENLABS_WEBHOOK_SECRET")
    if not header:
        raise SignatureMissing("ElevenLabs-Signature header missing")
    timestamp: str | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v0":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureInvalid("ElevenLabs-Signature lacks t= or v0=")
    check_age(parse_unix_timestamp(timestamp), tolerance=tolerance, now=now)
    expected = hmac_sha256_hex(key, timestamp.encode() + b"." + raw_body)
    # Compare every candidate so timing does not reveal which one matched.
    matches = [constant_time_equals(expected, candidate) for candidate in signatures]
    if not any(matches):
        raise SignatureInvalid("ElevenLabs signature does not match")
