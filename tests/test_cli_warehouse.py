"""`cli.py export-bigquery` end to end: seed from the sandbox, export, export again."""

import os

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from config import get_settings
from logic.warehouse.tables import TABLES
from models.ingest import IngestRun
from tests.logic.warehouse.support import warehouse_rows


@pytest.fixture
def isolated_env(monkeypatch):
    monkeypatch.setattr(os, "environ", {**os.environ, "WAREHOUSE_SETTLE_SECONDS": "0"})
    os.environ.pop("GOOGLE_CLOUD_PROJECT", None)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_first_export_loads_every_table_and_the_second_only_changes(
    session, sandbox_clean, isolated_env
):
    from cli import app

    runner = CliRunner()
    seeded = runner.invoke(
        app, ["seed-demo", "--sandbox-url", sandbox_clean.url, "--no-first-report"]
    )
    assert seeded.exit_code == 0, seeded.output

    first = runner.invoke(app, ["export-bigquery", "--sandbox-url", sandbox_clean.url])

    assert first.exit_code == 0, first.output
    for table in TABLES.values():
        held = session.scalar(select(func.count()).select_from(table.table))
        assert len(warehouse_rows(sandbox_clean, table.name)) == held, table.name
    assert len(warehouse_rows(sandbox_clean, "vehicle_locations")) > 100

    second = runner.invoke(
        app, ["export-bigquery", "--sandbox-url", sandbox_clean.url, "--table", "trips"]
    )

    assert second.exit_code == 0, second.output
    runs = session.scalars(
        select(IngestRun).where(IngestRun.source == "bigquery").order_by(IngestRun.id)
    ).all()
    assert len(runs) == len(TABLES) + 1
    assert (runs[-1].entity, runs[-1].trigger, runs[-1].fetched) == ("trips", "cli", 0)


def test_an_unknown_table_fails_cleanly(session, sandbox_clean, isolated_env):
    from cli import app

    result = CliRunner().invoke(
        app, ["export-bigquery", "--sandbox-url", sandbox_clean.url, "--table", "planets"]
    )
    assert result.exit_code == 1 and "unknown warehouse table" in result.output
