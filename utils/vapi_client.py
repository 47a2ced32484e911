"""VAPI client: place an outbound call, read calls, and verify VAPI's server-URL webhooks.

`POST /call` takes `assistantId`, `phoneNumberId`, `customer.number` (E.164) and per-call
`assistantOverrides.variableValues`; VAPI rejects unknown top-level fields (there is no top-level
`metadata`), so correlation ids ride in `assistantOverrides.metadata`. `GET /call` is a plain
array. Creating a call is retried only when the request provably was not acted on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from config import Settings
from helpers.time_utils import parse_vendor_timestamp
from utils.http import (
    VendorJsonClient,
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

VENDOR = "vapi"
SECRET_HEADER = "x-vapi-secret"  # noqa: S105 - a header name, not a secret
HMAC_SIGNATURE_HEADER = "x-signature"
HMAC_TIMESTAMP_HEADER = "x-timestamp"
# VAPI documents no window for its HMAC timestamp; 5 minutes matches Slack's.
HMAC_TOLERANCE_SECONDS = 300
# VAPI's default server messages (AssistantOverrides.serverMessages): a call that may transfer
# asks for `transfer-update` too, which is not among them.
DEFAULT_SERVER_MESSAGES = (
    "conversation-update",
    "end-of-call-report",
    "function-call",
    "hang",
    "speech-update",
    "status-update",
    "tool-calls",
    "transfer-destination-request",
    "handoff-destination-request",
    "user-interrupted",
    "assistant.started",
)
TRANSFER_WHEN = (
    "Transfer the driver to the on-call dispatcher when they ask to speak to a person, or "
    "report a breakdown, an accident, an injury or a health problem."
)


@dataclass(frozen=True)
class VapiCall:
    """The fields we use from VAPI's `Call`; transcript and summary prefer `artifact`/`analysis`."""

    id: str
    status: str | None
    type: str | None
    ended_reason: str | None
    customer_number: str | None
    created_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    cost: float | None
    transcript: str | None
    summary: str | None
    structured_data: dict[str, Any] | None
    success_evaluation: str | None
    recording_url: str | None
    variable_values: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_ended(self) -> bool:
        return self.status == "ended"


def _ts(value: Any) -> datetime | None:
    try:
        return parse_vendor_timestamp(value, epoch=None)
    except ValueError:
        return None


def parse_call(data: Any) -> VapiCall:
    """A `Call` object (from the API or a webhook's `message.call`) as a typed result."""
    if not isinstance(data, dict) or not data.get("id"):
        raise VendorResponseError(VENDOR, "call object without an id")
    artifact = data.get("artifact") or {}
    analysis = data.get("analysis") or {}
    overrides = data.get("assistantOverrides") or {}
    customer = data.get("customer") or {}
    cost = data.get("cost")
    return VapiCall(
        id=str(data["id"]),
        status=data.get("status"),
        type=data.get("type"),
        ended_reason=data.get("endedReason"),
        customer_number=customer.get("number"),
        created_at=_ts(data.get("createdAt")),
        started_at=_ts(data.get("startedAt")),
        ended_at=_ts(data.get("endedAt")),
        cost=float(cost) if isinstance(cost, int | float) else None,
        # Top-level transcript/summary/recordingUrl are the pre-2024 shape VAPI may still send.
        transcript=artifact.get("transcript") or data.get("transcript"),
        summary=analysis.get("summary") or data.get("summary"),
        structured_data=analysis.get("structuredData"),
        success_evaluation=(
            str(analysis["successEvaluation"])
            if analysis.get("successEvaluation") is not None
            else None
        ),
        recording_url=artifact.get("recordingUrl") or data.get("recordingUrl"),
        variable_values=dict(overrides.get("variableValues") or {}),
        metadata=dict(overrides.get("metadata") or {}),
        raw=data,
    )


