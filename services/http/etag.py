"""Conditional GETs for the lists a dashboard polls: a weak ETag over the body, 304 on a match.

The endpoint still runs; what an unchanged poll saves is the transfer, the compression and the
client's parsing of a 160-200 KB page. A list that can tell cheaply that nothing changed (the
trips list on PostgreSQL, `db/change_counters.py`) is a `VersionedList`: its ETag comes from a
change token, the endpoint sends that tag itself, and `services/http/not_modified.py` answers
a matching poll with 304 before routing, so neither the endpoint nor its query runs; the
middleware here keeps such a tag.
`Cache-Control: private, no-cache` keeps shared caches out (the body depends on the caller) and
makes browsers revalidate on every poll. The tag ignores `"as_of"` stamps (when a snapshot was
computed, not what it holds), so an unchanged dashboard still matches; that is what makes it weak.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Table
from sqlmodel import Session
from starlette.responses import Response

from db.change_counters import change_token
from logic.auth.permissions import Permission

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


@dataclass(frozen=True)
class VersionedList:
    """A polled list whose freshness the change counters of `tables` tell, and who may read it."""

    path: str  # the GET route's path
    tables: tuple[Table, ...]  # everything the page shows
    shape: str  # the page's JSON schema: a new response model is a new tag
    permission: Permission  # the route's guard

    def etag(self, session: Session, query_string: bytes) -> str | None:
        """The tag the page for `query_string` has now; None where there is no change token."""
        token = change_token(session, self.tables)
        return version_etag(query_string.decode("latin-1"), self.shape, token) if token else None


# Path → list, filled by the routers at import; read by `services/http/not_modified.py`.
VERSIONED_LISTS: dict[str, VersionedList] = {}


def versioned_list(
    path: str, tables: Sequence[Table], page: TypeAdapter[Any], permission: Permission
) -> VersionedList:
    entry = VersionedList(
        path, tuple(tables), json.dumps(page.json_schema(), sort_keys=True), permission
    )
    VERSIONED_LISTS[path] = entry
    return entry


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
