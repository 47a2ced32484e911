"""Every kind of error, hit over HTTP, has the one published shape (`ErrorResponse` in the app's
own OpenAPI) and is documented on the operation that answered it."""

from __future__ import annotations

import asyncio
import json

import httpx
import jsonschema_rs
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from config import get_settings
from services.http.admission import AdmissionControlMiddleware
from services.http.app_factory import build_app

failing = APIRouter(prefix="/failing")


@failing.get("/boom")
def boom() -> None:
    """Fail unexpectedly."""
    raise RuntimeError("unexpected")


@failing.get("/db-down")
def db_down() -> None:
    """Lose the database."""
    raise OperationalError("SELECT 1", {}, Exception("could not connect"))


@pytest.fixture
def error_validator(main_app):
    schema = main_app.openapi()
    return jsonschema_rs.Draft202012Validator(
        {"$ref": "#/components/schemas/ErrorResponse", "components": schema["components"]}
    )


def _documented(app, method: str, path: str) -> set[str]:
    return set(app.openapi()["paths"][path][method.lower()]["responses"])


def _check(validator, response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    errors = [e.message for e in validator.iter_errors(body)]
    assert errors == [], body
    assert body["error"] == code and isinstance(body["detail"], str) and body["detail"]
    return body


def test_every_error_kind_of_the_main_app_has_the_published_shape(
    client, main_app, session, auth_headers, error_validator
):
    admin = auth_headers(superuser=True)
    dispatcher = auth_headers(role="dispatcher")
    check = lambda *args: _check(error_validator, *args)  # noqa: E731

    body = check(
        client.get("/trips", params={"limit": "many"}, headers=admin), 422, "validation_error"
    )
    assert body["errors"][0]["loc"] == ["query", "limit"]
    assert "422" in _documented(main_app, "GET", "/trips")

    unauthenticated = client.get("/trips")
    check(unauthenticated, 401, "not_authenticated")
    assert unauthenticated.headers["www-authenticate"] == "Bearer"
    assert "401" in _documented(main_app, "GET", "/trips")

    check(client.get("/admin/roles", headers=dispatcher), 403, "forbidden")
    assert "403" in _documented(main_app, "GET", "/admin/roles")

    check(client.get("/trips/99999999", headers=admin), 404, "not_found")
    assert "404" in _documented(main_app, "GET", "/trips/{trip_id}")
    unknown = check(client.get("/no/such/route", headers=admin), 404, "not_found")
    assert unknown["detail"] == "no route matches GET /no/such/route"

    not_allowed = check(client.delete("/health"), 405, "method_not_allowed")
    assert not_allowed["detail"] == "DELETE is not allowed on /health"

    role = {"name": "night_desk", "permissions": ["trips:read"]}
    assert client.post("/admin/roles", json=role, headers=admin).status_code == 201
    check(client.post("/admin/roles", json=role, headers=admin), 409, "conflict")
    assert "409" in _documented(main_app, "POST", "/admin/roles")

    limit = get_settings().MAX_REQUEST_BODY_BYTES
    big = {"notes": "x" * limit}
    check(client.patch("/trips/1", json=big, headers=admin), 413, "payload_too_large")
    assert "413" in _documented(main_app, "PATCH", "/trips/{trip_id}")

    # Past the per-minute limit (twice the limit, in case the minute turns during the loop).
    for attempt in range(2 * get_settings().LOGIN_RATE_LIMIT_PER_MINUTE + 1):
        login = {"username": f"nobody{attempt}", "password": "whatever1"}
        if client.post("/auth/token", data=login).status_code == 429:
            break
    limited = client.post("/auth/token", data={"username": "n", "password": "p"})
    check(limited, 429, "too_many_requests")
    assert int(limited.headers["retry-after"]) >= 1
    assert {"401", "429"} <= _documented(main_app, "POST", "/auth/token")


def test_server_side_errors_have_the_published_shape(session, error_validator):
    app = build_app(title="failing", routers=[failing])
    client = TestClient(app, raise_server_exceptions=False)
    crashed = _check(error_validator, client.get("/failing/boom"), 500, "internal_error")
    assert crashed["request_id"]
    outage = client.get("/failing/db-down")
    _check(error_validator, outage, 503, "database_unavailable")
    assert outage.headers["retry-after"] == "5"


def test_admission_controls_503_has_the_published_shape(error_validator):
    async def busy_app(scope, receive, send):
        await asyncio.sleep(1)

    middleware = AdmissionControlMiddleware(busy_app, limit=1, queue_timeout=0.05)

    async def scenario() -> httpx.Response:
        transport = httpx.ASGITransport(app=middleware)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            first = asyncio.create_task(http.get("/work"))
            await asyncio.sleep(0.01)
            shed = await http.get("/work")
            first.cancel()
            return shed

    shed = asyncio.run(scenario())
    body = _check(error_validator, shed, 503, "server_busy")
    assert shed.headers["retry-after"] == "1"
    assert json.loads(shed.content) == body
