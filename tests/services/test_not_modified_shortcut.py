"""The 304 shortcut for versioned lists: an unchanged poll answered before routing, and
everything else (a write, a refused caller, another query, SQLite) left to the route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, Response
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine, text, update

from db.database import session_scope
from logic.auth.permissions import Permission
from logic.auth.service import revoke_user_sessions
from models.trip import Trip
from models.user import User
from services import routers_main
from services.deps import SessionDep, TripsRead, get_request_session
from services.http.app_factory import build_app
from services.http.etag import Poll, PolledList
from services.http.not_modified import polled_routes
from tests.auth_routes import iter_routes, required_permissions
from tests.change_counter_support import report_pending_counts
from tests.factories import make_trip
from tests.factories_auth import bearer_for, make_user

TITLE = "shortcut test"


def _route_must_not_run() -> Iterator[None]:
    raise AssertionError("the route ran")
    yield


def _answered(status: str) -> float:
    labels = {"app": TITLE, "method": "GET", "route": "/trips", "status": status}
    return REGISTRY.get_sample_value("fleet_http_requests_total", labels) or 0.0


def _flush_counters(engine: Engine, trip_id: int, notes: str) -> None:
    """Commit a write and make this backend report it to the statistics at once."""
    with engine.connect() as conn:
        conn.execute(update(Trip).where(Trip.id == trip_id).values(notes=notes))
        conn.commit()
        conn.execute(text("SELECT pg_stat_force_next_flush()"))
        conn.commit()


@pytest.fixture
def polled(committed_db):
    """A committed trip, a dispatcher's headers, an app and the tag of its first trips page."""
    with session_scope() as session:
        trip_id = make_trip(session, load_number="POLL-1").id
        user = make_user(session, roles=["dispatcher"])
        headers, user_id = bearer_for(session, user), user.id
    report_pending_counts(committed_db)
    app = build_app(title=TITLE, routers=routers_main.ROUTERS)
    client = TestClient(app, raise_server_exceptions=False)
    first = client.get("/trips", headers=headers)
    assert first.status_code == 200 and first.headers["etag"].startswith('W/"v')
    return client, headers, first.headers["etag"], trip_id, user_id


@pytest.mark.postgres
def test_an_unchanged_poll_is_a_304_without_the_route(polled, query_counter):
    client, headers, etag, _, _ = polled
    client.app.dependency_overrides[get_request_session] = _route_must_not_run
    before = _answered("304")
    query_counter.reset()

    again = client.get("/trips", headers={**headers, "If-None-Match": etag})

    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "private, no-cache"
    assert "content-type" not in again.headers
    assert again.headers["x-content-type-options"] == "nosniff"  # security headers still apply
    assert again.headers["x-request-id"]
    assert query_counter.count == 2  # the token check and the change token, nothing else
    assert _answered("304") == before + 1  # labelled by the route template, not "unmatched"


@pytest.mark.postgres
def test_the_pooled_connection_comes_back_transactional(polled, committed_db):
    client, headers, etag, _, _ = polled
    for _ in range(3):
        assert client.get("/trips", headers={**headers, "If-None-Match": etag}).status_code == 304
    idle = [committed_db.raw_connection() for _ in range(committed_db.pool.checkedin())]
    try:
        assert idle and not any(conn.driver_connection.autocommit for conn in idle)
    finally:
        for conn in idle:
            conn.close()


@pytest.mark.postgres
def test_a_committed_write_gets_the_new_page_and_a_new_tag(polled, committed_db):
    client, headers, etag, trip_id, _ = polled
    _flush_counters(committed_db, trip_id, "ETA slipping")

    changed = client.get("/trips", headers={**headers, "If-None-Match": etag})

    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "ETA slipping" in changed.text
    new = changed.headers["etag"]
    assert client.get("/trips", headers={**headers, "If-None-Match": new}).status_code == 304


