"""Twilio Messaging client: send an SMS, read messages, and verify Twilio's signed webhooks.

`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` is form-encoded (`To`, `From`, `Body`,
`StatusCallback`) under HTTP Basic auth (account SID : auth token) and answers 201 with the
Message resource (`sid`, `status` = `queued`, …). Twilio has no idempotency key for creates, so a
create is retried only when it provably never reached Twilio; a send in doubt is looked up in
the account's messages (`list_messages`) before it is repeated. Webhooks (status callbacks and
inbound messages) are checked with the `twilio` package's `RequestValidator` over the exact URL
Twilio requested and the posted form fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

from helpers.errors import UpstreamNotConfigured
from utils.http import (
    VendorJsonClient,
    VendorResponseError,
    build_http_client,
    create_is_retryable,
    required_credential,
)
from utils.signatures import SignatureInvalid, SignatureMissing, require_secret

VENDOR = "twilio"
SIGNATURE_HEADER = "x-twilio-signature"
API_VERSION = "2010-04-01"
# Message statuses after which Twilio sends no further status callback for an outbound text.
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "read", "canceled"})


@dataclass(frozen=True)
class TwilioMessage:
    """The fields we use from Twilio's Message resource."""

    sid: str
    status: str | None
    direction: str | None
    to: str | None
    from_: str | None
    body: str | None
    error_code: int | None
    error_message: str | None
    date_created: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _rfc2822(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def parse_message(data: Any) -> TwilioMessage:
    if not isinstance(data, dict) or not data.get("sid"):
        raise VendorResponseError(VENDOR, "message resource without a sid")
    code = data.get("error_code")
    return TwilioMessage(
        sid=str(data["sid"]),
        status=data.get("status"),
        direction=data.get("direction"),
        to=data.get("to"),
        from_=data.get("from"),
        body=data.get("body"),
        error_code=int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
        error_message=data.get("error_message"),
        date_created=_rfc2822(data.get("date_created")),
        raw=data,
    )


class TwilioClient(VendorJsonClient):
    vendor = VENDOR

    def __init__(self, http: httpx.Client, *, account_sid: str, retry_wait: float = 0.5) -> None:
        super().__init__(http, retry_wait=retry_wait)
        self.account_sid = account_sid

    @property
    def _messages(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    def send_message(
        self, *, to: str, from_: str, body: str, status_callback: str | None = None
    ) -> TwilioMessage:
        """Create one outbound SMS; Twilio answers `queued` and reports the rest by callback."""
        form = {"To": to, "From": from_, "Body": body}
        if status_callback:
            form["StatusCallback"] = status_callback
        data = self._call("POST", self._messages, data=form, retry_if=create_is_retryable)
        return parse_message(data)

    def get_message(self, sid: str) -> TwilioMessage:
        path = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        return parse_message(self._call("GET", path))

    def list_messages(
        self,
        *,
        to: str | None = None,
        from_: str | None = None,
        sent_after: datetime | None = None,
        page_size: int = 50,
    ) -> list[TwilioMessage]:
        """The first page of matching messages, newest first (`DateSent>` is a GMT date)."""
        params: dict[str, str] = {"PageSize": str(page_size)}
        if to:
            params["To"] = to
        if from_:
            params["From"] = from_
        if sent_after is not None:
            params["DateSent>"] = sent_after.date().isoformat()
        data = self._call("GET", self._messages, params=params)
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise VendorResponseError(VENDOR, "message list without a messages array")
        return [parse_message(item) for item in data["messages"]]

    @staticmethod
    def _error_message(response: httpx.Response) -> str | None:
        """Twilio's error body: `{"code": 21211, "message": "…", "more_info", "status"}`."""
        if response.status_code < 400:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        if isinstance(body, dict) and body.get("message"):
            return f"HTTP {response.status_code}: {body['message']} (code {body.get('code')})"
        return None


class _Form(dict[str, str]):
    """A posted form as `RequestValidator` reads a MultiDict: a plain dict costs it two caught
    AttributeErrors per field (it tries `getall`, then `getlist`), twice per request."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


def verify_twilio_signature(
    url: str, params: Mapping[str, str], signature: str | None, auth_token: str
) -> None:
    """Raise unless `signature` is Twilio's signature of `url` and the form `params`."""
    token = require_secret(auth_token, "TWILIO_AUTH_TOKEN")
    if not signature:
        raise SignatureMissing(f"missing {SIGNATURE_HEADER} header")
    if not RequestValidator(token).validate(url, _Form(params), signature):
        raise SignatureInvalid("X-Twilio-Signature does not match the URL and parameters")


def build_twilio_client(settings: Any, *, retry_wait: float = 0.5) -> TwilioClient:
    """A client for `TWILIO_BASE_URL`; needs `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN`."""
    token = required_credential(settings, "TWILIO_AUTH_TOKEN", vendor="Twilio")
    if not settings.TWILIO_ACCOUNT_SID:
        raise UpstreamNotConfigured("Twilio is not configured: set TWILIO_ACCOUNT_SID")
    http = build_http_client(settings.TWILIO_BASE_URL, timeout=settings.VENDOR_TIMEOUT_SECONDS)
    http.auth = httpx.BasicAuth(settings.TWILIO_ACCOUNT_SID, token)
    return TwilioClient(http, account_sid=settings.TWILIO_ACCOUNT_SID, retry_wait=retry_wait)
