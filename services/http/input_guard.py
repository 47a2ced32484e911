"""ASGI middleware: request ids, the error boundary, the input guard and admission control.

The error boundary renders any unexpected exception as an ordinary 500 and lets nothing reach the
server: Starlette's `ServerErrorMiddleware` re-raises after responding, and uvicorn then closes the
keep-alive connection, so the client's next request would be reset.

The input guard refuses, before anything parses the request, what no endpoint should see: bodies
over the size limit (413, counted while the body streams in, whatever Content-Length claims) and
text PostgreSQL cannot store or Python cannot encode (NUL characters, unpaired surrogates) in the
path, the query, form fields or JSON keys and values (422).

Admission control is what makes the thread-pool/connection-pool deadlock impossible (FastAPI
issue #3205): sync endpoints hold a pooled connection until their yield-dependency exits, which
happens only after response serialization, which itself needs a worker thread. If every worker
thread is held by a request waiting for a connection, and every connection by a request waiting
for a thread, nothing moves. We therefore admit at most `limit` requests at a time, with `limit`
no larger than the connection pool and strictly smaller than the worker-thread limit (set in
`configure_thread_limiter`). An admitted request then always finds a connection, and a thread
is always free to serialize. Requests beyond the limit wait in the event loop, holding neither a
thread nor a connection, and get a fast 503 if they wait longer than `queue_timeout`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
import sentry_sdk
from starlette.requests import Request

from helpers.cloud_logger import request_id_var, trace_var
from services.errors import STATUS_CODES, error_body, unhandled_error_handler

log = logging.getLogger(__name__)

Scope = dict[str, Any]

# Liveness answers even when every admission slot is taken.
ADMISSION_EXEMPT_PATHS = ("/health",)
# Signed vendor webhooks: larger bodies allowed (MAX_WEBHOOK_BODY_BYTES), signatures checked.
WEBHOOK_PATH_PREFIXES = ("/webhooks/", "/slack/interactions")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def configure_thread_limiter(admitted: int) -> int:
    """Keep AnyIO's worker-thread limit above the number of admitted requests."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(int(limiter.total_tokens), admitted + 10)
    return int(limiter.total_tokens)


class RequestContextMiddleware:
    """Give every request an id (from `X-Request-ID` or new) and echo it in the response."""

    def __init__(self, app: Any, project_id: str = "") -> None:
        self.app = app
        self.project_id = project_id

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        trace_header = headers.get(b"x-cloud-trace-context", b"").decode("latin-1")
        trace_token = trace_var.set(
            f"projects/{self.project_id}/traces/{trace_header.split('/')[0]}"
            if trace_header and self.project_id
            else None
        )

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            trace_var.reset(trace_token)


class AdmissionControlMiddleware:
    """Admit at most `limit` concurrent requests; the rest queue without holding resources."""

    def __init__(
        self,
        app: Any,
        limit: int,
        queue_timeout: float = 10.0,
        exempt_paths: tuple[str, ...] = ADMISSION_EXEMPT_PATHS,
    ) -> None:
        self.app = app
        self.limit = limit
        self.queue_timeout = queue_timeout
        self.exempt_paths = exempt_paths
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:  # created lazily, inside the server's event loop
            self._semaphore = asyncio.Semaphore(self.limit)
        if self._semaphore.locked():
            try:
                await asyncio.wait_for(self._semaphore.acquire(), timeout=self.queue_timeout)
            except TimeoutError:
                await _send_overloaded(send)
                return
        else:  # a free slot: take it without wait_for's task and timer (most requests)
            await self._semaphore.acquire()
        try:
            await self.app(scope, receive, send)
        finally:
            self._semaphore.release()


async def _send_overloaded(send: Any) -> None:
    await send_error(
        send,
        503,
        "server_busy",
        "too many requests in flight; retry shortly",
        headers=[(b"retry-after", b"1")],
    )


