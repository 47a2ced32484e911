"""The input guard: refuse, before anything parses the request, what no endpoint should see.

Bodies over the size limit get a 413 (counted while the body streams in, whatever Content-Length
claims); text PostgreSQL cannot store or Python cannot encode (NUL characters, unpaired
surrogates) in the path, the query, form fields or JSON keys and values gets a 422.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from services.http.errors import STATUS_CODES, send_error

Scope = dict[str, Any]

# Signed vendor webhooks: larger bodies allowed (MAX_WEBHOOK_BODY_BYTES), signatures checked.
WEBHOOK_PATH_PREFIXES = ("/webhooks/", "/slack/interactions")

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
