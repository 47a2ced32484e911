"""Twilio's signed webhooks at `POST /webhooks/twilio`: inbound texts (the number's messaging
URL) and status callbacks (each text's `StatusCallback`) — one public route, authenticated by
`X-Twilio-Signature`; the form says which it is (`Body` and `SmsStatus=received`, or
`MessageStatus`).

The signature is checked (the `twilio` package's `RequestValidator`) over the URL Twilio
requested — `TWILIO_WEBHOOK_BASE_URL` + path when set, so a proxy in front cannot change it —
and the posted form. Missing → 400, wrong (a signature replayed onto another body or URL) →
401, no auth token configured → 503; none of these is stored. A verified delivery goes into the
shared webhook inbox once (a redelivery or identical concurrent posts answer `duplicate`) and is
applied after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from config import Settings
from helpers import group_commit
from helpers.background_batches import batcher, by_settings
from helpers.errors import BadRequest
from helpers.metrics import count_webhook
from logic.calls.webhooks import receive_unit
from logic.messaging.inbound import PROVIDER, process_twilio_events, twilio_event_key
from services.call_webhooks import (
    InvalidSignature,
    MissingSignature,
    WebhookAck,
    WebhookNotConfigured,
)
from services.vendor_deps import SettingsDep
from utils.signatures import SignatureMissing, SignatureNotConfigured, WebhookSignatureError
from utils.twilio_client import SIGNATURE_HEADER, verify_twilio_signature

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])

_ACKS = {
    kind: WebhookAck(**{kind: True}).model_dump_json().encode()
    for kind in ("stored", "duplicate", "ignored")
}


def _signed_url(request: Request, settings: Settings) -> str:
    base = settings.TWILIO_WEBHOOK_BASE_URL.rstrip("/")
    if not base:
        return str(request.url)
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")


def _process_batch(items: Sequence[tuple[int, Settings]]) -> None:
    for settings, event_ids in by_settings(items):
        process_twilio_events(event_ids, settings)


def _process(event_id: int, settings: Settings) -> None:
    """Apply the event after this response, batched with the others arriving."""
    batcher("twilio webhook processing", _process_batch).put((event_id, settings))


async def _intake(request: Request, settings: Settings) -> Response:
    raw = await request.body()
    try:
        form = dict(parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        form = {}
    try:
        verify_twilio_signature(
            _signed_url(request, settings),
            form,
            request.headers.get(SIGNATURE_HEADER),
            settings.TWILIO_AUTH_TOKEN.get_secret_value(),
        )
    except SignatureNotConfigured as exc:
        raise WebhookNotConfigured(str(exc)) from None
    except WebhookSignatureError as exc:
        count_webhook(PROVIDER, "rejected")
        refusal = MissingSignature if isinstance(exc, SignatureMissing) else InvalidSignature
        raise refusal(str(exc)) from None
    try:
        key = twilio_event_key(form)
    except ValueError as exc:
        raise BadRequest(f"malformed webhook body: {exc}") from None
    if key is None:
        count_webhook(PROVIDER, "ignored")
        return Response(_ACKS["ignored"], media_type="application/json")
    intake = await group_commit.for_current_loop("webhook inbox", receive_unit).submit((key, form))
    count_webhook(PROVIDER, "accepted" if intake.stored else "duplicate")
    if intake.stored and intake.event_id is not None:
        _process(intake.event_id, settings)
    return Response(
        _ACKS["stored" if intake.stored else "duplicate"], media_type="application/json"
    )


@router.post("", response_model=WebhookAck)
async def twilio_webhook(request: Request, settings: SettingsDep) -> Response:
    """A driver's text to our number, or a status callback for a text we sent (queued, sent,
    delivered, undelivered, failed): form-encoded, signed `X-Twilio-Signature`."""
    return await _intake(request, settings)
