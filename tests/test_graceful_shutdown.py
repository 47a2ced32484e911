"""SIGTERM on a real ingest server with a request and a background run in flight: the request
is answered, the run stops at its page and frees its lock, and the process exits in time."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from config import Settings
from db import database
from db.database import create_db_engine
from helpers import shutdown
from logic.ingest.runner import start_run
from services.http.app_factory import build_app
from tests.process_support import free_port, process_env, start, stop, wait_until_up

KEY = {"X-API-Key": "test-service-api-key"}
CLOUD_RUN_GRACE = 10.0


@pytest.fixture
def server_database(engine, tmp_path):
    """(env, engine) for a database of the server's own: fresh schema or SQLite file."""
    if engine.dialect.name == "postgresql":
        schema = f"shutdown_{os.getpid()}"
        url = engine.url.render_as_string(hide_password=False)
        env = {"DATABASE_URL": url, "DB_SCHEMA": schema}
        inspect_with = create_db_engine(Settings(_env_file=None, DB_SCHEMA=schema), url=url)
        with inspect_with.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    else:
        path = tmp_path / "shutdown.db"
        env = {"SQLITE_PATH": str(path)}
        inspect_with = create_db_engine(Settings(_env_file=None), url=make_url(f"sqlite:///{path}"))
    yield env, inspect_with
    if engine.dialect.name == "postgresql":
        with inspect_with.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{env["DB_SCHEMA"]}" CASCADE'))
    inspect_with.dispose()


def _runs(engine) -> list[tuple[str, str, str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT source, entity, status, error FROM ingest_run ORDER BY id")
        )
        return [tuple(row) for row in rows]


def test_sigterm_finishes_the_request_and_hands_back_the_background_run(
    sandbox_clean, server_database
):
    env_db, db = server_database
    port = free_port()
    env = process_env(
        **sandbox_clean.settings_env(), **env_db, PORT=str(port), SHUTDOWN_GRACE_SECONDS="8"
    )
    server = start(["python", "cli.py", "serve", "ingest"], env)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(server, f"{base}/health/ready")
    # The background run's first vendor page and the request's two calls are slow.
    sandbox_clean.fault("samsara", "slow", count=1, delay=2.5)
    sandbox_clean.fault("ditat", "slow", count=2, delay=1.5)

    accepted = httpx.post(f"{base}/ingest/samsara/vehicles?background=true", headers=KEY)
    assert accepted.status_code == 202
    in_flight: dict[str, httpx.Response] = {}
    request = threading.Thread(
        target=lambda: in_flight.update(
            response=httpx.post(f"{base}/ingest/ditat/drivers", headers=KEY, timeout=20)
        )
    )
    request.start()
    time.sleep(0.7)  # both are waiting on the sandbox now

    server.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    time.sleep(0.3)
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(f"{base}/health", timeout=2)  # no longer accepting
    request.join(timeout=15)
    try:
        server.wait(timeout=CLOUD_RUN_GRACE)
    finally:
        output = stop(server)
    took = time.monotonic() - signalled

    assert took < CLOUD_RUN_GRACE, output
    # Uvicorn re-raises the signal once it has shut down cleanly.
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert in_flight["response"].status_code == 200, in_flight["response"].text
    assert in_flight["response"].json()["status"] == "succeeded"
    runs = {(source, entity): (status, error) for source, entity, status, error in _runs(db)}
    status, error = runs[("samsara", "vehicles")]
    assert status == "failed"
    assert error.startswith("interrupted:")
    assert "running" not in {status for status, _ in runs.values()}

    # Another instance takes the same feed over at once (no stale-run wait on SQLite).
    previous = database.current_engine()
    database.set_engine(db)
    try:
        start_run("samsara", "vehicles", trigger="cli").finish()
    finally:
        database.set_engine(previous)
    assert _runs(db)[-1][:3] == ("samsara", "vehicles", "succeeded")


def test_requests_arriving_while_draining_are_refused_with_close(session):
    app = build_app(title="draining", routers=[])
    client = TestClient(app)
    shutdown.request_shutdown()
    try:
        refused = client.get("/metrics", headers=KEY)
        health = client.get("/health")
    finally:
        shutdown.reset()
    assert refused.status_code == 503
    assert refused.headers["connection"] == "close"
    assert refused.json()["error"] == "shutting_down"
    assert health.status_code == 200  # probes still answer while in-flight work finishes
