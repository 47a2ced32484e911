"""The sandbox keeps its world across restarts (`--state-dir`, as `make run` runs it): a hub that
updates an alert's Slack message after a restart finds it (no `message_not_found`), and the
fleet keeps its timeline, so HOS violations keep their times. No database is involved."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from sandbox import elevenlabs, mail, slack, vapi
from sandbox.app import create_sandbox_app
from sandbox.credentials import SLACK_BOT_TOKEN
from sandbox.persistence import FILENAME

SLACK = {"Authorization": f"Bearer {SLACK_BOT_TOKEN}"}


def _forget_everything() -> None:
    """What a process restart does to the module-level stores."""
    slack.store.reset()
    vapi.reset()
    elevenlabs.reset()
    mail.store.reset()


@pytest.fixture
def fresh_stores():
    _forget_everything()
    yield
    _forget_everything()


def test_slack_calls_mail_and_the_fleet_timeline_survive_a_restart(tmp_path, fresh_stores):
    first = create_sandbox_app(seed=7, trucks=3, state_dir=tmp_path)
    with TestClient(first) as client:
        posted = client.post(
            "/slack/api/chat.postMessage",
            json={"channel": "#fleet-alerts", "text": "HOS violation: truck 101"},
            headers=SLACK,
        ).json()
        assert posted["ok"], posted
        vapi.restore({"call-1": {"id": "call-1", "status": "ended"}})
        mail.store.add(
            {"subject": "Fleet morning report", "attachments": [
                {"filename": "s.csv", "content_type": "text/csv", "content": b"a,b\n"}]}
        )  # fmt: skip
        start = first.state.sandbox.simulator.start
    stored = json.loads((tmp_path / FILENAME).read_text())
    assert stored["fleet"] == {"seed": 7, "trucks": 3, "start": start.isoformat(), "delays": []}
    # An older anchor on disk (the stack first ran an hour ago) is the one the restart takes.
    stored["fleet"]["start"] = (start - timedelta(hours=1)).isoformat()
    (tmp_path / FILENAME).write_text(json.dumps(stored))

    _forget_everything()
    second = create_sandbox_app(seed=7, trucks=3, state_dir=tmp_path)
    with TestClient(second) as client:
        assert second.state.sandbox.simulator.start == start - timedelta(hours=1)
        updated = client.post(
            "/slack/api/chat.update",
            json={"channel": posted["channel"], "ts": posted["ts"], "text": "acknowledged"},
            headers=SLACK,
        ).json()
        assert updated["ok"], updated  # not message_not_found
        [message] = client.get("/_sandbox/slack/messages").json()["messages"]
        assert message["text"] == "acknowledged" and message["ts"] == posted["ts"]
        assert vapi.export() == {"call-1": {"id": "call-1", "status": "ended"}}
        [received] = mail.store.snapshot()
        assert received["attachments"][0]["content"] == b"a,b\n"
        again = client.post(
            "/slack/api/chat.postMessage",
            json={"channel": "#fleet-alerts", "text": "another"},
            headers=SLACK,
        ).json()
        assert again["ts"] != posted["ts"]


def test_another_fleet_or_no_state_dir_starts_fresh(tmp_path, fresh_stores):
    with TestClient(create_sandbox_app(seed=7, trucks=3, state_dir=tmp_path)):
        pass
    stored = json.loads((tmp_path / FILENAME).read_text())
    stored["fleet"]["start"] = "2020-01-01T00:00:00+00:00"
    (tmp_path / FILENAME).write_text(json.dumps(stored))
    other = create_sandbox_app(seed=8, trucks=3, state_dir=tmp_path)
    assert other.state.sandbox.simulator.start.year != 2020
    plain = create_sandbox_app(seed=7, trucks=3)
    assert plain.state.sandbox.simulator.start.year != 2020
