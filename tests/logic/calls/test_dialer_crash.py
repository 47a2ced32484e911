"""kill -9 of the dialing process, over HTTP against the sandbox on both databases: stopped
after a campaign target was claimed, after its call's request was committed, after the dial
was marked started, or after the vendor placed the call but before the answer was recorded;
then restarted (fresh processes, each a tick later): every row has at most one vendor call,
the driver is dialed once, and the campaign target does not stay `dialing`."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select as sql_select

from config import get_settings
from db.database import session_scope
from logic.calls.dialing import DIAL_LEASE, SETTLE
from main import app as main_app
from models.call import Call, CallStatus
from models.campaign import CampaignTarget, TargetState
from sandbox.credentials import VAPI_API_KEY
from services.vendor_deps import current_settings
from tests.calls_support import route_webhooks, sandbox_settings, serve_main_app, wait_for
from tests.factories import make_driver
from tests.factories_calls import make_agent_profile
from tests.logic.campaigns.support import make_campaign
from tests.process_support import ROOT, process_env

OPEN_ALL_DAY = {"CALL_WINDOW_START": "00:00", "CALL_WINDOW_END": "00:00"}


@pytest.fixture
def hub(committed_db, sandbox_clean):
    """The API serving the sandbox's webhooks, and the environment of a dialer process."""
    main_app.dependency_overrides[current_settings] = lambda: sandbox_settings(
        sandbox_clean, **OPEN_ALL_DAY
    )
    url, stop = serve_main_app()
    route_webhooks(sandbox_clean, f"{url}/webhooks/vapi", vendors=("vapi",))
    db_url = committed_db.url
    database = (
        {"DATABASE_URL": db_url.render_as_string(hide_password=False)}
        if db_url.get_backend_name() == "postgresql"
        else {"SQLITE_PATH": str(db_url.database)}
    )
    env = process_env(
        **sandbox_clean.settings_env(),
        **database,
        **OPEN_ALL_DAY,
        DB_SCHEMA=get_settings().DB_SCHEMA,
    )
    yield env
    stop()
    main_app.dependency_overrides.pop(current_settings, None)


def _dialer(env: dict[str, str], point: str, at: datetime) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.logic.calls.dialer_crash_worker", point, at.isoformat()],
        cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _kill_at(env: dict[str, str], point: str, at: datetime) -> None:
    """Run a dialer until it reports reaching `point`, then SIGKILL it."""
    process = _dialer(env, point, at)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        assert line.strip() == f"crash-point {point}", line + process.stdout.read()
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _restart(env: dict[str, str], at: datetime) -> None:
    process = _dialer(env, "none", at)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output


def _vendor_calls(sandbox) -> list[dict]:
    with httpx.Client(base_url=sandbox.url) as http:
        answer = http.get("/vapi/call", headers={"Authorization": f"Bearer {VAPI_API_KEY}"})
        return answer.raise_for_status().json()


def _hub(value) -> int | None:
    metadata = (value.get("assistantOverrides") or {}).get("metadata") or {}
    return metadata.get("hub_call_id")


@pytest.mark.parametrize("point", ["claimed", "queued", "dial_started", "vendor_answered"])
def test_kill_9_mid_dial_then_restart_dials_the_driver_once(hub, sandbox_clean, point):
    t0 = datetime.now(UTC).replace(microsecond=0)
    with session_scope() as session:
        make_agent_profile(session, provider="vapi", purpose="hos_check")
        driver = make_driver(session)
        campaign = make_campaign(
            session,
            drivers=[driver],
            now=t0,
            max_concurrency=1,
            retry_failed_minutes=1,
            window_start="00:00",
            window_end="00:00",
        )
        driver_phone, campaign_id = driver.phone, campaign.id

    _kill_at(hub, point, t0)

    # Restarts a lease apart: the first finds interrupted work, the second is past the time a
    # vendor needs to list a call (a dial that never reached it fails and is retried), the
    # third is past the retry delay.
    restarts = [
        DIAL_LEASE + timedelta(seconds=5),
        SETTLE + DIAL_LEASE,
        SETTLE + timedelta(minutes=4),
    ]
    for offset in restarts:
        _restart(hub, t0 + offset)

    placed = [c for c in _vendor_calls(sandbox_clean) if c["customer"]["number"] == driver_phone]
    assert len(placed) == 1  # the driver was dialed once
    with session_scope() as session:
        calls = list(session.scalars(sql_select(Call).order_by(Call.id)))
        by_vendor = Counter(_hub(c) for c in placed)
        assert all(count == 1 for count in by_vendor.values())
        [answered] = [c for c in calls if c.provider_call_id]
        assert answered.provider_call_id == placed[0]["id"] and by_vendor[answered.id] == 1
        others = [c for c in calls if c.id != answered.id]
        # Only a dial that never reached the vendor leaves a second row: failed, never placed.
        assert all(c.status == CallStatus.FAILED and c.provider_call_id is None for c in others)
        assert len(others) == (1 if point == "dial_started" else 0)

    def target_moved_on() -> str | None:
        _restart(hub, t0 + SETTLE + timedelta(minutes=5))
        with session_scope() as session:
            [target] = session.scalars(
                sql_select(CampaignTarget).where(CampaignTarget.campaign_id == campaign_id)
            ).all()
            return target.state if target.state != TargetState.DIALING else None

    # The sandbox plays the call and posts its webhooks to the API; the next tick moves the
    # target on from `dialing`.
    assert wait_for(target_moved_on, timeout=30, step=0.5) in (
        TargetState.IN_CALL,
        TargetState.DONE,
    )
