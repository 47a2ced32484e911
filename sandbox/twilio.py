"""Sandbox imitation of Twilio Messaging (twilio-messaging-2010 spec): send, list and read texts,
status callbacks and inbound texts, signed as Twilio signs them.

`POST /twilio/2010-04-01/Accounts/{AccountSid}/Messages.json` (form: `To`, `From` or
`MessagingServiceSid`, `Body`, `StatusCallback`; HTTP Basic account SID : auth token) answers 201
with the Message resource, `status` `queued`. The text then moves `queued → sent → delivered`,
each step posted to its `StatusCallback` (form fields `MessageSid`, `MessageStatus`, `To`,
`From`, `AccountSid`, `ApiVersion`, …) with `X-Twilio-Signature` (HMAC-SHA1 of the URL and the
sorted parameters, the `twilio` package's `RequestValidator`). Outcome by the number's last
digit: 6 → `undelivered` (error 30003), 5 → `failed` (30008), else `delivered`.
`POST /_sandbox/twilio/inbound` makes a driver text our number: the inbound message is stored and
posted to the Twilio webhook target (`SANDBOX_WEBHOOK_URL_TWILIO` or `POST /_sandbox/webhooks`).
"""

from __future__ import annotations

import base64
import re
import threading
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from twilio.request_validator import RequestValidator

from sandbox.credentials import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER
from sandbox.webhooks import WebhookTarget, dispatcher

router = APIRouter(prefix="/twilio/2010-04-01/Accounts/{AccountSid}", tags=["twilio"])
control_router = APIRouter(prefix="/_sandbox/twilio", tags=["sandbox"])
extra_routers = (control_router,)

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
OUTCOMES = {"6": ("undelivered", 30003), "5": ("failed", 30008)}

_lock = threading.Lock()
_messages: dict[str, dict[str, Any]] = {}


def reset() -> None:
    with _lock:
        _messages.clear()


def init_state(state: Any) -> None:
    state.on_reset(reset)


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def _unauthorized(request: Request, account_sid: str) -> JSONResponse | None:
    expected = base64.b64encode(f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode()
    if request.headers.get("authorization") != f"Basic {expected}":
        return _error(401, 20003, "Authenticate")
    if account_sid != TWILIO_ACCOUNT_SID:
        return _error(404, 20404, f"The requested resource {request.url.path} was not found")
    return None


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC)).replace("-0000", "+0000")


def _resource(
    *, sid: str, to: str, from_: str, body: str, direction: str, status: str, now: datetime
) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{TWILIO_ACCOUNT_SID}/Messages/{sid}"
    return {
        "account_sid": TWILIO_ACCOUNT_SID,
        "api_version": API_VERSION,
        "body": body,
        "date_created": _rfc2822(now),
        "date_sent": _rfc2822(now) if direction == "inbound" else None,
        "date_updated": _rfc2822(now),
        "direction": direction,
        "error_code": None,
        "error_message": None,
        "from": from_,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": str(max(1, -(-len(body) // 160))),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": to,
        "uri": f"{uri}.json",
    }


def _new_sid() -> str:
    return "SM" + uuid.uuid4().hex


def _signer(body: bytes, target: WebhookTarget) -> dict[str, str]:
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    token = RequestValidator(target.secret)
    return {"X-Twilio-Signature": token.compute_signature(target.url or "", params)}


def _status_step(sid: str, status: str, error: int | None):
    def step() -> tuple[str, dict[str, Any]] | None:
        with _lock:
            message = _messages[sid]
            message["status"] = status
            message["date_updated"] = _rfc2822(datetime.now(UTC))
            if status == "sent":
                message["date_sent"] = message["date_updated"]
            if error is not None:
                message["error_code"] = error
                message["error_message"] = "Unreachable destination handset"
            callback = message.get("_status_callback")
            form = {
                "MessageSid": sid,
                "SmsSid": sid,
                "AccountSid": TWILIO_ACCOUNT_SID,
                "From": message["from"],
                "To": message["to"],
                "MessageStatus": status,
                "SmsStatus": status,
                "ApiVersion": API_VERSION,
            }
        if error is not None:
            form["ErrorCode"] = str(error)
        return ("status", form) if callback else None

    return step


def public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("_")}


