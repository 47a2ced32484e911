"""Error rendering, request ids, database outages, readiness and admission control."""

import asyncio
import threading

import httpx
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from config import get_settings
from db import database
from helpers.errors import Conflict, NotFound
from services.deps import SessionDep
from services.http.admission import AdmissionControlMiddleware, admitted_requests
from services.http.app_factory import build_app
from tests.db.probe_models import UpsertProbe

probe = APIRouter(prefix="/probe")


@probe.get("/not-found")
def not_found() -> None:
    raise NotFound("trip 42 does not exist")


@probe.get("/conflict")
def conflict() -> None:
    raise Conflict("already running", run_id=7)


@probe.get("/boom")
def boom() -> None:
    raise RuntimeError("secret=hunter2 leaked?")


@probe.get("/typed")
def typed(n: int) -> dict[str, int]:
    return {"n": n}


@probe.post("/probes/{external_id}")
def create_probe(external_id: str, session: SessionDep) -> dict[str, str]:
    # Not flushed here: a duplicate is only discovered by the commit at the boundary.
    session.add(UpsertProbe(external_id=external_id, name="probe"))
    return {"created": external_id}


@probe.get("/db-down")
def db_down() -> None:
    raise OperationalError("SELECT 1", {}, Exception("could not connect"))


@pytest.fixture
def probe_client(session) -> TestClient:
    app = build_app(title="probe", routers=[probe])
    return TestClient(app, raise_server_exceptions=False)


def test_app_errors_render_code_and_detail(probe_client):
    response = probe_client.get("/probe/not-found")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "trip 42 does not exist"}

    response = probe_client.get("/probe/conflict")
    assert response.status_code == 409
    assert response.json() == {"error": "conflict", "detail": "already running", "run_id": 7}


def test_unhandled_error_is_a_json_500_with_request_id(probe_client):
    response = probe_client.get("/probe/boom", headers={"X-Request-ID": "req-abc123"})
    assert response.status_code == 500
    body = response.json()
    assert body == {
        "error": "internal_error",
        "detail": "an unexpected error occurred",
        "request_id": "req-abc123",
    }
    assert "hunter2" not in response.text


def test_request_id_is_generated_and_echoed(probe_client):
    response = probe_client.get("/health")
    generated = response.headers["x-request-id"]
    assert len(generated) == 16
    unsafe = probe_client.get("/health", headers={"X-Request-ID": "<script>"})
    assert unsafe.headers["x-request-id"] != "<script>"


def test_database_outage_is_503_with_retry_after(probe_client):
    response = probe_client.get("/probe/db-down")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"] == "database_unavailable"


def test_a_failed_commit_is_an_error_response_never_a_lost_success(probe_client):
    """The session commits before the response is sent (STYLE §4)."""
    assert probe_client.post("/probe/probes/p-1").status_code == 200
    duplicate = probe_client.post("/probe/probes/p-1")
    assert duplicate.status_code == 500
    assert duplicate.json()["error"] == "internal_error"


def test_validation_errors_are_the_one_shape_with_a_field_list(probe_client):
    response = probe_client.get("/probe/typed", params={"n": "many"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["detail"].startswith("query.n: ")
    assert body["errors"] == [
        {
            "loc": ["query", "n"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
            "input": "many",
        }
    ]


def test_health_and_readiness(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ready", "database": "ok"}


def test_readiness_fails_cleanly_when_database_unreachable(client, engine):
    dead = database.create_db_engine(url="postgresql://postgres@127.0.0.1:1/none")
    database.set_engine(dead)
    try:
        response = client.get("/health/ready")
    finally:
        database.set_engine(engine)
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["error"] == "database_unavailable"
    assert "Traceback" not in response.text


def test_ingest_app_has_health_too(session):
    from ingest_app import app

    ingest = TestClient(app)
    assert ingest.get("/health").status_code == 200
    assert ingest.get("/health/ready").status_code == 200


def test_admitted_requests_never_exceed_pool_capacity():
    settings = get_settings()
    capacity = settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW
    assert admitted_requests(settings) == capacity
    assert admitted_requests(settings.model_copy(update={"MAX_CONCURRENT_REQUESTS": 5})) == 5
    tight = settings.model_copy(update={"MAX_CONCURRENT_REQUESTS": 10_000})
    assert admitted_requests(tight) == capacity


def test_admission_control_queues_then_sheds_load():
    """With one slot, a second request waits; past the queue timeout it gets a fast 503."""
    release = threading.Event()

    async def slow_app(scope, receive, send):
        while scope["path"] == "/work" and not release.is_set():
            await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = AdmissionControlMiddleware(slow_app, limit=1, queue_timeout=0.2)

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=middleware)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            first = asyncio.create_task(http.get("/work"))
            await asyncio.sleep(0.05)
            second = await http.get("/work")  # waits 0.2 s for the only slot, then sheds
            exempt = await http.get("/health")  # liveness bypasses admission
            release.set()
            return [(await first).status_code, second.status_code, exempt.status_code]

    assert asyncio.run(scenario()) == [200, 503, 200]
