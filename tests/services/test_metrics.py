"""`/metrics`: guarded, and its numbers move with traffic, admission, the outbox and ingest."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlmodel import SQLModel

from config import Settings, get_settings
from helpers.time_utils import utc_now
from logic.alerts.outbox import enqueue
from models.alert import DeliveryKind
from models.ingest import IngestRun, IngestStatus
from sandbox.credentials import VAPI_WEBHOOK_SECRET
from services.http.app_factory import build_app
from services.vendor_deps import current_settings
from tests.calls_support import vapi_headers
from tests.factories import make_trip

KEY = {"X-API-Key": "test-service-api-key"}
MAIN = "Fleet Intelligence Hub"


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _scrape(client: TestClient) -> str:
    response = client.get("/metrics", headers=KEY)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_metrics_need_the_service_key_or_metrics_permission(client, auth_headers):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/metrics", headers=auth_headers(role="dispatcher")).status_code == 403
    assert client.get("/metrics", headers=auth_headers(role="admin")).status_code == 200


def test_requests_and_latency_count_per_route_template(client, session, auth_headers):
    headers = auth_headers(role="dispatcher")
    trip = make_trip(session)
    labels = {"app": MAIN, "method": "GET", "route": "/trips/{trip_id}", "status": "200"}
    before = _value("fleet_http_requests_total", **labels)
    latency_before = _value(
        "fleet_http_request_duration_seconds_count",
        app=MAIN,
        method="GET",
        route="/trips/{trip_id}",
    )

    for _ in range(3):
        assert client.get(f"/trips/{trip.id}", headers=headers).status_code == 200
    client.get("/nowhere")

    assert _value("fleet_http_requests_total", **labels) == before + 3
    assert (
        _value(
            "fleet_http_request_duration_seconds_count",
            app=MAIN,
            method="GET",
            route="/trips/{trip_id}",
        )
        == latency_before + 3
    )
    text = _scrape(client)
    assert 'route="unmatched",status="404"' in text
    assert "fleet_db_pool_in_use " in text
    assert "fleet_db_pool_capacity " in text


def test_outbox_depth_and_age_come_from_the_database(client, session):
    now = utc_now()
    enqueue(session, channel="#ops", kind=DeliveryKind.POST, now=now - timedelta(minutes=3))
    enqueue(session, channel="#ops", kind=DeliveryKind.POST, now=now)
    session.commit()

    _scrape(client)
    assert _value("fleet_outbox_depth", status="pending") == 2
    assert _value("fleet_outbox_oldest_age_seconds") >= 180
    assert _value("fleet_metrics_database_up") == 1


def test_ingest_lag_per_feed_and_run_counters(client, session):
    finished = utc_now() - timedelta(minutes=7)
    session.add(
        IngestRun(
            source="samsara", entity="locations", status=IngestStatus.SUCCEEDED.value,
            started_at=finished - timedelta(seconds=5), heartbeat_at=finished, finished_at=finished,
        )
    )  # fmt: skip
    session.commit()

    _scrape(client)
    lag = _value("fleet_ingest_lag_seconds", source="samsara", entity="locations")
    assert 420 <= lag < 480


def test_webhook_intake_counts_each_delivery_by_outcome(client, monkeypatch):
    settings = Settings(VAPI_WEBHOOK_SECRET=VAPI_WEBHOOK_SECRET)
    monkeypatch.setitem(client.app.dependency_overrides, current_settings, lambda: settings)
    outcomes = ("accepted", "duplicate", "ignored", "rejected")
    _scrape(client)
    before = {o: _value("fleet_webhook_events_total", provider="vapi", outcome=o) for o in outcomes}
    status = json.dumps(
        {"message": {"type": "status-update", "status": "ringing", "call": {"id": "metrics-1"}}}
    ).encode()
    chatter = json.dumps({"message": {"type": "speech-update", "call": {"id": "metrics-1"}}})
    for body, headers in (
        (status, vapi_headers(status)),
        (status, vapi_headers(status)),
        (chatter.encode(), vapi_headers(chatter.encode())),
        (status, {"X-Vapi-Secret": "not the secret"}),
    ):
        client.post("/webhooks/vapi", content=body, headers=headers)
    _scrape(client)
    after = {o: _value("fleet_webhook_events_total", provider="vapi", outcome=o) for o in outcomes}
    assert {o: after[o] - before[o] for o in outcomes} == dict.fromkeys(outcomes, 1)


def test_calls_by_outcome_only_once_a_call_table_exists(client):
    text = _scrape(client)
    assert ("fleet_calls" in text) == ("call" in SQLModel.metadata.tables)


def _busy_app(limit_seconds: float):
    settings = Settings(_env_file=None, MAX_CONCURRENT_REQUESTS=1, DB_POOL_TIMEOUT=limit_seconds)
    release = asyncio.Event()
    entered = asyncio.Event()
    router = APIRouter()

    @router.get("/slow")
    async def slow() -> dict[str, str]:
        entered.set()
        await release.wait()
        return {"status": "done"}

    return build_app(title="busy", routers=[router], settings=settings), release, entered


def test_admission_queue_depth_and_503s(session):
    app, release, entered = _busy_app(limit_seconds=0.5)

    async def scenario() -> tuple[int, float, int]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            first = asyncio.create_task(http.get("/slow"))
            await entered.wait()
            waiting = asyncio.create_task(http.get("/slow"))
            await asyncio.sleep(0.1)
            depth = _value("fleet_admission_queue_depth", app="busy")
            refused = await waiting
            release.set()
            return (await first).status_code, depth, refused.status_code

    before = _value("fleet_admission_rejections_total", app="busy")
    first, depth, refused = asyncio.run(scenario())

    assert (first, refused) == (200, 503)
    assert depth == 1
    assert _value("fleet_admission_rejections_total", app="busy") == before + 1
    assert _value("fleet_admission_queue_depth", app="busy") == 0


@pytest.mark.parametrize(
    ("peer", "forwarded", "status"),
    [("127.0.0.1", None, 200), ("127.0.0.1", "203.0.113.9", 401), ("10.1.2.3", None, 401)],
    ids=["sidecar", "relayed-by-the-front-end", "elsewhere"],
)
def test_an_allowed_network_scrapes_without_the_key(session, monkeypatch, peer, forwarded, status):
    monkeypatch.setenv("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32")
    get_settings.cache_clear()
    app = build_app(title="scraped", routers=[])
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}

    async def scrape() -> int:
        transport = httpx.ASGITransport(app=app, client=(peer, 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return (await http.get("/metrics", headers=headers)).status_code

    try:
        assert asyncio.run(scrape()) == status
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
