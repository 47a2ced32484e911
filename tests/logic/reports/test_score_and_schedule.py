"""The safety score formula, the scheduler tick (local send time, nightly rebuild) and the
morning-report CLI against the sandbox."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from config import Settings, get_settings
from logic.reports import jobs
from logic.reports.score import formula, safety_score
from models.report import DriverReport, MorningReport, ReportDelivery
from tests.factories import make_driver
from tests.logic.reports.morning_facts import REPORT_DATE, make_morning_facts


def test_score_deducts_each_weight_and_clamps():
    settings = Settings(REPORT_SCORE_SPEEDING_MINUTE=1.0)
    metrics = {
        "hos_violations": 1,
        "safety_events_by_severity": {"low": 2, "medium": 1, "high": 1, "critical": 0},
        "speeding_minutes": 4.5,
        "stops_with_appointment": 5,
        "stops_on_time": 3,
        "miles": 320.0,
    }
    result = safety_score(metrics, settings)
    # 100 - (10 + 2x1 + 3 + 8 + 4.5x1 + 2x2)
    assert result.score == 68.5
    assert result.components == {
        "hos_violations": 10.0,
        "events_low": 2.0,
        "events_medium": 3.0,
        "events_high": 8.0,
        "speeding_minutes": 4.5,
        "late_stops": 4.0,
    }
    assert safety_score({"hos_violations": 20, "miles": 1.0}, settings).score == 0.0
    assert safety_score({"miles": 1.0}, settings) == safety_score({"miles": 1.0}, settings)
    assert safety_score({"miles": 1.0}, settings).score == 100.0
    assert "1 x speeding minutes" in formula(settings)


def test_a_day_without_a_mileage_basis_is_not_scored():
    """Issue 21.3: 11 drive hours and no miles scored 100 (a perfect day); now it says why not."""
    settings = Settings()
    drove = safety_score({"drive_hours": 11.25, "miles": 0.0}, settings)
    assert drove.score is None
    assert drove.withheld_reason is not None and "11.25 drive hours" in drove.withheld_reason
    assert safety_score({}, settings).score is None
    assert safety_score({"drive_hours": 11.25, "miles": 480.0}, settings).score == 100.0


def _clients(sandbox):
    from utils.mailer import build_mailer
    from utils.slack_client import build_slack_client

    settings = Settings(**sandbox.settings_env())
    return build_slack_client(settings, sleep=lambda _s: None, retry_wait=0.0), build_mailer(
        settings
    )


def test_tick_sends_at_the_local_time_once(session, sandbox_clean):
    make_morning_facts(session)  # Memphis, America/Chicago, send at 06:00
    before = datetime(2026, 3, 11, 10, 59, tzinfo=UTC)  # 05:59 in Chicago (CDT)
    assert jobs.tick(now=before, clients=_clients(sandbox_clean)).morning_reports == []
    at = before + timedelta(minutes=1)
    result = jobs.tick(now=at, clients=_clients(sandbox_clean))
    assert result.morning_reports == [{"terminal": "Memphis", "report_date": "2026-03-11"}]
    assert result.delivery["sent"] == 2  # Slack channel and the email list
    again = jobs.tick(now=at + timedelta(minutes=5), clients=_clients(sandbox_clean))
    assert again.morning_reports == [] and again.delivery["claimed"] == 0
    assert len(sandbox_clean.mail()) == 1
    assert session.scalar(select(func.count()).select_from(ReportDelivery)) == 2


def test_tick_rebuilds_yesterday_once_after_the_delay(session, sandbox_clean):
    make_driver(session)
    zone_midnight = datetime(2026, 3, 11, 5, 0, tzinfo=UTC)  # 2026-03-11 00:00 in Chicago
    early = jobs.tick(now=zone_midnight + timedelta(minutes=30), clients=(None, None))
    assert early.rebuilt_driver_reports is None
    late = jobs.tick(now=zone_midnight + timedelta(hours=3), clients=(None, None))
    assert late.rebuilt_driver_reports == "2026-03-10"
    assert (
        jobs.tick(
            now=zone_midnight + timedelta(hours=4), clients=(None, None)
        ).rebuilt_driver_reports
        is None
    )
    assert session.scalar(select(func.count()).select_from(DriverReport)) == 1


@pytest.fixture
def isolated_env(monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_morning_report_posts_to_slack_and_mails(session, sandbox_clean, isolated_env):
    from cli import app

    make_morning_facts(session)
    session.commit()
    args = ["morning-report", "--date", REPORT_DATE.isoformat(), "--terminal", "Memphis"]
    sandbox_args = ["--sandbox-url", sandbox_clean.url, "--smtp-port", str(sandbox_clean.smtp_port)]
    result = CliRunner().invoke(app, args + sandbox_args)
    assert result.exit_code == 0, result.output
    assert "delivered 2, retrying 0, failed 0" in result.output
    [report] = session.scalars(select(MorningReport)).all()
    assert report.terminal == "Memphis"
    [mail] = sandbox_clean.mail()
    assert mail["subject"] == "Memphis morning report — 2026-03-11"
    bad = CliRunner().invoke(app, ["morning-report", "--date", "yesterday"])
    assert bad.exit_code == 1 and "--date must be YYYY-MM-DD" in bad.output
