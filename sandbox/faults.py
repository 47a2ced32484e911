"""Fault injection and request recording for the sandbox, as one pure ASGI middleware.

The vendor is the first path segment (`/samsara/...` → `samsara`). A fault is armed for the next
`count` requests to a vendor (`POST /_sandbox/faults`) or per request with `X-Sandbox-Fault: 429`
(plus optional `X-Sandbox-Retry-After`, `X-Sandbox-Delay`, `X-Sandbox-Status`). `lost_response`
lets the vendor act and then answers 504, the unknown outcome a timeout leaves behind. Every vendor
request is recorded (method, path, query, headers, body) so tests can assert what a client sent.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl

from sandbox.credentials import VENDORS

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# `slow` delays the request, then lets the vendor act on it (a client that timed out meanwhile
# has a call it does not know about); `5xx_after` lets the vendor act, then answers the fault's
# 5xx status (500 by default; `lost_response` is the same with a proxy's 504).
FAULT_KINDS = (
    "429",
    "5xx",
    "5xx_after",
    "slow",
    "malformed",
    "expire_token",
    "empty_page",
    "lost_response",
)
# An empty-page fault without an incoming cursor answers with this cursor; the Samsara fake reads
# it as "from the beginning", so paging continues exactly where it would have.
EMPTY_PAGE_START_CURSOR = "sandbox-start"
_LOGIN_PATHS = ("/ditat/api/tms/auth/login", "/connect/token")
RECORDED_BODY_LIMIT = 1 << 20


@dataclass
class Fault:
    vendor: str
    kind: str
    remaining: int = 1
    retry_after: float = 0.25
    delay: float = 1.0
    status: int = 503

    def applies_to(self, path: str) -> bool:
        # An expired token only matters to data calls; the login that follows must succeed.
        return not (self.kind == "expire_token" and path.endswith(_LOGIN_PATHS))


class FaultStore:
    """Armed faults, consumed one request at a time (thread-safe: tests arm from another thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, vendor: str, kind: str, count: int = 1, **params: Any) -> Fault:
        if vendor not in VENDORS:
            raise ValueError(f"unknown vendor {vendor!r}; one of {', '.join(VENDORS)}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        fault = Fault(vendor=vendor, kind=kind, remaining=count, **params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, vendor: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.vendor == vendor and fault.applies_to(path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


class RequestRecorder:
    """The most recent vendor requests, newest last. Nothing is redacted: only sandbox secrets."""

    def __init__(self, maxlen: int = 2000) -> None:
        self._lock = threading.Lock()
        self._requests: deque[dict[str, Any]] = deque(maxlen=maxlen)

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(entry)

    def list(self, vendor: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            items = [r for r in self._requests if vendor is None or r["vendor"] == vendor]
        return items[-limit:] if limit else items

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()


def vendor_error(vendor: str, status: int, message: str) -> tuple[dict[str, str], bytes]:
    """Headers and body in the vendor's own error shape for `status`."""
    request_id = uuid.uuid4().hex[:8]
    headers = {"content-type": "application/json"}
    body: Any
    if vendor == "samsara":
        body = {"message": message, "requestId": request_id}
    elif vendor == "ditat":
        body = {"data": None, "error": {"code": status, "message": message}}
    elif vendor == "pcmiler":
        body = {"Message": message}
    elif vendor == "weather":
        body = {"error": {"code": 9999 if status >= 500 else 2007, "message": message}}
    elif vendor == "nws":
        headers["content-type"] = "application/problem+json"
        body = {
            "type": "https://api.weather.gov/problems/UnexpectedProblem",
            "title": message,
            "status": status,
            "detail": message,
            "instance": f"https://api.weather.gov/requests/{request_id}",
            "correlationId": request_id,
        }
    elif vendor == "slack":
        body = {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"}
    elif vendor == "twilio":  # Twilio's REST error body
        code = 20429 if status == 429 else 20500
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    elif vendor == "bigquery":  # Google API error envelope
        reason = "rateLimitExceeded" if status == 429 else "backendError"
        body = {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
                "status": "RESOURCE_EXHAUSTED" if status == 429 else "UNAVAILABLE",
            }
        }
    elif vendor == "vapi":
        body = {"message": message, "error": _REASONS.get(status, "Error"), "statusCode": status}
    else:  # elevenlabs (FastAPI-style detail)
        body = {
            "detail": {
                "status": "rate_limit_exceeded" if status == 429 else "error",
                "message": message,
            }
        }
    return headers, json.dumps(body).encode()


_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    401: "Unauthorized",
}


def _retry_after_header(vendor: str, seconds: float) -> str:
    # slack_sdk's RateLimitErrorRetryHandler does int(Retry-After): Slack sends whole seconds.
    if vendor == "slack":
        return str(math.ceil(seconds))
    return f"{seconds:g}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _fault_from_headers(vendor: str, scope: Scope) -> Fault | None:
    kind = _header(scope, b"x-sandbox-fault")
    if not kind:
        return None
    fault = Fault(vendor=vendor, kind=kind)
    if (value := _header(scope, b"x-sandbox-retry-after")) is not None:
        fault.retry_after = float(value)
    if (value := _header(scope, b"x-sandbox-delay")) is not None:
        fault.delay = float(value)
    if (value := _header(scope, b"x-sandbox-status")) is not None:
        fault.status = int(value)
    return fault


class FaultMiddleware:
    """Records each vendor request and, when a fault is armed, answers (or delays) in its place."""

    def __init__(self, app: ASGIApp, faults: FaultStore, recorder: RequestRecorder) -> None:
        self.app = app
        self.faults = faults
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        vendor = path.strip("/").split("/", 1)[0]
        if vendor not in VENDORS:
            await self.app(scope, receive, send)
            return

        body = await _read_body(receive)
        self._record(vendor, scope, body)
        replay = _replay(body, receive)
        fault = _fault_from_headers(vendor, scope) or self.faults.take(vendor, path)
        if fault is None:
            await self.app(scope, replay, send)
        elif fault.kind == "429":
            headers, payload = vendor_error(vendor, 429, "Rate limit exceeded")
            headers["retry-after"] = _retry_after_header(vendor, fault.retry_after)
            await _respond(send, 429, headers, payload)
        elif fault.kind == "5xx":
            status = fault.status if fault.status >= 500 else 503
            headers, payload = vendor_error(vendor, status, _REASONS.get(status, "Server error"))
            await _respond(send, status, headers, payload)
        elif fault.kind == "5xx_after":
            await self.app(scope, replay, _discard)
            status = fault.status if fault.status >= 500 else 500
            headers, payload = vendor_error(vendor, status, _REASONS.get(status, "Server error"))
            await _respond(send, status, headers, payload)
        elif fault.kind == "expire_token":
            headers, payload = vendor_error(vendor, 401, "Session expired or invalid token")
            await _respond(send, 401, headers, payload)
        elif fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            await self.app(scope, replay, send)
        elif fault.kind == "malformed":
            await self._malformed(scope, replay, send)
        elif fault.kind == "lost_response":
            await self._lost_response(vendor, scope, replay, send)
        elif fault.kind == "empty_page":
            query = dict(parse_qsl(scope.get("query_string", b"").decode()))
            cursor = query.get("after") or EMPTY_PAGE_START_CURSOR
            payload = json.dumps(
                {"data": [], "pagination": {"endCursor": cursor, "hasNextPage": True}}
            ).encode()
            await _respond(send, 200, {"content-type": "application/json"}, payload)
        else:
            headers, payload = vendor_error(vendor, 400, f"unknown sandbox fault {fault.kind!r}")
            await _respond(send, 400, headers, payload)

    async def _malformed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the real handler, then answer 200 with its body cut in half (invalid JSON)."""
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        truncated = body[: len(body) // 2] if len(body) > 2 else b'{"data": ['
        await _respond(send, 200, {"content-type": "application/json"}, truncated)

    async def _lost_response(self, vendor: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Let the vendor act on the request, then answer 504 as a proxy that gave up would: the
        caller cannot tell whether anything happened (the outcome is unknown)."""

        async def discard(message: Message) -> None:
            return None

        await self.app(scope, receive, discard)
        headers, payload = vendor_error(vendor, 504, _REASONS[504])
        await _respond(send, 504, headers, payload)

    def _record(self, vendor: str, scope: Scope, body: bytes) -> None:
        raw_query = scope.get("query_string", b"").decode("latin-1")
        # Warehouse uploads run to hundreds of MB: keep their start only.
        text = body[:RECORDED_BODY_LIMIT].decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = None
        self.recorder.record(
            {
                "vendor": vendor,
                "method": scope["method"],
                "path": scope["path"],
                "query": dict(parse_qsl(raw_query, keep_blank_values=True)),
                "raw_query": raw_query,
                "headers": {
                    k.decode("latin-1").lower(): v.decode("latin-1")
                    for k, v in scope.get("headers", [])
                },
                "body": text,
                "json": parsed,
                "time": time.time(),
            }
        )


async def _discard(message: Message) -> None:
    """A `send` that drops the vendor's real answer (the client gets the fault instead)."""


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, original: Receive) -> Receive:
    """Hand the buffered body to the app once, then defer to the server (disconnect events)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive


async def _respond(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
