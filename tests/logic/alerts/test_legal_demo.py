"""The demo fleet end to end: seeded from the sandbox like `make run`, one evaluation pass shows
a trip whose legal ETA is later than its physical one with the binding clock named, and a
`cannot_legally_make_appointment` card reaches the sandbox Slack."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from config import Settings, get_settings
from logic.alerts import engine
from models.alert import Alert
from models.trip import Trip
from utils.pcmiler_client import build_pcmiler_client
from utils.slack_client import build_slack_client

DEMO_NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture
def isolated_env(monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_demo_shows_a_legal_eta_later_than_physical_and_alerts_slack(
    session, sandbox_clean, isolated_env
):
    from cli import app

    # The `make run` fleet (seed 42, 25 trucks), built at a fixed time so the test is hermetic.
    sandbox_clean.rebuild_fleet(seed=42, trucks=25, start=DEMO_NOW)
    sandbox_clean.freeze_clock(DEMO_NOW)
    seeded = CliRunner().invoke(
        app, ["seed-demo", "--sandbox-url", sandbox_clean.url, "--no-first-report"]
    )
    assert seeded.exit_code == 0, seeded.output
    settings = Settings(**sandbox_clean.settings_env())
    slack = build_slack_client(settings, sleep=lambda _s: None)
    pcmiler = build_pcmiler_client(settings, retry_wait=0)

    result = engine.run_evaluation(now=DEMO_NOW, slack=slack, pcmiler=pcmiler)

    trips = session.scalars(select(Trip).where(Trip.eta_next_stop_legal.is_not(None))).all()
    later = [t for t in trips if t.eta_next_stop_legal > t.eta_next_stop and t.hos_binding_clock]
    assert later
    alerts = session.scalars(
        select(Alert).where(Alert.type == "cannot_legally_make_appointment")
    ).all()
    assert alerts
    messages = httpx.get(f"{sandbox_clean.url}/_sandbox/slack/messages").json()["messages"]
    cards = [str(m) for m in messages if "Cannot legally make appointment" in str(m)]
    assert cards and any(
        label in cards[0] for label in ("14-hour window", "11-hour driving", "30-minute break")
    )
    assert result.routing["requested"] == result.routing["wanted"] > 0
