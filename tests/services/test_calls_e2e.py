"""The issue's "done" scenario over real HTTP: the API served by uvicorn, the sandbox dialing
and posting signed webhooks to it. Two ElevenLabs calls and one VAPI call end with transcript,
summary and insights, and the Slack thread of the alert that prompted them shows each outcome.
Also: three identical concurrent deliveries on PostgreSQL have one effect, and the
reconcile-calls Cloud Function and CLI commands drive the same code."""

from __future__ import annotations

import sys
import threading
import time

import httpx
import pytest
from functions_framework import create_app
from sqlalchemy import func, select
from typer.testing import CliRunner

from config import get_settings
from db.database import session_scope
from models.call import Call, CallInsight
from models.webhook_event import WebhookEvent
from services.vendor_deps import current_settings
from tests.calls_support import (
    posted_alert,
    route_webhooks,
    sandbox_settings,
    serve_main_app,
    thread_replies,
    vapi_headers,
    wait_for,
)
from tests.factories import make_driver, make_stop, make_trip
from tests.factories_auth import bearer_for, make_user
from tests.factories_calls import make_agent_profile, make_call

SERVICE_KEY = "test-calls-service-key"


@pytest.fixture
def live(committed_db, sandbox_clean):
    """(api url, sandbox) with the app's settings pointing at the sandbox."""
    from main import app as main_app

    settings = sandbox_settings(
        sandbox_clean,
        CALL_WINDOW_START="00:00",
        CALL_WINDOW_END="00:00",
        SERVICE_API_KEY=SERVICE_KEY,
    )
    main_app.dependency_overrides[current_settings] = lambda: settings
    url, stop = serve_main_app()
    yield url, sandbox_clean
    stop()
    main_app.dependency_overrides.pop(get_settings, None)


def test_two_elevenlabs_calls_and_one_vapi_call_end_with_insights_and_slack(live):
    url, sandbox = live
    for vendor in ("vapi", "elevenlabs"):
        route_webhooks(sandbox, f"{url}/webhooks/{vendor}", vendors=(vendor,), delay=0.1)
    with session_scope() as session:
        headers = bearer_for(session, make_user(session, roles=["dispatcher"]))
        make_agent_profile(session, provider="vapi", purpose="custom")
        make_agent_profile(session, provider="elevenlabs", purpose="custom")
        drivers = []
        for phone, city in (
            ("+12015550123", "Dallas"),
            ("+12015550103", "Tulsa"),
            ("+12015550163", "Memphis"),
        ):
            driver = make_driver(session, phone=phone)
            trip = make_trip(session, driver=driver)
            make_stop(session, trip=trip, sequence=1, city=city)
            drivers.append(driver.id)
        alert = posted_alert(session, sandbox, driver_id=drivers[0])
        alert_id, thread_ts = alert.id, alert.slack_ts

    with httpx.Client(base_url=url, headers=headers, timeout=15) as api:
        # The alert is the first driver's: a call to anyone else about it is refused.
        mixed = api.post(
            "/driver_data/call-elevenlabs",
            json={"driver_ids": drivers[:2], "alert_id": alert_id},
        )
        assert mixed.status_code == 422, mixed.text
        [error] = mixed.json()["errors"]
        assert (error["type"], error["loc"]) == ("call_subject_mismatch", ["body", "alert_id"])
        assert f"belongs to driver {drivers[0]}, not to driver {drivers[1]}" in mixed.text
        first = api.post(
            "/driver_data/call-elevenlabs",
            json={"driver_ids": drivers[:1], "alert_id": alert_id},
        ).json()

        # On the embedded SQLite a request beside the previous batch's dial and webhooks may be
        # refused with 503 + Retry-After (issue 21.7); a client honouring it retries.
        def post(path: str, body: dict) -> dict:
            for _ in range(20):
                answer = api.post(path, json=body)
                if answer.status_code != 503:
                    return answer.json()
                time.sleep(float(answer.headers.get("Retry-After", "1")) / 5)
            return answer.json()

        second = post("/driver_data/call-elevenlabs", {"driver_ids": drivers[1:2]})
        vapi = post("/driver_data/call-vapi", {"driver_ids": drivers[2:]})
        placed = (first["placed"], second["placed"], vapi["placed"])
        assert placed == (1, 1, 1), (first, second, vapi)

        def all_finished():
            page = api.get("/calls", params={"status": "ended"}).json()
            done = [c for c in page["items"] if c["finalized_at"]]
            return page if len(done) == 3 else None

        ended = wait_for(all_finished, timeout=30, step=0.2)
        assert ended, api.get("/calls").json()
        for item in ended["items"]:
            call = api.get(f"/calls/{item['id']}").json()
            assert call["outcome"] == "completed"
            assert call["transcript"] and call["summary"], call
            assert call["insight"] is not None, call
        details = {c["driver_id"]: api.get(f"/calls/{c['id']}").json() for c in ended["items"]}
    assert details[drivers[1]]["insight"]["reported_location"] == "Tulsa"
    assert details[drivers[1]]["insight"]["issues"] == ["weather"]
    assert details[drivers[2]]["insight"]["reported_delay_minutes"] == 0
    # Only the call about her alert answers in her alert's thread.
    replies = wait_for(lambda: thread_replies(sandbox, thread_ts), timeout=10)
    assert [("completed" in r["text"], "(ElevenLabs)" in r["text"]) for r in replies] == [
        (True, True)
    ]


