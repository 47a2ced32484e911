"""Signed call webhooks: `POST /webhooks/vapi` and `POST /webhooks/elevenlabs` (public routes).

Verify over the raw body, store in the inbox, answer 200 fast; the event is applied after the
commit (a background task). Missing signature → 400, bad or stale → 401, malformed JSON → 400;
nothing unauthenticated is stored. Types we do not handle are acknowledged and dropped (VAPI
sends many; ElevenLabs `post_call_audio` carries base64 audio we do not keep).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from db.database import session_scope
from db.retry import db_retry
from helpers.errors import BadRequest, Unauthorized, UpstreamNotConfigured
from helpers.time_utils import utc_now
from logic.calls.events import EventKey, parse_elevenlabs, parse_vapi
from logic.calls.service import after_webhook
from logic.calls.webhooks import Intake, receive
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


class InvalidSignature(Unauthorized):
    code = "invalid_signature"


class MissingSignature(BadRequest):
    code = "missing_signature"


class WebhookNotConfigured(UpstreamNotConfigured):
    code = "webhook_not_configured"


@db_retry(max_retries=3)
def _store(key: EventKey, payload: dict[str, Any]) -> Intake:
    with session_scope() as session:
        return receive(session, key, payload, now=utc_now())


async def _intake(
    request: Request,
    background: BackgroundTasks,
    verify: Callable[[bytes], None],
    parse: Callable[[Any, bytes], EventKey | None],
    settings: Any,
) -> WebhookAck:
    raw = await request.body()  # the exact bytes the vendor signed
    try:
        verify(raw)
    except SignatureNotConfigured as exc:
        raise WebhookNotConfigured(str(exc)) from None
    except SignatureMissing as exc:
        raise MissingSignature(str(exc)) from None
    except WebhookSignatureError as exc:
        raise InvalidSignature(str(exc)) from None
    try:
        payload = json.loads(raw)
        key = parse(payload, raw)
    except ValueError as exc:
        raise BadRequest(f"malformed webhook body: {exc}") from None
    if key is None:
        return WebhookAck(ignored=True)
    intake = await run_in_threadpool(_store, key, payload)
    if intake.stored and intake.call_id is not None:
        background.add_task(after_webhook, intake.call_id, settings)
    return WebhookAck(stored=intake.stored, duplicate=not intake.stored)


@router.post("/vapi")
async def vapi_webhook(
    request: Request, background: BackgroundTasks, settings: SettingsDep
) -> WebhookAck:
    """VAPI server messages (X-Vapi-Secret or HMAC): status, end-of-call report, transcript."""
    secret = settings.VAPI_WEBHOOK_SECRET.get_secret_value()
    return await _intake(
        request,
        background,
        lambda raw: verify_vapi_webhook(raw, request.headers, secret),
        parse_vapi,
        settings,
    )


@router.post("/elevenlabs")
async def elevenlabs_webhook(
    request: Request, background: BackgroundTasks, settings: SettingsDep
) -> WebhookAck:
    """ElevenLabs post-call webhooks, signed `ElevenLabs-Signature: t=…,v0=…`."""
    secret = settings.ELEVENLABS_WEBHOOK_SECRET.get_secret_value()
    return await _intake(
        request,
        background,
        lambda raw: verify_elevenlabs_signature(raw, request.headers.get(SIGNATURE_HEADER), secret),
        parse_elevenlabs,
        settings,
    )