@router.post("/Messages.json", status_code=201)
async def create_message(AccountSid: str, request: Request) -> Any:
    """Send a text: 201 `queued`; status callbacks follow when `StatusCallback` is given."""
    if refusal := _unauthorized(request, AccountSid):
        return refusal
    form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    to, from_ = form.get("To", ""), form.get("From", "")
    body = form.get("Body", "")
    if not E164.match(to):
        return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not from_ and not form.get("MessagingServiceSid"):
        return _error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
    if not body and not form.get("MediaUrl"):
        return _error(400, 21602, "Message body is required.")
    if len(body) > 1600:
        return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit")
    sid = _new_sid()
    message = _resource(
        sid=sid,
        to=to,
        from_=from_,
        body=body,
        direction="outbound-api",
        status="queued",
        now=datetime.now(UTC),
    )
    callback = form.get("StatusCallback")
    with _lock:
        _messages[sid] = {**message, "_status_callback": callback}
    final, error = OUTCOMES.get(to[-1], ("delivered", None))
    steps = [_status_step(sid, "sent", None), _status_step(sid, final, error)]
    dispatcher.schedule("twilio", steps, _signer, url_override=callback or None)
    return JSONResponse(message, status_code=201)


@router.get("/Messages.json")
def list_messages(
    AccountSid: str,
    request: Request,
    To: str | None = None,
    From: str | None = None,
    PageSize: int = 50,
    Page: int = 0,
) -> Any:
    """Messages newest first, filtered by `To`, `From` and `DateSent>` (a GMT date)."""
    if refusal := _unauthorized(request, AccountSid):
        return refusal
    after = request.query_params.get("DateSent>")
    with _lock:
        found = [public(m) for m in _messages.values()]
    if To:
        found = [m for m in found if m["to"] == To]
    if From:
        found = [m for m in found if m["from"] == From]
    if after:
        day = datetime.fromisoformat(after[:10]).date()
        found = [m for m in found if _created(m).date() >= day]
    found.sort(key=_created, reverse=True)
    size = max(1, min(PageSize, 1000))
    page = found[Page * size : (Page + 1) * size]
    base = f"/{API_VERSION}/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
    more = len(found) > (Page + 1) * size
    return {
        "end": Page * size + max(len(page) - 1, 0),
        "first_page_uri": f"{base}?PageSize={size}&Page=0",
        "next_page_uri": f"{base}?PageSize={size}&Page={Page + 1}" if more else None,
        "page": Page,
        "page_size": size,
        "previous_page_uri": f"{base}?PageSize={size}&Page={Page - 1}" if Page else None,
        "start": Page * size,
        "uri": f"{base}?PageSize={size}&Page={Page}",
        "messages": page,
    }


def _created(message: dict[str, Any]) -> datetime:
    return parsedate_to_datetime(message["date_created"])


@router.get("/Messages/{Sid}.json")
def get_message(AccountSid: str, Sid: str, request: Request) -> Any:
    if refusal := _unauthorized(request, AccountSid):
        return refusal
    with _lock:
        message = _messages.get(Sid)
    if message is None:
        return _error(404, 20404, f"The requested resource {request.url.path} was not found")
    return public(message)


class InboundIn(BaseModel):
    from_: str = Field(alias="from", pattern=r"^\+[1-9]\d{6,14}$")
    body: str = Field(min_length=1, max_length=1600)
    to: str = TWILIO_FROM_NUMBER


@control_router.post("/inbound", status_code=201)
def driver_texts(body: InboundIn) -> dict[str, Any]:
    """Make a driver text our number: stored, then posted (signed) to the Twilio webhook URL."""
    sid = _new_sid()
    message = _resource(
        sid=sid,
        to=body.to,
        from_=body.from_,
        body=body.body,
        direction="inbound",
        status="received",
        now=datetime.now(UTC),
    )
    with _lock:
        _messages[sid] = message
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": TWILIO_ACCOUNT_SID,
        "From": body.from_,
        "To": body.to,
        "Body": body.body,
        "NumMedia": "0",
        "NumSegments": message["num_segments"],
        "SmsStatus": "received",
        "ApiVersion": API_VERSION,
    }
    dispatcher.schedule("twilio", [lambda: ("message", form)], _signer)
    return message