@pytest.mark.postgres
def test_a_revoked_session_gets_401_not_304(polled):
    client, headers, etag, _, user_id = polled
    with session_scope() as session:
        assert revoke_user_sessions(session, user_id, "test") == 1

    refused = client.get("/trips", headers={**headers, "If-None-Match": etag})

    assert refused.status_code == 401
    assert refused.json()["error"] == "not_authenticated"
    assert "etag" not in refused.headers


@pytest.mark.postgres
def test_a_disabled_user_or_a_bad_token_gets_401_not_304(polled):
    client, headers, etag, _, user_id = polled
    forged = {"Authorization": headers["Authorization"][:-2] + "xx", "If-None-Match": etag}
    assert client.get("/trips", headers=forged).status_code == 401
    with session_scope() as session:
        session.execute(update(User).where(User.id == user_id).values(is_active=False))

    assert client.get("/trips", headers={**headers, "If-None-Match": etag}).status_code == 401


@pytest.mark.postgres
def test_a_caller_without_the_permission_gets_403_not_304(polled):
    client, _, etag, _, _ = polled
    with session_scope() as session:
        user = make_user(session, permissions=[Permission.DRIVERS_READ])
        other = bearer_for(session, user)

    refused = client.get("/trips", headers={**other, "If-None-Match": etag})

    assert refused.status_code == 403
    assert "etag" not in refused.headers


@pytest.mark.postgres
def test_a_tag_for_another_query_does_not_match(polled):
    client, headers, _, _, _ = polled
    five = client.get("/trips?limit=5", headers=headers).headers["etag"]

    other = client.get("/trips?limit=6", headers={**headers, "If-None-Match": five})

    assert other.status_code == 200 and other.headers["etag"] != five
    assert client.get("/trips?limit=5", headers={**headers, "If-None-Match": five}).status_code == (
        304
    )


def test_sqlite_polls_still_match_on_the_body(client, session, auth_headers, is_postgres):
    if is_postgres:
        pytest.skip("SQLite has no change counters; PostgreSQL is covered above")
    make_trip(session, load_number="BODY-1")
    headers = auth_headers(role="dispatcher")
    etag = client.get("/trips", headers=headers).headers["etag"]
    assert etag.startswith('W/"') and not etag.startswith('W/"v')  # a body hash

    again = client.get("/trips", headers={**headers, "If-None-Match": etag})

    assert again.status_code == 304 and again.headers["etag"] == etag


def test_the_declaration_on_the_route_is_all_the_shortcut_knows(main_app):
    """/trips is polled because its route says so; the permission is its guard's own."""
    routes = {(route.path, route.method): route for route in iter_routes(main_app)}
    polled = polled_routes(main_app.router)
    assert set(polled) == {"/trips"}
    assert {polled["/trips"].permission} == required_permissions(routes[("/trips", "GET")])


probe = APIRouter(prefix="/probe")


@probe.get("/polled")
def polled_probe(
    session: SessionDep, _: TripsRead, poll: Annotated[Poll, Depends(PolledList([Trip.__table__]))]
) -> Response:
    if poll.unchanged:
        return Response(status_code=304, headers=poll.headers)
    return Response(b"[]", media_type="application/json", headers=poll.headers)


@pytest.mark.postgres
def test_a_new_polled_list_is_one_declaration(committed_db):
    with session_scope() as session:
        make_trip(session, load_number="POLL-2")
        headers = bearer_for(session, make_user(session, roles=["dispatcher"]))
    report_pending_counts(committed_db)
    app = build_app(title=TITLE, routers=[probe])
    client = TestClient(app, raise_server_exceptions=False)
    etag = client.get("/probe/polled", headers=headers).headers["etag"]
    app.dependency_overrides[get_request_session] = _route_must_not_run

    again = client.get("/probe/polled", headers={**headers, "If-None-Match": etag})

    assert again.status_code == 304 and again.headers["etag"] == etag
