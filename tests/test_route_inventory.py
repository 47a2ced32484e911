"""Every route of both apps is authenticated unless it is on the short public list, and every
kind of bad credential gets a 401 with `WWW-Authenticate: Bearer` (never a 403 or a 200)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from jose import jwt

from config import get_settings
from helpers.time_utils import utc_now
from logic.auth import security, service
from logic.auth.audit import ClientInfo
from tests.auth_routes import (
    PUBLIC_PATHS,
    accepts_service_key,
    endpoints_replaced_by_probe,
    is_authenticated,
    iter_routes,
    protected_routes,
    request,
)
from tests.factories_auth import make_user


def _apps():
    from ingest_app import app as ingest
    from main import app as main

    return {"main": main, "ingest": ingest}


FULL_WALK_KINDS = {
    "no token",
    "garbage",
    "tampered signature",
    "alg none",
    "expired",
    "refresh token as access",
    "revoked session",
    "deactivated user",
    "wrong api key",
}


def _b64(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _bad_credentials(session) -> dict[str, dict[str, str]]:
    """One header set per way a caller can be unauthenticated; all must get a 401."""
    secret = get_settings().SECRET_KEY.get_secret_value()
    user = make_user(session, superuser=True)
    live = service.issue_session(session, user, ClientInfo())
    claims = jwt.get_unverified_claims(live.access_token)
    header, payload, signature = live.access_token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    expired, _ = security.create_access_token(
        user.id, live.session_id, now=utc_now() - timedelta(days=2)
    )
    revoked_pair = service.issue_session(session, user, ClientInfo())
    service.revoke_session(session.get(service.UserSession, revoked_pair.session_id), "logout")
    inactive = make_user(session, superuser=True)
    inactive_pair = service.issue_session(session, inactive, ClientInfo())
    inactive.is_active = False
    session.commit()
    kinds = {
        "no token": None,
        "garbage": "not-a-jwt",
        "empty bearer": "",
        "tampered signature": f"{header}.{payload}.{flipped}",
        "tampered payload": f"{header}.{_b64(claims | {'sub': str(user.id + 1000)})}.{signature}",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "foreign key": jwt.encode(claims, "x" * 48, algorithm="HS256"),
        "expired": expired,
        "refresh token as access": live.refresh_token,
        "refresh-typed jwt": jwt.encode(claims | {"type": "refresh"}, secret, algorithm="HS256"),
        "revoked session": revoked_pair.access_token,
        "deactivated user": inactive_pair.access_token,
        "unknown session": security.create_access_token(user.id, "0" * 32)[0],
    }
    headers = {
        name: {} if token is None else {"Authorization": f"Bearer {token}"}
        for name, token in kinds.items()
    }
    headers["wrong api key"] = {"X-API-Key": "not-the-service-key"}
    headers["wrong api key + valid token"] = {
        "X-API-Key": "wrong",
        "Authorization": f"Bearer {live.access_token}",
    }
    return headers


@pytest.mark.parametrize("app_name", ["main", "ingest"])
def test_every_route_is_public_by_name_or_authenticated(app_name):
    app = _apps()[app_name]
    unguarded = [
        r.label for r in protected_routes(app) if r.dependant is None or not is_authenticated(r)
    ]
    assert unguarded == [], f"routes without an auth dependency: {unguarded}"


@pytest.mark.parametrize("app_name", ["main", "ingest"])
def test_every_protected_route_answers_401_to_every_bad_credential(app_name, session):
    app = _apps()[app_name]
    routes = protected_routes(app)
    assert routes, "no protected routes found; the route walk is broken"
    client = TestClient(app, raise_server_exceptions=False)
    failures = []
    with endpoints_replaced_by_probe(app):
        for kind, headers in _bad_credentials(session).items():
            if kind == "wrong api key + valid token":
                continue  # only meaningful for service-key routes, checked below
            # Variants of a kind already walked everywhere go through the same decode path;
            # one route per app is enough for them and keeps the walk fast as routes grow.
            for route in routes if kind in FULL_WALK_KINDS else routes[:1]:
                response = request(client, route, headers)
                if (
                    response.status_code != 401
                    or response.headers.get("www-authenticate") != "Bearer"
                ):
                    failures.append(f"{kind}: {route.label} -> {response.status_code}")
    assert failures == []


def test_a_wrong_api_key_never_falls_back_to_the_token(session):
    bad = _bad_credentials(session)["wrong api key + valid token"]
    for app in _apps().values():
        client = TestClient(app, raise_server_exceptions=False)
        with endpoints_replaced_by_probe(app):
            for route in filter(accepts_service_key, protected_routes(app)):
                assert request(client, route, bad).status_code == 401, route.label


def test_the_public_list_is_short_and_reachable_without_credentials(client):
    assert len(PUBLIC_PATHS) <= 10
    assert client.get("/health").status_code == 200
    assert client.post("/auth/token").status_code == 422  # reached: the form is missing
    assert client.post("/auth/refresh", json={"refresh_token": "nope"}).status_code == 401


def test_interactive_docs_are_off_in_production():
    from services.http.app_factory import build_app

    production = get_settings().model_copy(update={"ENVIRONMENT": "production"})
    app = build_app(title="probe", routers=[], settings=production)
    paths = {r.path for r in iter_routes(app)}
    assert not paths & {"/docs", "/docs/oauth2-redirect", "/redoc"}
