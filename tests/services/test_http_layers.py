"""The HTTP layers of both apps: gzip for large JSON, ETag/304 on polled lists, security
headers, CORS only for configured dashboard origins."""

from __future__ import annotations

import gzip

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from config import Settings
from db.database import session_scope
from models.trip import Trip
from services import routers_main
from services.http.app_factory import build_app
from tests.change_counter_support import report_pending_counts
from tests.factories import make_trip
from tests.factories_auth import bearer_for, make_user

SECRET = "a-production-grade-secret-key-0123456789-abcdef"


@pytest.fixture
def dispatcher(auth_headers):
    return auth_headers(role="dispatcher")


@pytest.fixture
def trips(session):
    return [make_trip(session, load_number=f"L-{n}", customer="Acme " * 40) for n in range(8)]


def test_large_json_is_gzipped_for_clients_that_accept_it(client, dispatcher, trips):
    plain = client.get("/trips", headers={**dispatcher, "Accept-Encoding": "identity"})
    zipped = client.get("/trips", headers={**dispatcher, "Accept-Encoding": "gzip"})

    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(plain.content) / 4
    assert zipped.json() == plain.json()  # the client decodes it transparently
    assert "Accept-Encoding" in zipped.headers["vary"]


def test_small_responses_stay_uncompressed(client):
    response = client.get("/health", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in response.headers


def test_an_unchanged_polled_list_answers_304_with_no_body(client, dispatcher, trips):
    first = client.get("/trips", headers=dispatcher)
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    assert first.headers["cache-control"] == "private, no-cache"

    again = client.get("/trips", headers={**dispatcher, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    listed = client.get("/trips", headers={**dispatcher, "If-None-Match": f'"other", {etag}'})
    assert listed.status_code == 304


def test_a_changed_list_gets_a_new_etag_and_its_body(client, session, dispatcher, trips):
    if session.get_bind().dialect.name == "postgresql":
        pytest.skip(
            "PostgreSQL tags the trips list from committed writes only: "
            "test_a_committed_change_ends_the_304s_without_running_the_list"
        )
    etag = client.get("/trips", headers=dispatcher).headers["etag"]
    make_trip(session, load_number="NEW-1")

    changed = client.get("/trips", headers={**dispatcher, "If-None-Match": etag})

    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert "NEW-1" in changed.text


@pytest.mark.postgres
def test_a_committed_change_ends_the_304s_without_running_the_list(committed_db, query_counter):
    """On PostgreSQL an unchanged poll is a 304 from the tables' change counters alone."""
    from main import app as main_app

    with session_scope() as session:
        trip = make_trip(session, load_number="POLL-1")
        headers = bearer_for(session, make_user(session, roles=["dispatcher"]))
        trip_id = trip.id
    report_pending_counts(committed_db)
    client = TestClient(main_app)
    first = client.get("/trips", headers=headers)
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('W/"v')

    query_counter.reset()
    again = client.get("/trips", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert not any("FROM trip" in sql for sql in query_counter.statements)  # no list query

    with committed_db.connect() as conn:
        conn.execute(update(Trip).where(Trip.id == trip_id).values(notes="ETA slipping"))
        conn.commit()
        conn.execute(text("SELECT pg_stat_force_next_flush()"))  # report at this transaction's end
        conn.commit()
    changed = client.get("/trips", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "ETA slipping" in changed.text


def test_304_survives_gzip(client, dispatcher, trips):
    headers = {**dispatcher, "Accept-Encoding": "gzip"}
    etag = client.get("/trips", headers=headers).headers["etag"]
    again = client.get("/trips", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    assert "content-encoding" not in again.headers


@pytest.mark.parametrize("path", ["/locations/latest", "/alerts", "/dashboard"])
def test_every_polled_list_is_tagged(client, auth_headers, path):
    headers = auth_headers(superuser=True)
    etag = client.get(path, headers=headers).headers["etag"]
    assert client.get(path, headers={**headers, "If-None-Match": etag}).status_code == 304


def test_errors_and_other_endpoints_carry_no_etag(client, dispatcher):
    assert "etag" not in client.get("/trips").headers  # 401
    assert "etag" not in client.get("/drivers", headers=dispatcher).headers


def test_security_headers_on_answers_and_errors(client):
    for response in (client.get("/health"), client.get("/no-such-route"), client.get("/trips")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert "strict-transport-security" not in response.headers


def test_hsts_in_production_only(session):
    settings = Settings(_env_file=None, ENVIRONMENT="production", SECRET_KEY=SECRET)
    app = build_app(title="prod", routers=[], settings=settings)
    response = TestClient(app).get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_no_cors_by_default(client):
    response = client.get("/health", headers={"Origin": "https://ops.example.com"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_the_configured_dashboard_origin_only(session, dispatcher, trips):
    settings = Settings(_env_file=None, CORS_ALLOWED_ORIGINS="https://ops.example.com")
    client = TestClient(build_app(title="cors", routers=routers_main.ROUTERS, settings=settings))
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }

    allowed = client.options("/trips", headers={"Origin": "https://ops.example.com", **preflight})
    refused = client.options("/trips", headers={"Origin": "https://evil.example", **preflight})
    listed = client.get("/trips", headers={**dispatcher, "Origin": "https://ops.example.com"})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://ops.example.com"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in refused.headers
    assert listed.headers["access-control-allow-origin"] == "https://ops.example.com"
    assert "etag" in listed.headers["access-control-expose-headers"].lower()


def test_gzip_body_is_valid_gzip(client, dispatcher, trips):
    with client.stream("GET", "/trips", headers={**dispatcher, "Accept-Encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
    assert gzip.decompress(raw).startswith(b"{")
