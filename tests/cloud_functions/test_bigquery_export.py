"""The bigquery-export Cloud Function, through functions-framework's test client, calling a real
ingest app served over HTTP, which exports committed rows to the sandbox BigQuery."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import functions_framework
import httpx
import pytest
import uvicorn

from db.database import session_scope
from tests.factories import make_trip
from tests.ingest_support import API_KEY
from tests.logic.warehouse.support import bq_fixture, warehouse_rows  # noqa: F401

SOURCE = Path(__file__).resolve().parents[2] / "cloud_functions" / "bigquery_export" / "main.py"


@pytest.fixture
def ingest_url(committed_db, bq) -> Iterator[str]:
    from ingest_app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, lifespan="off",
                            log_level="warning", access_log=False)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(f"{url}/health", timeout=0.5)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "ingest app did not start"
            time.sleep(0.02)
    yield url
    server.should_exit = True
    thread.join(timeout=5)


def _client(monkeypatch, **env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    saved = sys.modules.get("main")
    try:
        return functions_framework.create_app("bigquery_export", str(SOURCE)).test_client()
    finally:
        if saved is None:
            sys.modules.pop("main", None)
        else:
            sys.modules["main"] = saved


def test_exports_the_named_tables_with_the_api_key(monkeypatch, ingest_url, bq):
    with session_scope() as session:
        for _ in range(3):
            make_trip(session, stops=2)
    client = _client(monkeypatch, INGEST_BASE_URL=ingest_url, SERVICE_API_KEY=API_KEY["X-API-Key"])

    response = client.post("/", json={"tables": ["trips", "trip_stops"]})

    assert response.status_code == 200, response.get_data(as_text=True)
    runs = response.get_json()["runs"]
    assert [(r["entity"], r["fetched"], r["trigger"]) for r in runs] == [
        ("trips", 3, "api-key"), ("trip_stops", 6, "api-key")
    ]  # fmt: skip
    assert len(warehouse_rows(bq, "trips")) == 3
    assert client.post("/?table=trips").get_json()["runs"][0]["fetched"] == 0


def test_refused_key_bad_input_and_missing_config(monkeypatch, ingest_url):
    refused = _client(monkeypatch, INGEST_BASE_URL=ingest_url, SERVICE_API_KEY="wrong").post("/")
    assert refused.status_code == 502 and refused.get_json()["ingest_status"] == 401
    client = _client(monkeypatch, INGEST_BASE_URL=ingest_url, SERVICE_API_KEY="k")
    assert client.post("/", json={"tables": ["../admin"]}).status_code == 400
    monkeypatch.delenv("INGEST_BASE_URL")
    assert client.post("/").status_code == 500
