"""Conditional GETs for the lists a dashboard polls: a weak ETag over the body, 304 on a match.

The endpoint still runs; what an unchanged poll saves is the transfer, the compression and the
client's parsing of a 160-200 KB page. An endpoint that can tell cheaply that nothing changed
(the trips list on PostgreSQL, `db/change_counters.py`) sets its own ETag from a change token and
answers 304 itself before its query runs; the middleware then keeps that tag.
`Cache-Control: private, no-cache` keeps shared caches out (the body depends on the caller) and
makes browsers revalidate on every poll. The tag ignores `"as_of"` stamps (when a snapshot was
computed, not what it holds), so an unchanged dashboard still matches; that is what makes it weak.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from starlette.responses import Response

# GET paths a dashboard polls (route paths, not prefixes).
POLLED_PATHS = frozenset(
    {"/trips", "/locations/latest", "/locations/latest.geojson", "/alerts", "/dashboard"}
)
CACHE_CONTROL = b"private, no-cache"
_COMPUTED_AT = re.compile(rb'"as_of":\s*"[^"]*"')


def weak_etag(body: bytes) -> bytes:
    digest = hashlib.blake2b(_COMPUTED_AT.sub(b"", body), digest_size=16).hexdigest()
    return b'W/"' + digest.encode() + b'"'


def matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 weak comparison against a comma-separated If-None-Match (or `*`)."""
    wanted = etag.removeprefix(b"W/")
    for candidate in if_none_match.split(b","):
        candidate = candidate.strip()
        if candidate == b"*" or candidate.removeprefix(b"W/") == wanted:
            return True
    return False


class ETagMiddleware:
    """Buffer 200 responses of `paths`, tag them, and answer a matching If-None-Match with 304."""

    def __init__(self, app: Any, paths: frozenset[str] = POLLED_PATHS) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or scope["path"] not in self.paths
        ):
            await self.app(scope, receive, send)
            return
        if_none_match = dict(scope.get("headers") or []).get(b"if-none-match", b"")
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def buffered(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                if message["status"] != 200:
                    await send(message)
                return
            if start.get("status") != 200:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await _send_tagged(send, start, b"".join(chunks), if_none_match)

        await self.app(scope, receive, buffered)


def version_etag(*parts: str) -> str:
    """A weak ETag for what an endpoint's answer depends on (query, schema, change token)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()
    return f'W/"v{digest}"'


def not_modified(etag: str) -> Response:
    return Response(
        status_code=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL.decode()}
    )


async def _send_tagged(send: Any, start: dict[str, Any], body: bytes, if_none_match: bytes):
    own = [v for k, v in start.get("headers", []) if k.lower() == b"etag"]
    etag = own[0] if own else weak_etag(body)
    headers = [
        (k, v) for k, v in start.get("headers", []) if k.lower() not in (b"etag", b"cache-control")
    ]
    headers += [(b"etag", etag), (b"cache-control", CACHE_CONTROL)]
    if if_none_match and matches(if_none_match, etag):
        kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-type")]
        await send({"type": "http.response.start", "status": 304, "headers": kept})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})
