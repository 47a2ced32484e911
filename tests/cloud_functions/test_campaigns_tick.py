"""The campaigns-tick Cloud Function, through functions-framework's test client, calling the
real main API served over HTTP (committed data: the server thread has its own connections)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from functions_framework import create_app
from sqlalchemy import select

from db.database import session_scope
from models.campaign import CampaignTarget, TargetState
from tests.cloud_functions.test_evaluate_alerts import api_url  # noqa: F401
from tests.factories import make_driver
from tests.logic.campaigns.support import make_campaign

SOURCE = "cloud_functions/campaigns_tick/main.py"


def function_client(monkeypatch, **env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    project_main = sys.modules.get("main")
    try:
        return create_app("campaigns_tick", SOURCE).test_client()
    finally:
        if project_main is not None:
            sys.modules["main"] = project_main


def test_function_runs_a_tick(monkeypatch, api_url):  # noqa: F811
    with session_scope() as session:
        driver = make_driver(session, do_not_call=True)
        make_campaign(session, drivers=[driver], now=datetime(2026, 1, 5, tzinfo=UTC))

    client = function_client(
        monkeypatch, API_BASE_URL=api_url, SERVICE_API_KEY="test-service-api-key"
    )
    response = client.post("/")

    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["skipped"] == {"do-not-call": 1} and body["completed"]
    with session_scope() as session:
        target = session.scalars(select(CampaignTarget)).one()
        assert target.state == TargetState.SKIPPED


def test_function_reports_a_refused_key_and_missing_config(monkeypatch, api_url):  # noqa: F811
    refused = function_client(monkeypatch, API_BASE_URL=api_url, SERVICE_API_KEY="wrong").post("/")
    assert refused.status_code == 502 and refused.get_json()["api_status"] == 401
    monkeypatch.delenv("API_BASE_URL")
    assert function_client(monkeypatch).post("/").status_code == 500