class VapiClient(VendorJsonClient):
    vendor = VENDOR

    def create_call(
        self,
        *,
        assistant_id: str,
        phone_number_id: str,
        customer_number: str,
        variable_values: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        customer_name: str | None = None,
        customer_external_id: str | None = None,
        name: str | None = None,
        server_url: str | None = None,
        voicemail_message: str | None = None,
        transfer_number: str | None = None,
    ) -> VapiCall:
        """Place one outbound phone call; `metadata` goes in `assistantOverrides.metadata`.

        `server_url` overrides the assistant's webhook URL for this call only. With
        `voicemail_message` VAPI detects voicemail (`voicemailDetection`, provider vapi) and
        leaves that message; with `transfer_number` the assistant gets a `transferCall` tool to
        that number (and the call reports `transfer-update`).
        """
        customer: dict[str, Any] = {"number": customer_number}
        if customer_name:
            customer["name"] = customer_name
        if customer_external_id:
            customer["externalId"] = customer_external_id
        body: dict[str, Any] = {
            "assistantId": assistant_id,
            "phoneNumberId": phone_number_id,
            "customer": customer,
        }
        overrides: dict[str, Any] = {}
        if variable_values:
            overrides["variableValues"] = dict(variable_values)
        if metadata:
            overrides["metadata"] = dict(metadata)
        if server_url:
            overrides["server"] = {"url": server_url}
        if voicemail_message:
            overrides["voicemailDetection"] = {"provider": "vapi"}
            overrides["voicemailMessage"] = voicemail_message[:1000]
        if transfer_number:
            overrides["tools:append"] = [
                {
                    "type": "transferCall",
                    "destinations": [
                        {
                            "type": "number",
                            "number": transfer_number,
                            "message": "Connecting you to the on-call dispatcher now.",
                            "description": TRANSFER_WHEN,
                        }
                    ],
                }
            ]
            overrides["serverMessages"] = [*DEFAULT_SERVER_MESSAGES, "transfer-update"]
        if overrides:
            body["assistantOverrides"] = overrides
        if name:
            body["name"] = name[:40]
        data = self._call("POST", "/call", json=body, retry_if=create_is_retryable)
        return parse_call(data)

    def get_call(self, call_id: str) -> VapiCall:
        data = self._call("GET", f"/call/{call_id}")
        return parse_call(data)

    def list_calls(
        self,
        *,
        assistant_id: str | None = None,
        limit: int = 100,
        created_after: datetime | None = None,
    ) -> list[VapiCall]:
        """Calls newest first as VAPI returns them: a plain array, no pagination envelope."""
        params: dict[str, str] = {"limit": str(limit)}
        if assistant_id:
            params["assistantId"] = assistant_id
        if created_after:
            params["createdAtGt"] = created_after.isoformat()
        data = self._call("GET", "/call", params=params)
        if not isinstance(data, list):
            raise VendorResponseError(VENDOR, "GET /call did not return an array")
        return [parse_call(item) for item in data]

    @staticmethod
    def _error_message(response: httpx.Response) -> str | None:
        """VAPI's NestJS errors: `{"message": str | [str], "error", "statusCode"}`."""
        if response.status_code < 400:
            return None
        try:
            message = response.json().get("message")
        except (ValueError, AttributeError):
            return None
        if isinstance(message, list):
            message = "; ".join(str(m) for m in message)
        return f"HTTP {response.status_code}: {message}" if message else None


def build_vapi_client(settings: Settings, *, retry_wait: float = 0.5) -> VapiClient:
    """A client for `VAPI_BASE_URL` with the private key as Bearer; needs `VAPI_API_KEY`."""
    key = required_credential(settings, "VAPI_API_KEY", vendor="VAPI")
    http = build_http_client(
        settings.VAPI_BASE_URL,
        timeout=settings.VENDOR_TIMEOUT_SECONDS,
        headers={"Authorization": f"Bearer {key}"},
    )
    return VapiClient(http, retry_wait=retry_wait)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def verify_vapi_secret(headers: Mapping[str, str], secret: str | None) -> None:
    """The legacy/static scheme: `X-Vapi-Secret: <secret>` (or `Authorization: Bearer <secret>`)."""
    expected = require_secret(secret, "VAPI_WEBHOOK_SECRET")
    supplied = _header(headers, SECRET_HEADER)
    if supplied is None:
        authorization = _header(headers, "authorization") or ""
        if authorization.lower().startswith("bearer "):
            supplied = authorization[7:].strip()
    if not supplied:
        raise SignatureMissing("X-Vapi-Secret header missing")
    if not constant_time_equals(supplied, expected):
        raise SignatureInvalid("X-Vapi-Secret does not match")


def sign_vapi_hmac(secret: str, timestamp: str, raw_body: bytes) -> str:
    """VAPI's HMAC credential defaults: sha256, hex, payload `{timestamp}.{body}`."""
    return hmac_sha256_hex(secret, timestamp.encode() + b"." + raw_body)


def verify_vapi_hmac(
    raw_body: bytes,
    headers: Mapping[str, str],
    secret: str | None,
    *,
    now: float | None = None,
    tolerance: float = HMAC_TOLERANCE_SECONDS,
) -> None:
    """The HMAC credential scheme with its defaults (`x-signature`, `x-timestamp`)."""
    key = require_secret(secret, "VAPI_WEBHOOK_SECRET")
    signature = _header(headers, HMAC_SIGNATURE_HEADER)
    timestamp = _header(headers, HMAC_TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise SignatureMissing("x-signature or x-timestamp header missing")
    check_age(parse_unix_timestamp(timestamp), tolerance=tolerance, now=now, allow_future=False)
    supplied = signature.strip().removeprefix("sha256=")
    if not constant_time_equals(sign_vapi_hmac(key, timestamp.strip(), raw_body), supplied):
        raise SignatureInvalid("VAPI HMAC signature does not match")


def verify_vapi_webhook(
    raw_body: bytes, headers: Mapping[str, str], secret: str | None, *, now: float | None = None
) -> None:
    """Accept either scheme: HMAC when its headers are present, else the shared secret header."""
    if _header(headers, HMAC_SIGNATURE_HEADER) is not None:
        verify_vapi_hmac(raw_body, headers, secret, now=now)
    else:
        verify_vapi_secret(headers, secret)
