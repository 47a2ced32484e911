"""POST /slack/interactions: signature valid / tampered / stale / missing / replayed, the
action applied as the linked user (audited), and the Slack message updated in the sandbox."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from config import Settings, get_settings
from helpers.time_utils import utc_now
from logic.alerts import outbox
from logic.alerts.candidate import Candidate
from logic.alerts.filters import ChannelLimit, apply_filters
from logic.alerts.rules import load_rules
from models.alert import Alert, SlackInteraction, SlackUserLink
from models.audit_log import AuditLog
from sandbox.credentials import SLACK_SIGNING_SECRET
from services.vendor_deps import current_settings
from tests.factories_auth import make_user
from utils.slack_client import build_slack_client, sign_slack_request


@pytest.fixture
def slack_settings(main_app, sandbox_clean):
    settings = Settings(**{**sandbox_clean.settings_env(), "ENVIRONMENT": "test"})
    main_app.dependency_overrides[current_settings] = lambda: settings
    yield settings
    main_app.dependency_overrides.pop(get_settings, None)


@pytest.fixture
def posted_alert(session, slack_settings):
    apply_filters(
        session,
        [Candidate(type="gps_stale", subject="trip:1", title="GPS lost", message="m")],
        rules=load_rules(session),
        evaluated_types=["gps_stale"],
        now=utc_now(),
        limit=ChannelLimit(max_posts=100),
    )
    outbox.drain(build_slack_client(slack_settings, sleep=lambda _s: None), now=utc_now())
    alert = session.scalars(select(Alert)).one()
    assert alert.slack_ts
    return alert


def body_for(alert_id: int, action: str = "ack_alert", slack_user: str = "U0AMY") -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": slack_user, "username": "not-a-hub-user", "team_id": "T0"},
        "container": {"type": "message", "message_ts": "1.1", "channel_id": "C1"},
        "actions": [
            {
                "type": "button",
                "action_id": action,
                "block_id": f"alert-{alert_id}",
                "value": str(alert_id),
                "action_ts": "1.2",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, *, ts: int | None = None, secret: str = SLACK_SIGNING_SECRET) -> dict:
    timestamp = str(ts if ts is not None else int(time.time()))
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign_slack_request(secret, timestamp, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def link(session, slack_user: str = "U0AMY", username: str = "amy", role: str = "dispatcher"):
    user = make_user(session, username=username, roles=[role])
    session.add(SlackUserLink(slack_user_id=slack_user, user_id=user.id, created_at=utc_now()))
    session.flush()
    return user


def test_ack_button_acknowledges_as_the_linked_user_and_updates_the_message(
    client, session, posted_alert, sandbox_clean
):
    user = link(session)
    body = body_for(posted_alert.id)

    started = time.monotonic()
    response = client.post("/slack/interactions", content=body, headers=signed(body))
    assert time.monotonic() - started < 3
    assert response.status_code == 200, response.text
    assert response.json()["text"] == f"Alert #{posted_alert.id} acknowledged."

    session.refresh(posted_alert)
    assert posted_alert.status == "acknowledged"
    assert posted_alert.acknowledged_by_id == user.id
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "alert.acknowledge")).one()
    assert audit.actor_user_id == user.id and audit.details == {"via": "slack"}
    [message] = httpx.get(f"{sandbox_clean.url}/_sandbox/slack/messages").json()["messages"]
    assert message["ts"] == posted_alert.slack_ts and message["updates"]
    assert "Acknowledged by amy" in json.dumps(message["blocks"])


def test_snooze_and_resolve_buttons(client, session, posted_alert):
    link(session)
    body = body_for(posted_alert.id, "snooze_alert_1h")
    client.post("/slack/interactions", content=body, headers=signed(body))
    session.refresh(posted_alert)
    assert posted_alert.status == "snoozed"
    body = body_for(posted_alert.id, "resolve_alert")
    client.post("/slack/interactions", content=body, headers=signed(body, ts=int(time.time()) - 1))
    session.refresh(posted_alert)
    assert posted_alert.status == "resolved"


def test_tampered_body_is_refused(client, session, posted_alert):
    link(session)
    body = body_for(posted_alert.id)
    headers = signed(body)
    tampered = body_for(posted_alert.id, "resolve_alert")
    response = client.post("/slack/interactions", content=tampered, headers=headers)
    assert response.status_code == 401
    session.refresh(posted_alert)
    assert posted_alert.status == "open"


def test_wrong_secret_stale_and_missing_headers_are_refused(client, session, posted_alert):
    body = body_for(posted_alert.id)
    assert (
        client.post(
            "/slack/interactions", content=body, headers=signed(body, secret="other")
        ).status_code
        == 401
    )
    stale = signed(body, ts=int(time.time()) - 301)
    assert client.post("/slack/interactions", content=body, headers=stale).status_code == 401
    assert client.post("/slack/interactions", content=body).status_code == 400
    assert session.scalars(select(SlackInteraction)).all() == []


def test_replayed_request_is_refused_and_changes_nothing(client, session, posted_alert):
    link(session)
    body = body_for(posted_alert.id)
    headers = signed(body)
    assert client.post("/slack/interactions", content=body, headers=headers).status_code == 200
    replay = client.post("/slack/interactions", content=body, headers=headers)
    assert replay.status_code == 409
    assert (
        len(session.scalars(select(AuditLog).where(AuditLog.action == "alert.acknowledge")).all())
        == 1
    )


def test_unlinked_slack_user_changes_nothing(client, session, posted_alert):
    body = body_for(posted_alert.id, slack_user="U0STRANGER")
    response = client.post("/slack/interactions", content=body, headers=signed(body))
    assert response.status_code == 200
    assert "not linked" in response.json()["text"]
    session.refresh(posted_alert)
    assert posted_alert.status == "open"
    [row] = session.scalars(select(SlackInteraction)).all()
    assert row.outcome == "refused: unlinked Slack user"


def test_unconfigured_signing_secret_refuses(client, main_app, session):
    main_app.dependency_overrides[current_settings] = lambda: Settings(SLACK_SIGNING_SECRET="")
    try:
        body = body_for(1)
        response = client.post("/slack/interactions", content=body, headers=signed(body))
    finally:
        main_app.dependency_overrides.pop(get_settings, None)
    assert response.status_code == 503


@pytest.fixture
def hub_url(main_app):
    """The main API over real HTTP, so the sandbox can call it like Slack would."""
    import socket
    import threading

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(main_app, port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "main API did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


def test_pressing_a_button_in_the_sandbox_acknowledges_the_alert(
    session, posted_alert, sandbox_clean, hub_url
):
    """What a newcomer does after `make run`: press Acknowledge on a message in the fake Slack."""
    make_user(session, username="dana", roles=["dispatcher"])
    pressed = httpx.post(
        f"{sandbox_clean.url}/_sandbox/slack/press",
        json={"ts": posted_alert.slack_ts, "action_id": "ack_alert", "username": "dana",
              "url": hub_url},
        timeout=15,
    )  # fmt: skip
    assert pressed.status_code == 200, pressed.text
    assert pressed.json()["hub"]["text"] == f"Alert #{posted_alert.id} acknowledged."
    session.refresh(posted_alert)
    assert posted_alert.status == "acknowledged"

    missing = httpx.post(f"{sandbox_clean.url}/_sandbox/slack/press", json={"ts": "0.0"})
    assert missing.status_code == 404


def test_a_linked_user_without_alerts_write_changes_nothing(client, session, posted_alert):
    link(session, role="viewer")
    body = body_for(posted_alert.id)
    response = client.post("/slack/interactions", content=body, headers=signed(body))
    assert response.status_code == 200
    assert "may not change alerts" in response.json()["text"]
    session.refresh(posted_alert)
    assert posted_alert.status == "open"
