"""Slack Web API client (post, update, thread reply, file upload) and inbound request-signature
verification.

Slack reports most failures as HTTP 200 with `ok:false`; only rate limiting is a 429 with
`Retry-After`. `slack_sdk.WebClient` retries nothing but connection resets by default, so we add a
rate-limit handler that honours (fractional) `Retry-After`. A 5xx is retried only for idempotent
methods (`chat.update`), because a repeated `chat.postMessage` would post the alert twice.
"""

from __future__ import annotations

import random
import re
import time
import urllib.error
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from config import Settings
from utils.http import (
    MAX_ATTEMPTS,
    VendorAuthError,
    VendorRejectedError,
    VendorResponseError,
    VendorTransientError,
    parse_retry_after,
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

VENDOR = "slack"
SIGNATURE_TOLERANCE_SECONDS = 300
IDEMPOTENT_METHODS = frozenset(
    {
        "chat.update",
        "auth.test",
        "conversations.info",
        "conversations.history",
        "conversations.replies",
        "conversations.list",
    }
)
# Message metadata our deliveries carry, so a post whose answer was lost can be found again.
DELIVERY_EVENT_TYPE = "fleet_hub_delivery"
LOOKUP_PAGES = 5
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{8,}$")
RETRYABLE_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)
AUTH_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
    }
)


class FractionalRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, but parsing `Retry-After` as a float and with an injectable sleep.

    The stock handler does `int(Retry-After) + random()`, which breaks on "0.25".
    """

    def __init__(
        self,
        max_retry_count: int = MAX_ATTEMPTS - 1,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: float = 0.25,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep
        self._jitter = jitter

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        header = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
        value = header[0] if isinstance(header, list) and header else header
        delay = parse_retry_after(value) if isinstance(value, str) else None
        self._sleep((1.0 if delay is None else delay) + random.uniform(0, self._jitter))
        state.next_attempt_requested = True
        state.increment_current_attempt()


class IdempotentRetryHandler(RetryHandler):
    """Retries 5xx and dropped connections for idempotent methods; a refused connect always.

    A refused connection provably never reached Slack, so even a post is safe to repeat.
    """

    def __init__(
        self,
        max_retry_count: int = MAX_ATTEMPTS - 1,
        *,
        sleep: Callable[[float], None] = time.sleep,
        wait: float = 0.5,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep
        self._wait = wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if error is not None and _is_connection_refused(error):
            return True
        if _method_of(request.url) not in IDEMPOTENT_METHODS:
            return False
        if response is not None:
            return response.status_code >= 500
        return isinstance(error, urllib.error.URLError | ConnectionError | TimeoutError)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        self._sleep(self._wait * (2 ** (state.current_attempt)) * random.uniform(0.5, 1.0))
        state.next_attempt_requested = True
        state.increment_current_attempt()


def _is_connection_refused(error: Exception) -> bool:
    reason = getattr(error, "reason", error)
    return isinstance(reason, ConnectionRefusedError)


def _method_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


@dataclass(frozen=True)
class SlackMessage:
    """Where a message lives: keep both to update it or reply in its thread (`ts` is a string)."""

    channel: str
    ts: str
    thread_ts: str | None = None


class SlackClient:
    def __init__(self, web: WebClient) -> None:
        self._web = web

    def post_message(
        self,
        channel: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        tag: str | None = None,
    ) -> SlackMessage:
        """Post to a channel (ID or name); `text` is always sent as the notification fallback.

        `tag` (a delivery's id) goes into the message's metadata, where `find_tagged` looks for
        it before a post whose outcome is unknown is repeated.
        """
        args: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if blocks:
            args["blocks"] = blocks
        if thread_ts:
            args["thread_ts"] = thread_ts
        if tag:
            args["metadata"] = {"event_type": DELIVERY_EVENT_TYPE, "event_payload": {"tag": tag}}
        data = self._call("chat.postMessage", args)
        return SlackMessage(channel=str(data["channel"]), ts=str(data["ts"]), thread_ts=thread_ts)

    def reply_in_thread(
        self,
        parent: SlackMessage,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        tag: str | None = None,
    ) -> SlackMessage:
        return self.post_message(parent.channel, text, blocks=blocks, thread_ts=parent.ts, tag=tag)

    def find_tagged(
        self, channel: str, tag: str, *, thread_ts: str | None = None, oldest: float | None = None
    ) -> SlackMessage | None:
        """The message posted with `tag` in `channel` (or in the thread under `thread_ts`),
        newer than `oldest` (unix seconds), or None if Slack has none.

        Reads `conversations.history` / `conversations.replies` with `include_all_metadata`, a
        few pages at most; a channel given by name is looked up in `conversations.list` first
        (history wants the ID).
        """
        channel_id = channel if _CHANNEL_ID.match(channel) else self._channel_id(channel)
        if channel_id is None:
            return None
        args: dict[str, Any] = {"channel": channel_id, "include_all_metadata": "true", "limit": 200}
        if thread_ts:
            args["ts"] = thread_ts
        if oldest is not None:
            args["oldest"] = f"{oldest:.6f}"
        method = "conversations.replies" if thread_ts else "conversations.history"
        for data in self._pages(method, args):
            for message in data.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == DELIVERY_EVENT_TYPE and payload.get("tag") == tag:
                    return SlackMessage(channel_id, str(message["ts"]), thread_ts)
        return None

    def find_file(self, channel_id: str, thread_ts: str, filename: str) -> str | None:
        """The id of a file named `filename` shared in the thread under `thread_ts`, or None:
        an upload whose outcome is unknown is looked for before it is repeated."""
        args = {"channel": channel_id, "ts": thread_ts, "limit": 200}
        for data in self._pages("conversations.replies", args):
            for message in data.get("messages") or []:
                for shared in message.get("files") or []:
                    if shared.get("name") == filename and "id" in shared:
                        return str(shared["id"])
        return None

    def _channel_id(self, name: str) -> str | None:
        wanted = name.removeprefix("#").lower()
        args = {"types": "public_channel,private_channel", "exclude_archived": "true", "limit": 200}
        for data in self._pages("conversations.list", args):
            for channel in data.get("channels") or []:
                if str(channel.get("name", "")).lower() == wanted:
                    return str(channel["id"])
        return None

    def _pages(self, method: str, args: dict[str, Any]) -> Any:
        """Up to LOOKUP_PAGES pages of a read method (GET, as slack_sdk sends them)."""
        cursor = None
        for _ in range(LOOKUP_PAGES):
            params = {**args, **({"cursor": cursor} if cursor else {})}
            try:
                response = self._web.api_call(method, http_verb="GET", params=params)
            except SlackApiError as exc:
                raise _map_api_error(method, exc) from None
            except (SlackRequestError, urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                raise VendorTransientError(
                    VENDOR, f"{method}: network error {type(exc).__name__}"
                ) from None
            data = response.data if isinstance(response.data, dict) else {}
            yield data
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def update_message(
        self, message: SlackMessage, text: str, *, blocks: list[dict[str, Any]] | None = None
    ) -> SlackMessage:
        """Replace a message's text/blocks; `message.channel` must be the channel ID Slack gave."""
        args: dict[str, Any] = {"channel": message.channel, "ts": message.ts, "text": text}
        if blocks is not None:
            args["blocks"] = blocks
        data = self._call("chat.update", args)
        return SlackMessage(
            channel=str(data["channel"]), ts=str(data["ts"]), thread_ts=message.thread_ts
        )

    def upload_file(
        self,
        channel_id: str,
        *,
        filename: str,
        content: bytes,
        title: str,
        alt_txt: str | None = None,
        thread_ts: str | None = None,
        initial_comment: str | None = None,
    ) -> str:
        """Share a file in a channel (or a thread) the current way — `files.getUploadURLExternal`,
        a POST of the bytes, `files.completeUploadExternal` (slack_sdk's `files_upload_v2`).

        Returns the file id. Not idempotent: a retry after a failure uploads a new file, but the
        file is shared only by the last step, so a failed attempt leaves nothing visible.
        """
        try:
            response = self._web.files_upload_v2(
                channel=channel_id,
                filename=filename,
                content=content,
                title=title,
                alt_txt=alt_txt,
                thread_ts=thread_ts,
                initial_comment=initial_comment,
            )
        except SlackApiError as exc:
            raise _map_api_error("files_upload_v2", exc) from None
        except (SlackRequestError, urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise VendorTransientError(
                VENDOR, f"files_upload_v2: {type(exc).__name__} {str(exc)[:200]}"
            ) from None
        data = response.data if isinstance(response.data, dict) else {}
        files = data.get("files") or []
        if not files or not isinstance(files[0], dict) or "id" not in files[0]:
            raise VendorResponseError(VENDOR, "files.completeUploadExternal: no file in response")
        return str(files[0]["id"])

    def _call(self, method: str, args: dict[str, Any]) -> Mapping[str, Any]:
        try:
            response = self._web.api_call(method, json=args)
        except SlackApiError as exc:
            raise _map_api_error(method, exc) from None
        except (SlackRequestError, urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise VendorTransientError(
                VENDOR, f"{method}: network error {type(exc).__name__}"
            ) from None
        except ValueError:
            raise VendorResponseError(VENDOR, f"{method}: malformed JSON") from None
        data = response.data
        if not isinstance(data, dict) or "ts" not in data or "channel" not in data:
            raise VendorResponseError(VENDOR, f"{method}: response lacks channel/ts")
        return data


def _map_api_error(method: str, exc: SlackApiError) -> Exception:
    response = exc.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {status}")
    detail = f"{method}: {error}"
    if status == 429 or status >= 500 or error in RETRYABLE_ERRORS:
        header = response.headers.get("Retry-After") or response.headers.get("retry-after")
        if isinstance(header, list):
            header = header[0] if header else None
        return VendorTransientError(
            VENDOR, detail, status=status, retry_after=parse_retry_after(header)
        )
    if error in AUTH_ERRORS:
        return VendorAuthError(VENDOR, detail, status=status)
    return VendorRejectedError(VENDOR, detail, status=status)


def build_slack_client(
    settings: Settings, *, sleep: Callable[[float], None] = time.sleep, retry_wait: float = 0.5
) -> SlackClient:
    """A WebClient at `SLACK_BASE_URL` with our retry handlers; needs `SLACK_BOT_TOKEN`."""
    token = required_credential(settings, "SLACK_BOT_TOKEN", vendor="Slack")
    base_url = (
        settings.SLACK_BASE_URL
        if settings.SLACK_BASE_URL.endswith("/")
        else (settings.SLACK_BASE_URL + "/")
    )
    web = WebClient(
        token=token,
        base_url=base_url,
        timeout=int(max(1, settings.VENDOR_TIMEOUT_SECONDS)),
        retry_handlers=[
            FractionalRateLimitRetryHandler(sleep=sleep),
            IdempotentRetryHandler(sleep=sleep, wait=retry_wait),
        ],
    )
    return SlackClient(web)


def sign_slack_request(signing_secret: str, timestamp: str, raw_body: bytes) -> str:
    """The `X-Slack-Signature` value Slack would send (used by tests and local tooling)."""
    base = b"v0:" + timestamp.encode() + b":" + raw_body
    return "v0=" + hmac_sha256_hex(signing_secret, base)


def verify_slack_signature(
    raw_body: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    signing_secret: str | None,
    now: float | None = None,
) -> None:
    """Check `X-Slack-Signature` over `v0:{ts}:{raw_body}` within 5 minutes either way.

    Raises SignatureNotConfigured, SignatureMissing or SignatureInvalid; returns None when valid.
    """
    secret = require_secret(signing_secret, "SLACK_SIGNING_SECRET")
    if not timestamp or not signature:
        raise SignatureMissing("X-Slack-Request-Timestamp or X-Slack-Signature header missing")
    check_age(
        parse_unix_timestamp(timestamp),
        tolerance=SIGNATURE_TOLERANCE_SECONDS,
        now=now,
        allow_future=False,
    )
    if not constant_time_equals(sign_slack_request(secret, timestamp.strip(), raw_body), signature):
        raise SignatureInvalid("Slack signature does not match")
