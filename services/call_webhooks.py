"""Signed call webhooks: `POST /webhooks/{provider}` (`vapi`, `elevenlabs`; public routes).

The provider's module (logic/calls/voice) verifies and parses the delivery; this router knows no
vendor, so a newly registered provider receives its webhooks here with no change.

Verify over the raw body, store in the inbox, answer 200 fast; the event is applied after the
commit. The deliveries arriving together share one inbox transaction (a group commit,
helpers/group_commit.py); applying them is handed to a batcher (helpers/background_batches.py)
that the response does not wait for, so a burst's calls are processed in one transaction.
Missing signature → 400, bad or stale → 401, malformed JSON → 400; nothing unauthenticated is
stored. Types we do not handle are acknowledged and dropped (VAPI sends many; ElevenLabs
`post_call_audio` carries base64 audio we do not keep).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel

from config import Settings
from helpers import group_commit
from helpers.background_batches import batcher, by_settings
from helpers.errors import BadRequest, NotFound, Unauthorized, UpstreamNotConfigured
from helpers.metrics import count_webhook
from logic.calls.events import EventKey
from logic.calls.service import after_webhooks
from logic.calls.voice.base import VoiceProvider
from logic.calls.voice.registry import UnknownProvider, provider_kind
from logic.calls.webhooks import Intake, receive_unit
from services.vendor_deps import SettingsDep
from utils.signatures import SignatureMissing, SignatureNotConfigured, WebhookSignatureError

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class WebhookAck(BaseModel):
    ok: bool = True
    stored: bool = False
    duplicate: bool = False
    ignored: bool = False


# The three answers, rendered once: an ack is the whole response, on the hottest route we have.
_ACK_BODIES = {
    kind: WebhookAck(**{kind: True}).model_dump_json().encode()
    for kind in ("stored", "duplicate", "ignored")
}


def _ack(kind: str) -> Response:
    return Response(_ACK_BODIES[kind], media_type="application/json")


class InvalidSignature(Unauthorized):
    code = "invalid_signature"


class MissingSignature(BadRequest):
    code = "missing_signature"


class WebhookNotConfigured(UpstreamNotConfigured):
    code = "webhook_not_configured"


async def _store(key: EventKey, payload: dict[str, Any]) -> Intake:
    return await group_commit.for_current_loop("webhook inbox", receive_unit).submit((key, payload))


def _process_batch(items: Sequence[tuple[int, Settings]]) -> None:
    # Grouped by settings: they say where the Slack replies go (tests override them).
    for settings, call_ids in by_settings(items):
        after_webhooks(call_ids, settings)


def _process(call_id: int, settings: Settings) -> None:
    """Apply the call's new events after this response, batched with the others arriving."""
    batcher("call webhook processing", _process_batch).put((call_id, settings))


def _provider(name: str, settings: Settings) -> VoiceProvider:
    try:
        return provider_kind(name)(settings)
    except UnknownProvider as exc:
        raise NotFound(str(exc)) from None


@router.post("/{provider}", response_model=WebhookAck)
async def call_webhook(
    provider: Annotated[str, Path(description="a registered voice provider: vapi, elevenlabs")],
    request: Request,
    settings: SettingsDep,
) -> Response:
    """A voice provider's signed webhook (VAPI: X-Vapi-Secret or HMAC; ElevenLabs:
    ElevenLabs-Signature), verified and parsed by that provider's module."""
    voice = _provider(provider, settings)
    raw = await request.body()  # the exact bytes the vendor signed
    try:
        voice.verify_webhook(raw, request.headers)
    except SignatureNotConfigured as exc:
        raise WebhookNotConfigured(str(exc)) from None
    except WebhookSignatureError as exc:
        count_webhook(provider, "rejected")
        refusal = MissingSignature if isinstance(exc, SignatureMissing) else InvalidSignature
        raise refusal(str(exc)) from None
    try:
        payload = json.loads(raw)
        key = voice.parse_event(payload, raw)
    except ValueError as exc:
        count_webhook(provider, "rejected")
        raise BadRequest(f"malformed webhook body: {exc}") from None
    if key is None:
        count_webhook(provider, "ignored")
        return _ack("ignored")
    intake = await _store(key, payload)
    count_webhook(provider, "accepted" if intake.stored else "duplicate")
    if intake.stored and intake.call_id is not None:
        _process(intake.call_id, settings)
    return _ack("stored" if intake.stored else "duplicate")
