"""The `hub` command line as a new user meets it: no venv, the local stack's configuration, the
service key, the summary table at 80 columns, defaults shown as they are, a missing database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

import devstack
from config import get_settings
from models.ingest import IngestRun
from sandbox.credentials import sandbox_settings_env

ROOT = Path(__file__).resolve().parent.parent
VENDOR_KEYS = set(sandbox_settings_env("http://x"))


@pytest.fixture
def dev_shell(monkeypatch, tmp_path):
    """A developer's shell in a clone at `tmp_path`: ENVIRONMENT=development, no vendor settings,
    no .env; whatever a command puts in the environment stays inside the test."""
    monkeypatch.setattr(os, "environ", dict(os.environ))
    for name in VENDOR_KEYS | set(devstack.SECRET_NAMES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _hub(*args: str):
    from cli import app

    return CliRunner().invoke(app, list(args))


def test_without_the_venv_cli_py_prints_one_line_not_a_traceback():
    # -S: no site-packages, as with a system python3 that never saw `make run`.
    result = subprocess.run(
        [sys.executable, "-S", "-E", "cli.py", "ingest", "samsara", "locations"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("fleet-hub: this Python lacks the package") and ".venv/bin/hub" in line


def test_overrides_come_only_in_development_and_never_mix_vendors():
    stack = sandbox_settings_env("http://127.0.0.1:8090")
    secrets = {"SECRET_KEY": "k" * 40, "SERVICE_API_KEY": "svc", "OTHER": "x"}
    local = devstack.local_stack_overrides("development", set(), stack, secrets)
    assert local == {**stack, "SECRET_KEY": "k" * 40, "SERVICE_API_KEY": "svc"}
    # A real vendor configured in the environment or .env: no sandbox vendor at all.
    one_real = devstack.local_stack_overrides("development", {"SAMSARA_TOKEN"}, stack, secrets)
    assert one_real == {"SECRET_KEY": "k" * 40, "SERVICE_API_KEY": "svc"}
    # Each secret set by the environment wins over its local value.
    assert "SERVICE_API_KEY" not in devstack.local_stack_overrides(
        "development", {"SERVICE_API_KEY"}, stack, secrets
    )
    for environment in ("test", "staging", "production"):
        assert devstack.local_stack_overrides(environment, set(), stack, secrets) == {}


def test_hand_run_ingest_uses_the_local_stacks_sandbox(session, sandbox_clean, dev_shell):
    result = _hub("ingest", "samsara", "vehicles")
    assert result.exit_code == 1 and "Samsara is not configured" in result.output
    assert "start `make run` once" in " ".join(result.output.split())

    # What `make run` leaves in data/: what it adds to the environment, secrets aside.
    database = {"DATABASE_URL": "sqlite:////elsewhere/fleet_hub.db"}  # this shell sets its own
    env = {**os.environ, **sandbox_clean.settings_env(), "SECRET_KEY": "s"}
    devstack.record_local_stack(env, database)
    stack_file = dev_shell / "data" / ".local-stack.env"
    assert stack_file.stat().st_mode & 0o777 == 0o600
    assert devstack.read_env_file(stack_file) == {**sandbox_clean.settings_env(), **database}
    result = _hub("ingest", "samsara", "vehicles")
    assert result.exit_code == 0, result.output
    run = session.scalars(select(IngestRun).order_by(IngestRun.id.desc())).first()
    assert (run.entity, run.status, run.fetched) == ("vehicles", "succeeded", 25)

    # `hub run --no-sandbox`: vendors from the environment, only the database is recorded.
    devstack.record_local_stack(None, database)
    assert devstack.read_env_file(stack_file) == database


def test_service_key_prints_the_local_stacks_key(dev_shell):
    result = _hub("service-key")
    assert result.exit_code == 1 and "data/.local-secrets" in result.output

    generated = devstack._local_secrets()  # the first `make run`
    result = _hub("service-key")
    assert result.exit_code == 0
    assert result.stdout.strip() == generated["SERVICE_API_KEY"] and len(generated) == 2


def test_an_environment_key_wins_over_the_local_one(dev_shell, monkeypatch):
    devstack._local_secrets()
    monkeypatch.setenv("SERVICE_API_KEY", "from-the-environment")
    assert _hub("service-key").stdout.strip() == "from-the-environment"


def test_ingest_summary_fits_80_columns():
    from cli import _ingest_table

    def run(id_, entity, rows):
        return SimpleNamespace(
            id=id_, source="samsara", entity=entity, status="succeeded", pages=40,
            fetched=rows, inserted=rows, updated=1200, skipped=3, unmatched={"x": {"count": 2}},
            duration_ms=61_500,
        )  # fmt: skip

    console = Console(width=80, record=True)
    console.print(_ingest_table([run(1, "hos-violations", 20_480), run(12, "locations", 9)]))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    text_ = "\n".join(lines)
    assert "…" not in text_
    for word in ("hos-violations", "succeeded", "20480", "1200", "61.5", "pages", "skip"):
        assert word in text_


def test_prune_locations_help_shows_the_real_default():
    result = _hub("prune-locations", "--help")
    assert "default: 0" not in result.output
    assert "LOCATION_RETENTION_DAYS or 90" in " ".join(result.output.split())


def test_prune_locations_refuses_zero_days():
    result = _hub("prune-locations", "--days", "0")
    assert result.exit_code == 2


@pytest.mark.postgres
def test_init_db_creates_a_missing_development_database(engine):
    url = engine.url.set(database=f"{engine.url.database}_initdb_{uuid.uuid4().hex[:8]}")
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "DATABASE_URL": url.render_as_string(hide_password=False),
    }
    try:
        result = subprocess.run(
            [sys.executable, "cli.py", "init-db"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert f"created the database '{url.database}'" in result.stderr
        again = subprocess.run(
            [sys.executable, "cli.py", "init-db"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert again.returncode == 0 and "created" not in again.stderr
    finally:
        admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}"'))
        admin.dispose()
