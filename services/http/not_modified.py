"""Unchanged polls get their 304 before routing: one thread hop, not the endpoint's four.

Which paths qualify is read from the app's own routes the first time a request comes: every GET
route whose dependencies include a `PolledList` with tables, with the permission of the route's
own guard (exactly one, else the route is left alone). Nothing is registered anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.requests import Request
from starlette.routing import BaseRoute, Router

from db.database import new_session
from helpers.errors import AppError
from logic.auth.permissions import Permission
from logic.auth.service import authenticate_access_token
from services.http.errors import database_error_handler
from services.http.etag import PolledList, matches, not_modified


@dataclass(frozen=True)
class PolledRoute:
    """A GET route declared polled (with tables), and the permission its guard requires."""

    route: BaseRoute  # what the router puts in scope["route"] (metrics label by its path)
    polled: PolledList
    permission: Permission


class NotModifiedShortcutMiddleware:
    """Answer a Bearer GET of a polled list whose If-None-Match is still current with 304.

    Sits inside admission control: it holds a pooled connection while it checks (see
    services/http/admission.py). Anything else — no token or If-None-Match, `*`, a refused token,
    a missing permission, no change token (SQLite), a stale tag — goes on to the route untouched,
    which answers 200/401/403 as it always does. Database failures get the route's 503.
    """

    def __init__(self, app: Any, router: Router) -> None:
        self.app = app
        self.router = router
        self._polled: dict[str, PolledRoute] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if self._polled is None:  # the first request comes after every router was included
            self._polled = polled_routes(self.router)
        entry = self._polled.get(scope["path"])
        poll = _conditional_bearer(scope["headers"]) if entry is not None else None
        if entry is None or poll is None:
            await self.app(scope, receive, send)
            return
        token, if_none_match = poll
        try:
            etag = await anyio.to_thread.run_sync(
                _current_etag, entry, token, scope["query_string"], if_none_match
            )
        except (DBAPIError, PoolTimeoutError) as exc:
            scope["route"] = entry.route  # metrics label the answer by its route template
            response = await database_error_handler(Request(scope), exc)
            await response(scope, receive, send)
            return
        if etag is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = entry.route
        await not_modified(etag)(scope, receive, send)


def polled_routes(router: Router) -> dict[str, PolledRoute]:
    """Path → polled route, for the app's GET routes that declare a `PolledList` with tables."""
    found: dict[str, PolledRoute] = {}
    for route, original in _flat_routes(router):
        dependant = getattr(original, "dependant", None)
        path = getattr(route, "path", None)
        if dependant is None or not path or "{" in path or "GET" not in (route.methods or ()):
            continue
        calls = list(_calls(dependant))
        polled = [call for call in calls if isinstance(call, PolledList) and call.tables]
        guards = {p for call in calls if (p := getattr(call, "required_permission", None))}
        if len(polled) == 1 and len(guards) == 1:
            found[path] = PolledRoute(original, polled[0], Permission(guards.pop()))
    return found


def _calls(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _flat_routes(router: Router) -> list[tuple[Any, BaseRoute]]:
    """Each route as (effective route, the route object the router puts in scope["route"])."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: routes are already flat
        return [(route, route) for route in router.routes]
    return [(context, context.original_route) for context in iter_route_contexts(router.routes)]


def _conditional_bearer(headers: list[tuple[bytes, bytes]]) -> tuple[str, bytes] | None:
    """The Bearer token and If-None-Match of a conditional poll, or None for anything else."""
    authorization = if_none_match = b""
    for name, value in headers:
        if name == b"authorization":
            authorization = value
        elif name == b"if-none-match":
            if_none_match = value
    # `*` matches whatever the route would answer, even an error: only the route can tell.
    if not if_none_match or any(tag.strip() == b"*" for tag in if_none_match.split(b",")):
        return None
    scheme, token = get_authorization_scheme_param(authorization.decode("latin-1"))
    if scheme.lower() != "bearer" or not token:
        return None
    return token, if_none_match


def _current_etag(
    entry: PolledRoute, token: str, query_string: bytes, if_none_match: bytes
) -> str | None:
    """The list's tag if the caller may read it and still holds it; None otherwise.

    The two reads run without BEGIN and ROLLBACK (SQLAlchemy's AUTOCOMMIT isolation level, set
    for this session's connection and reset when it goes back to the pool). Sessions bound to a
    connection already in a transaction (tests) are left as they are.
    """
    with new_session() as session:
        bind = session.get_bind()
        if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        try:
            principal = authenticate_access_token(session, token)
        except AppError:
            return None
        if not principal.allows(entry.permission):
            return None
        etag = entry.polled.etag(session, query_string)
    return etag if etag and matches(if_none_match, etag.encode()) else None
