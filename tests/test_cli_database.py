"""Hand-run `hub` commands use the running stack's database (which `make run` records in
data/.local-stack.env) unless the shell chooses one, and every command first says which."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

import devstack
from cli import app, describe_database
from config import Settings, get_settings
from db.database import create_db_engine
from tests.process_support import ROOT, process_env


@pytest.fixture
def stack_database(engine, tmp_path):
    """Settings of a database of the stack's own (a fresh schema or SQLite file) and an engine
    on it."""
    if engine.dialect.name == "postgresql":
        schema = f"stack_{os.getpid()}"
        chosen = {"DATABASE_URL": engine.url.render_as_string(hide_password=False)}
        settings = Settings(_env_file=None, **chosen, DB_SCHEMA=schema)
    else:
        settings = Settings(_env_file=None, SQLITE_PATH=tmp_path / "stack" / "fleet_hub.db")
    own = create_db_engine(settings)
    if engine.dialect.name == "postgresql":
        with own.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    yield settings, own
    if engine.dialect.name == "postgresql":
        with own.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    own.dispose()


def _hand_run(cwd, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`.venv/bin/hub …` in a developer's shell at `cwd`: development, no database chosen."""
    shell = {
        k: v
        for k, v in process_env(ENVIRONMENT="development", **env).items()
        if k not in devstack.DATABASE_SETTINGS or k in env
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        cwd=cwd, env=shell, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _users(own) -> list[str]:
    with own.connect() as conn:
        return list(conn.execute(text("SELECT username FROM users ORDER BY username")).scalars())


def test_hand_run_commands_use_and_name_the_stacks_database(stack_database, tmp_path, monkeypatch):
    settings, own = stack_database
    clone = tmp_path / "clone"
    clone.mkdir()
    # What `make run` records, from the clone (the SQLite path made absolute).
    monkeypatch.chdir(clone)
    devstack.record_local_stack(None, devstack.stack_database(settings))
    monkeypatch.chdir(ROOT)
    recorded = devstack.read_env_file(clone / devstack.LOCAL_STACK_ENV)
    assert recorded == devstack.stack_database(settings)

    made = _hand_run(
        clone, "create-admin", "--username", "ops", "--email", "ops@example.com",
        "--password", "correct-horse-battery",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    first = made.stderr.splitlines()[0]
    assert first == describe_database(settings, from_stack=True)
    assert first.startswith("database: ") and first.endswith("from data/.local-stack.env)")
    assert "ops" in _users(own)

    reset = _hand_run(clone, "reset-password", "ops", "--password", "another-horse-battery")
    assert reset.returncode == 0, reset.stderr
    assert reset.stderr.splitlines()[0] == first

    # A shell that chooses its database keeps it, and says so.
    elsewhere = tmp_path / "elsewhere.db"
    chosen = _hand_run(clone, "init-db", SQLITE_PATH=str(elsewhere))
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stderr.splitlines()[0] == f"database: sqlite:///{elsewhere}"
    assert "ops" not in _users(create_db_engine(Settings(_env_file=None, SQLITE_PATH=elsewhere)))
    assert elsewhere.exists()


def test_the_line_never_shows_a_password():
    settings = Settings(
        _env_file=None, DATABASE_URL="postgresql://fleet:s3cret@db.example:5432/hub", DB_SCHEMA="x"
    )
    described = describe_database(settings)
    assert "s3cret" not in described
    assert described == "database: postgresql://fleet:***@db.example:5432/hub (schema x)"


def _commands(group: typer.Typer) -> list[str]:
    return [command.name for command in group.registered_commands]


@pytest.mark.parametrize("command", _commands(app))
def test_every_command_names_its_database_first(command):
    get_settings.cache_clear()
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].startswith("database: "), result.stderr
