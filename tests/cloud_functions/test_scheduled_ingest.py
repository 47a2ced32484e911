"""The scheduled-ingest Cloud Function, through functions-framework's test client, calling a
real ingest app served over HTTP (which pulls from the sandbox)."""

from __future__ import annotations

import os
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
from sqlmodel import Session, select

from db.database import get_engine
from models.ingest import IngestRun
from tests.ingest_support import API_KEY, fleet_fixture  # noqa: F401

SOURCE = Path(__file__).resolve().parents[2] / "cloud_functions" / "scheduled_ingest" / "main.py"


@pytest.fixture
def ingest_server(committed_db, fleet) -> Iterator[str]:
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


@pytest.fixture
def function_env() -> Iterator[dict[str, str]]:
    saved = {k: os.environ.get(k) for k in ("INGEST_BASE_URL", "SERVICE_API_KEY")}
    yield os.environ
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _client():
    # The framework imports the source as module `main`, which would shadow the project's
    # `main` (the API app) for every later test in this process: put ours back.
    saved = sys.modules.get("main")
    try:
        return functions_framework.create_app("scheduled_ingest", str(SOURCE)).test_client()
    finally:
        if saved is None:
            sys.modules.pop("main", None)
        else:
            sys.modules["main"] = saved


def _wait_for_run(run_id: int) -> IngestRun:
    deadline = time.monotonic() + 10
    while True:
        with Session(get_engine()) as session:
            run = session.get(IngestRun, run_id)
            if run is not None and run.status != "running":
                return run
        assert time.monotonic() < deadline, "the background run did not finish"
        time.sleep(0.05)


def test_triggers_a_background_run_with_the_api_key(ingest_server, function_env) -> None:
    function_env.update(
        {"INGEST_BASE_URL": ingest_server, **{"SERVICE_API_KEY": API_KEY["X-API-Key"]}}
    )
    response = _client().post("/", json={"source": "ditat", "entity": "trailers"})
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "running" and body["entity"] == "trailers"
    run = _wait_for_run(body["run_id"])
    assert run.status == "succeeded" and run.trigger == "api-key" and run.inserted > 0


def test_refused_key_and_bad_input(ingest_server, function_env) -> None:
    function_env.update({"INGEST_BASE_URL": ingest_server, "SERVICE_API_KEY": "not-the-key"})
    refused = _client().post("/", json={"source": "samsara", "entity": "vehicles"})
    assert refused.status_code == 502
    assert refused.get_json()["ingest_status"] == 401
    assert _client().post("/", json={"source": "bogus", "entity": "x"}).status_code == 400
    assert _client().post("/?source=samsara&entity=../admin").status_code == 400
    with Session(get_engine()) as session:
        assert session.exec(select(IngestRun)).all() == []


def test_missing_configuration(function_env) -> None:
    function_env.pop("INGEST_BASE_URL", None)
    response = _client().post("/", json={"source": "samsara", "entity": "locations"})
    assert response.status_code == 500 and response.get_json()["error"] == "not_configured"
