"""Conditional GETs for the lists a dashboard polls: a route declares itself polled, once.

A polled list's route takes a `PolledList` dependency: the declaration of what its pages depend
on. With `tables`, the list's ETag comes from their change counters (`db/change_counters.py`,
PostgreSQL), read before the page query, and `services/http/not_modified.py` answers a matching
poll with 304 before routing, so neither the endpoint nor its query runs. Without tables (or on
SQLite) the layer here tags the finished body with a weak hash and answers a match with 304: an
unchanged poll then saves the transfer, the compression and the client's parsing of a 160-200 KB
page. The layer, the shortcut and the endpoint all read the same declaration; the permission is
the route's own guard (the shortcut reads it from the route), never a second copy.
`Cache-Control: private, no-cache` keeps shared caches out (the body depends on the caller) and
makes browsers revalidate on every poll. The body hash ignores `"as_of"` stamps (when a snapshot
was computed, not what it holds), so an unchanged dashboard still matches; that is what makes it
weak.
"""

# No `from __future__ import annotations` here: FastAPI before 0.123 reads the annotations of a
# class-instance dependency (`PolledList.__call__`) without the module's globals, so they must
# be real objects, not strings.
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Table
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from db.change_counters import change_token
from services.deps import SessionDep

# Where the declaration leaves its mark for this layer: the request's state.
POLLED_STATE_KEY = "polled_list"
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
    """Tag 200 responses of routes declared polled, and answer a matching If-None-Match with 304.

    The route's `PolledList` marks the request's state while it runs; the layer looks for the
    mark when the response starts and passes every other response through untouched.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if_none_match = dict(scope.get("headers") or []).get(b"if-none-match", b"")
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def buffered(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                if message["status"] != 200 or POLLED_STATE_KEY not in state:
                    start["passthrough"] = True
                    await send(message)
                    return
                start.update(message)
                return
            if start.get("passthrough"):
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


@dataclass(frozen=True)
class Poll:
    """What a polled list's route learns before it runs its query: the tag of the page it is
    about to serve (None where no change token exists) and whether the caller holds it."""

    etag: str | None
    unchanged: bool

    @property
    def headers(self) -> dict[str, str] | None:
        return {"ETag": self.etag} if self.etag else None


class PolledList:
    """The declaration that a GET list is polled: `Depends(PolledList(...))` on its route.

    `tables`: everything its pages show, whose change counters tag them (no tables: the body is
    hashed instead); `page`: the response's type, whose schema goes into the tag (a new response
    model is a new tag). The route's permission guard stays the route's own.
    """

    def __init__(self, tables: Sequence[Table] = (), page: TypeAdapter[Any] | None = None) -> None:
        self.tables = tuple(tables)
        self.shape = json.dumps(page.json_schema(), sort_keys=True) if page is not None else ""

    def etag(self, session: Session, query_string: bytes) -> str | None:
        """The tag the page for `query_string` has now; None where there is no change token."""
        if not self.tables:
            return None
        token = change_token(session, self.tables)
        return version_etag(query_string.decode("latin-1"), self.shape, token) if token else None

    def __call__(self, request: Request, session: SessionDep) -> Poll:
        request.state.polled_list = self  # the ETag layer's cue (POLLED_STATE_KEY)
        etag = self.etag(session, request.scope["query_string"])
        if_none_match = request.headers.get("if-none-match", "").encode()
        return Poll(etag, bool(etag) and matches(if_none_match, etag.encode()))


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
