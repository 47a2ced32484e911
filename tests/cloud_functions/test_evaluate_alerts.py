"""The evaluate-alerts Cloud Function, through functions-framework's test client, calling the
real main API served over HTTP (committed data: the server thread has its own connections)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from datetime import timedelta

import pytest
import uvicorn
from functions_framework import create_app
from sqlalchemy import select

from db.database import session_scope
from helpers.time_utils import utc_now
from models.alert import Alert
from models.trip import TripStatus
from tests.factories import make_location, make_trip, make_vehicle

SOURCE = "cloud_functions/evaluate_alerts/main.py"


@pytest.fixture
def api_url(committed_db):
    from main import app as main_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(main_app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "API did not start"
        time.sleep(0.02)
    yield url
    server.should_exit = True
    thread.join(timeout=5)


def function_client(monkeypatch, **env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # The framework loads the source as module `main`; the project's own `main` must survive.
    project_main = sys.modules.get("main")
    try:
        return create_app("evaluate_alerts", SOURCE).test_client()
    finally:
        if project_main is not None:
            sys.modules["main"] = project_main


def test_function_triggers_an_evaluation_pass(monkeypatch, api_url):
    with session_scope() as session:
        truck = make_vehicle(session)
        make_trip(session, vehicle=truck, status=TripStatus.IN_TRANSIT)
        make_location(session, vehicle=truck, recorded_at=utc_now() - timedelta(hours=2))

    client = function_client(
        monkeypatch, API_BASE_URL=api_url, SERVICE_API_KEY="test-service-api-key"
    )
    response = client.post("/")

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["by_type"]["gps_stale"] == 1
    with session_scope() as session:
        assert session.scalars(select(Alert).where(Alert.type == "gps_stale")).one()


def test_function_reports_a_refused_key_and_missing_config(monkeypatch, api_url):
    refused = function_client(monkeypatch, API_BASE_URL=api_url, SERVICE_API_KEY="wrong").post("/")
    assert refused.status_code == 502 and refused.get_json()["api_status"] == 401
    monkeypatch.delenv("API_BASE_URL")
    assert function_client(monkeypatch).post("/").status_code == 500


def test_function_reports_an_unreachable_api(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = function_client(
        monkeypatch, API_BASE_URL=f"http://127.0.0.1:{port}", SERVICE_API_KEY="k"
    )
    response = client.post("/")
    assert response.status_code == 502 and response.get_json()["error"] == "api_unreachable"
