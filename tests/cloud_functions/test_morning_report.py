"""The morning-report Cloud Function, through functions-framework's test client, calling the
real main API served over HTTP (committed data) with the service key."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.database import session_scope
from models.report import MorningReport
from tests.cloud_functions.test_evaluate_alerts import api_url  # noqa: F401
from tests.factories import make_driver

SOURCE = "cloud_functions/morning_report/main.py"


def function_client(monkeypatch, **env):
    import sys

    from functions_framework import create_app

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    project_main = sys.modules.get("main")
    try:
        return create_app("morning_report", SOURCE).test_client()
    finally:
        if project_main is not None:
            sys.modules["main"] = project_main


def test_function_generates_the_report_for_the_date_it_is_given(monkeypatch, api_url):  # noqa: F811
    with session_scope() as session:
        make_driver(session, terminal="Memphis")
    client = function_client(
        monkeypatch, API_BASE_URL=api_url, SERVICE_API_KEY="test-service-api-key"
    )
    response = client.post("/?date=2026-03-11", json={"terminal": "Memphis", "deliver": "false"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["report_date"] == "2026-03-11" and [r["terminal"] for r in body["reports"]] == [
        "Memphis"
    ]
    with session_scope() as session:
        [report] = session.scalars(select(MorningReport)).all()
        assert (report.terminal, report.body["yesterday"]) == ("Memphis", "2026-03-10")


@pytest.mark.parametrize("key,status", [("wrong", 401)])
def test_function_relays_a_refused_key(monkeypatch, api_url, key, status):  # noqa: F811
    client = function_client(monkeypatch, API_BASE_URL=api_url, SERVICE_API_KEY=key)
    response = client.post("/")
    assert response.status_code == 502 and response.get_json()["api_status"] == status
