"""Signed call webhooks: `POST /webhooks/vapi` and `POST /webhooks/elevenlabs` (public routes).

Verify over the raw body, store in the inbox, answer 200 fast; the event is applied after the
commit (a background task). Both steps go through a group commit (helpers/group_commit.py): the
deliveries arriving together share one inbox transaction, and their calls one processing
transaction, instead of a transaction and a thread hand-off each. Missing signature → 400, bad
or stale → 401, malformed JSON → 400; nothing unauthenticated is stored. Types we do not handle
are acknowledged and dropped (VAPI sends many; ElevenLabs `post_call_audio` carries base64 audio
we do not keep).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request, Response
from pydantic import BaseModel

from config import Settings
from helpers import group_commit
from helpers.errors import BadRequest, Unauthorized, UpstreamNotConfigured
from helpers.metrics import count_webhook
from logic.calls.events import EventKey, parse_elevenlabs, parse_vapi
from logic.calls.service import after_webhooks
from logic.calls.webhooks import Intake, receive_unit
from models.call import CallProvider
from services.vendor_deps import SettingsDep
from utils.elevenlabs_client import SIGNATURE_HEADER, verify_elevenlabs_signature
from utils.signatures import SignatureMissing, SignatureNotConfigured, WebhookSignatureError
from utils.vapi_client import verify_vapi_webhook

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


async def _process(call_id: int, settings: Settings) -> None:
    batch = partial(after_webhooks, settings=settings)
    # Keyed by the settings too: they say where the Slack replies go (tests override them).
    key = ("webhook processing", id(settings))
    await group_commit.for_current_loop(key, batch).submit(call_id)


async def _intake(
    provider: str,
    request: Request,
    background: BackgroundTasks,
    verify: Callable[[bytes], None],
    parse: Callable[[Any, bytes], EventKey | None],
    settings: Any,
) -> Response:
    raw = await request.body()  # the exact bytes the vendor signed
    try:
        verify(raw)
    except SignatureNotConfigured as exc:
        raise WebhookNotConfigured(str(exc)) from None
    except WebhookSignatureError as exc:
        count_webhook(provider, "rejected")
        refusal = MissingSignature if isinstance(exc, SignatureMissing) else InvalidSignature
        raise refusal(str(exc)) from None
    try:
        payload = json.loads(raw)
        key = parse(payload, raw)
    except ValueError as exc:
        count_webhook(provider, "rejected")
        raise BadRequest(f"malformed webhook body: {exc}") from None
    if key is None:
        count_webhook(provider, "ignored")
        return _ack("ignored")
    intake = await _store(key, payload)
    count_webhook(provider, "accepted" if intake.stored else "duplicate")
    if intake.stored and intake.call_id is not None:
        background.add_task(_process, intake.call_id, settings)
    return _ack("stored" if intake.stored else "duplicate")


@router.post("/vapi", response_model=WebhookAck)
async def vapi_webhook(
    request: Request, background: BackgroundTasks, settings: SettingsDep
) -> Response:
    """VAPI server messages (X-Vapi-Secret or HMAC): status, end-of-call report, transcript."""
    secret = settings.VAPI_WEBHOOK_SECRET.get_secret_value()
    return await _intake(
        CallProvider.VAPI,
        request,
        background,
        lambda raw: verify_vapi_webhook(raw, request.headers, secret),
        parse_vapi,
        settings,
    )


@router.post("/elevenlabs", response_model=WebhookAck)
async def elevenlabs_webhook(
    request: Request, background: BackgroundTasks, settings: SettingsDep
) -> Response:
    """ElevenLabs post-call webhooks, signed `ElevenLabs-Signature: t=…,v0=…`."""
    secret = settings.ELEVENLABS_WEBHOOK_SECRET.get_secret_value()
    return await _intake(
        CallProvider.ELEVENLABS,
        request,
        background,
        lambda raw: verify_elevenlabs_signature(raw, request.headers.get(SIGNATURE_HEADER), secret),
        parse_elevenlabs,
        settings,
    )
