"""Production refuses to start on a schema behind the migrations, in one line; after
`cli.py migrate` the same command starts cleanly. The SQLite default needs no migrating."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from db.database import create_db_engine
from tests.process_support import ROOT, free_port, process_env, start, stop, wait_until_up

PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": "a-production-grade-secret-key-0123456789-abcdef",
    "SERVICE_API_KEY": "startup-service-key",
}


@pytest.fixture
def database_env(engine, tmp_path):
    """Settings for a database of its own: a fresh schema (PostgreSQL) or file (SQLite)."""
    if engine.dialect.name != "postgresql":
        yield {"SQLITE_PATH": str(tmp_path / "fresh.db")}
        return
    schema = f"startup_{os.getpid()}"
    url = engine.url.render_as_string(hide_password=False)
    admin = create_db_engine(url=make_url(url))
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    yield {"DATABASE_URL": url, "DB_SCHEMA": schema}
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90,
        check=False,
    )  # fmt: skip


@pytest.mark.parametrize("rule", [PRODUCTION, {"MIGRATIONS": "required"}], ids=["prod", "req"])
def test_pending_migrations_refuse_start_until_migrate(database_env, rule):
    env = process_env(**database_env, **rule)

    refused = _run(["-m", "uvicorn", "main:app", "--port", "0"], env)
    assert refused.returncode != 0
    assert "cannot start: database schema has no migrations applied" in refused.stderr
    assert "cli.py migrate" in refused.stderr
    assert "Traceback" not in refused.stderr

    migrated = _run(["cli.py", "migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    assert "database schema at" in migrated.stderr

    port = free_port()
    server = start(["python", "cli.py", "serve", "main"], {**env, "PORT": str(port)})
    try:
        wait_until_up(server, f"http://127.0.0.1:{port}/health/ready")
    finally:
        output = stop(server)
    assert "cannot start" not in output


def test_the_ingest_app_refuses_too(database_env):
    refused = _run(
        ["-m", "uvicorn", "ingest_app:app", "--port", "0"],
        process_env(**database_env, MIGRATIONS="required"),
    )
    assert refused.returncode != 0
    assert "ingest cannot start: database schema has no migrations applied" in refused.stderr


def test_embedded_sqlite_default_creates_its_tables(tmp_path):
    port = free_port()
    env = process_env(SQLITE_PATH=str(tmp_path / "auto.db"), PORT=str(port))
    server = start(["python", "cli.py", "serve", "ingest"], env)
    try:
        wait_until_up(server, f"http://127.0.0.1:{port}/health/ready")
    finally:
        stop(server)
    assert (tmp_path / "auto.db").exists()