async def send_error(
    send: Any,
    status: int,
    code: str,
    detail: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    **extra: Any,
) -> None:
    """Send an `ErrorResponse` straight from middleware (no endpoint, no exception handler)."""
    body = json.dumps(error_body(code, detail, **extra)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ErrorBoundaryMiddleware:
    """Render an unexpected exception as the one-shape 500 and never let it reach the server."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late for a 500: the server ends the half-sent response
                log.error("error after the response started on %s", scope["path"], exc_info=exc)
                sentry_sdk.capture_exception(exc)
                return
            response = await unhandled_error_handler(Request(scope), exc)
            await response(scope, receive, send)


# Deeper JSON than this is refused at the edge (Python's parser would hit its recursion limit).
MAX_JSON_DEPTH = 32
_TOO_DEEP_DETAIL = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Bytes without which a JSON body cannot decode to a NUL or a surrogate: an escape, a raw
# surrogate sequence (json.loads decodes with surrogatepass) or UTF-16/32 text.
_MAYBE_UNSTORABLE_JSON = re.compile(rb"\\u|\xed|\x00")
_UNSTORABLE_DETAIL = "text must not contain NUL characters or unpaired surrogates"


class InputGuardMiddleware:
    """Refuse oversized bodies (413) and unstorable text (422) before any endpoint runs.

    `large_body_paths` maps path prefixes (vendor webhooks) to their own, larger limit.
    """

    def __init__(
        self,
        app: Any,
        max_body_bytes: int,
        large_body_paths: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.large_body_paths = large_body_paths or {}

    def body_limit(self, path: str) -> int:
        for prefix, limit in self.large_body_paths.items():
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.body_limit(scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _send_too_large(send, limit)
            return
        body = await _read_body(receive, limit)
        if body is None:
            await _send_too_large(send, limit)
            return
        problem = _unstorable_text(scope, headers.get(b"content-type", b""), body)
        if problem is not None:
            loc, msg = problem
            kind = "json_too_deep" if msg == _TOO_DEEP_DETAIL else "unstorable_text"
            await send_error(
                send,
                422,
                STATUS_CODES[422],
                f"{'.'.join(str(part) for part in loc)}: {msg}",
                errors=[{"loc": loc, "msg": msg, "type": kind, "input": None}],
            )
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The whole body, or None as soon as it grows past `limit` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return await receive()  # after the body: wait for the disconnect, as the server does
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _send_too_large(send: Any, limit: int) -> None:
    await send_error(
        send,
        413,
        STATUS_CODES[413],
        f"the request body is larger than the limit of {limit} bytes",
        headers=[(b"connection", b"close")],
        max_bytes=limit,
    )


def _unstorable_text(
    scope: Scope, content_type: bytes, body: bytes
) -> tuple[list[str | int], str] | None:
    """Where the request carries text that cannot be stored, and why; None when it is clean."""
    if _UNSTORABLE.search(scope["path"]):
        return ["path"], _UNSTORABLE_DETAIL
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        return ["query", *_form_culprit(query)], _UNSTORABLE_DETAIL
    if not body:
        return None
    media_type = content_type.split(b";")[0].strip().lower()
    if media_type == b"application/x-www-form-urlencoded":
        if b"%00" in body or b"\x00" in body:
            return ["body", *_form_culprit(body)], _UNSTORABLE_DETAIL
        return None
    is_json = not media_type or (
        media_type.startswith(b"application/")
        and (media_type == b"application/json" or media_type.endswith(b"+json"))
    )
    nesting = body.count(b"[") + body.count(b"{")
    if not is_json or not (_MAYBE_UNSTORABLE_JSON.search(body) or nesting > MAX_JSON_DEPTH):
        return None
    try:
        document = json.loads(body)
    except RecursionError:
        return ["body"], _TOO_DEEP_DETAIL
    except ValueError:
        return None  # malformed JSON: the endpoint's own validation says so
    return _json_culprit(document)


def _form_culprit(encoded: bytes) -> list[str | int]:
    for name, value in parse_qsl(encoded.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return [name.replace("\x00", "\\u0000")]
    return []


def _json_culprit(document: Any) -> tuple[list[str | int], str] | None:
    """The location of the first unstorable string (key or value), or of too deep nesting."""
    for loc, value in _walk(document):
        if len(loc) > MAX_JSON_DEPTH:
            return ["body", *loc[:MAX_JSON_DEPTH]], _TOO_DEEP_DETAIL
        if isinstance(value, str) and _UNSTORABLE.search(value):
            return ["body", *loc], _UNSTORABLE_DETAIL
    return None


def _walk(document: Any) -> Iterator[tuple[list[str | int], Any]]:
    """Every key and value of a JSON document with its location, without recursion."""
    stack: list[tuple[list[str | int], Any]] = [([], document)]
    while stack:
        loc, value = stack.pop()
        yield loc, value
        if isinstance(value, dict):
            for key, item in value.items():
                safe_key = _UNSTORABLE.sub("\ufffd", key)
                if safe_key != key:
                    yield [*loc, safe_key], key
                stack.append(([*loc, safe_key], item))
        elif isinstance(value, list):
            stack.extend(([*loc, index], item) for index, item in enumerate(value))