@pytest.mark.postgres
def test_three_identical_concurrent_deliveries_have_one_effect(live):
    url, _sandbox = live
    with session_scope() as session:
        driver = make_driver(session)
        call = make_call(session, driver_id=driver.id, provider="vapi", provider_call_id="vc-1")
        call_id = call.id
    body = (
        b'{"message":{"type":"end-of-call-report","endedReason":"customer-ended-call",'
        b'"startedAt":"2026-01-01T00:00:05.000Z","endedAt":"2026-01-01T00:01:58.000Z",'
        b'"call":{"id":"vc-1"},"artifact":{"messages":[{"role":"user",'
        b'"message":"About 40 minutes late."}]},"analysis":{"summary":"Late."}}}'
    )
    barrier = threading.Barrier(3)
    answers: list[dict] = []

    def deliver() -> None:
        with httpx.Client(base_url=url, timeout=15) as http:
            barrier.wait()
            answers.append(
                http.post("/webhooks/vapi", content=body, headers=vapi_headers(body)).json()
            )

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert sorted(a["stored"] for a in answers) == [False, False, True]

    def finalized() -> bool:
        with session_scope(immediate=False) as session:
            return session.get(Call, call_id).finalized_at is not None

    assert wait_for(finalized, timeout=10)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 1
        insights = session.scalar(
            select(func.count()).select_from(CallInsight).where(CallInsight.call_id == call_id)
        )
        assert insights == 1
        assert session.get(Call, call_id).outcome == "completed"


def _function_client(monkeypatch, **env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    project_main = sys.modules.get("main")
    try:
        return create_app(
            "reconcile_calls", "cloud_functions/reconcile_calls/main.py"
        ).test_client()
    finally:
        if project_main is not None:
            sys.modules["main"] = project_main


def test_reconcile_function_and_cli(monkeypatch, live):
    url, sandbox = live
    route_webhooks(sandbox, None)  # the webhooks are lost
    with session_scope() as session:
        profile = make_agent_profile(
            session, provider="elevenlabs", purpose="custom", max_duration_seconds=30
        )
        driver = make_driver(session, phone="+12015550123")
        profile_id, driver_id = profile.id, driver.id
    from cli import app as cli_app

    for key, value in sandbox.settings_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CALL_WINDOW_START", "00:00")
    monkeypatch.setenv("CALL_WINDOW_END", "00:00")
    monkeypatch.setenv("SERVICE_API_KEY", SERVICE_KEY)
    get_settings.cache_clear()
    try:
        placed = CliRunner().invoke(
            cli_app, ["call", str(driver_id), "--provider", "elevenlabs", "--purpose", "custom"]
        )
        assert placed.exit_code == 0, placed.output
        with session_scope() as session:
            call = session.scalars(select(Call).where(Call.driver_id == driver_id)).one()
            assert call.agent_profile_id == profile_id and call.status == "dialing"
            # Make it overdue, and wait until the fake has finished the conversation.
            call.expected_end_at = call.created_at.replace(year=call.created_at.year - 1)
            conversation_id = call.provider_call_id
        assert wait_for(
            lambda: (
                httpx.get(
                    f"{sandbox.url}/elevenlabs/v1/convai/conversations/{conversation_id}",
                    headers={"xi-api-key": sandbox.settings_env()["ELEVENLABS_API_KEY"]},
                ).json()["status"]
                == "done"
            ),
            timeout=10,
        )
        function = _function_client(monkeypatch, API_BASE_URL=url, SERVICE_API_KEY=SERVICE_KEY)
        response = function.post("/")
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["filled"] == 1
        again = CliRunner().invoke(cli_app, ["reconcile-calls"])
        assert again.exit_code == 0 and "checked 0" in again.output
        # The API's settings were read above; the function's own key is now wrong.
        refused = _function_client(monkeypatch, API_BASE_URL=url, SERVICE_API_KEY="wrong")
        answer = refused.post("/")
        assert answer.status_code == 502 and answer.get_json()["api_status"] == 401
    finally:
        get_settings.cache_clear()
    with session_scope() as session:
        call = session.scalars(select(Call).where(Call.driver_id == driver_id)).one()
        assert call.status == "ended" and call.summary and call.reconciled_at
