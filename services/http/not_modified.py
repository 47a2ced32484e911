"""Unchanged polls get their 304 before routing: one thread hop, not the endpoint's four."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import anyio.to_thread
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session
from starlette.requests import Request
from starlette.routing import BaseRoute, Route, Router

from db.database import new_session
from helpers.errors import AppError
from logic.auth.service import authenticate_access_token
from services.http.errors import database_error_handler
from services.http.etag import VERSIONED_LISTS, VersionedList, matches, not_modified


class NotModifiedShortcutMiddleware:
    """Answer a Bearer GET of a `VersionedList` whose If-None-Match is still current with 304.

    Sits inside admission control: it holds a pooled connection while it checks (see
    services/http/admission.py). Anything else — no token or If-None-Match, `*`, a refused token, a
    missing permission, no change token (SQLite), a stale tag — goes on to the route untouched,
    which answers 200/401/403 as it always does. Database failures get the route's 503.
    """

    def __init__(
        self, app: Any, router: Router, lists: Mapping[str, VersionedList] = VERSIONED_LISTS
    ) -> None:
        self.app = app
        self.router = router
        self.lists = lists
        self._routes: dict[str, BaseRoute] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        entry = self.lists.get(scope["path"]) if scope["type"] == "http" else None
        route = self._route(entry) if entry is not None and scope["method"] == "GET" else None
        poll = _conditional_bearer(scope["headers"]) if route is not None else None
        if entry is None or route is None or poll is None:
            await self.app(scope, receive, send)
            return
        token, if_none_match = poll
        try:
            etag = await anyio.to_thread.run_sync(
                _current_etag, entry, token, scope["query_string"], if_none_match
            )
        except (DBAPIError, PoolTimeoutError) as exc:
            scope["route"] = route  # metrics label the answer by its route template
            response = await database_error_handler(Request(scope), exc)
            await response(scope, receive, send)
            return
        if etag is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        await not_modified(etag)(scope, receive, send)

    def _route(self, entry: VersionedList) -> BaseRoute | None:
        """The app's GET route for the list (the ingest app has none: it never answers)."""
        if self._routes is None:  # the first request comes after every router was included
            self._routes = {
                route.path: original
                for route, original in _flat_routes(self.router)
                if isinstance(original, Route) and "GET" in (route.methods or ())
            }
        return self._routes.get(entry.path)


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
    entry: VersionedList, token: str, query_string: bytes, if_none_match: bytes
) -> str | None:
    """The list's tag if the caller may read it and still holds it; None otherwise."""
    with new_session() as session, _without_transaction(session):
        try:
            principal = authenticate_access_token(session, token)
        except AppError:
            return None
        if not principal.allows(entry.permission):
            return None
        etag = entry.etag(session, query_string)
    return etag if etag and matches(if_none_match, etag.encode()) else None


@contextmanager
def _without_transaction(session: Session) -> Iterator[None]:
    """Run two reads on PostgreSQL without BEGIN and ROLLBACK: 3 round trips instead of 5.

    psycopg2's autocommit flag is client-side, while SQLAlchemy's AUTOCOMMIT isolation level
    sends `SET default_transaction_isolation` on the way in and again on the way out. The flag
    is set before the first statement (so no BEGIN goes out) and cleared before the session
    closes (its ROLLBACK is then a no-op), so the pooled connection returns as it came. Sessions
    bound to a connection already in a transaction (tests) are left as they are.
    """
    bind = session.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.driver != "psycopg2":
        yield
        return
    dbapi_connection = session.connection().connection.dbapi_connection
    dbapi_connection.autocommit = True
    try:
        yield
    finally:
        if not dbapi_connection.closed:
            dbapi_connection.autocommit = False
