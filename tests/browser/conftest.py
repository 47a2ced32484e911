"""Browser fixtures: Debian's chromium driven by playwright, and the main app + sandbox served
on free local ports over one committed demo fleet (ingested from the sandbox, as `make run` does).

Without a `chromium` binary (or the playwright package) every browser test skips with the reason.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from sqlmodel import SQLModel, select

from config import get_settings
from db import database
from db.database import session_scope
from logic.alerts import outbox
from logic.alerts.candidate import Candidate
from logic.alerts.filters import ChannelLimit, apply_filters
from logic.alerts.rules import load_rules
from logic.ingest.jobs import run_all
from tests.factories_auth import make_user
from tests.fixtures_sandbox import settings_env
from utils.slack_client import build_slack_client

ARTIFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artifacts"
PASSWORD = "console-test-password-1"
REFERENCE_TABLES = {"role", "permission", "rolepermission", "role_permission"}


def log_in(page, username: str) -> None:
    """Log in through the form and wait for the trips board's first rows."""
    page.goto("/console/")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("#board[data-ready] tbody tr")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    """One headless Chromium for the browser tests (contexts keep them apart).

    Module-scoped: playwright's sync API keeps an event loop running on the main thread while
    it is started, which breaks every later test that calls `asyncio.run()` on that worker.
    """
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("no chromium binary: `apt-get install -y chromium` (make test does it as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    playwright = sync_api.sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu"]
    )
    yield browser
    browser.close()
    playwright.stop()


@dataclass
class ConsoleStack:
    url: str
    sandbox: object
    admin: str
    viewer: str
    driver_id: int
    trip_id: int
    requests: list[str] = field(default_factory=list)

    def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username)['access']}"}

    def token(self, username: str) -> dict[str, str]:
        pair = (
            httpx.post(f"{self.url}/auth/token", data={"username": username, "password": PASSWORD})
            .raise_for_status()
            .json()
        )
        return {"access": pair["access_token"], "refresh": pair["refresh_token"]}


def _serve(app) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="console-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the main app did not start"
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def _seed(sandbox) -> tuple[str, str, int, int]:
    """The demo fleet ingested from the sandbox with its ETAs (driving and legal), one alert
    posted to Slack, two users, VAPI agents for late-load and HOS checks (the HOS one may call
    a driver at the wheel, hands-free); everything committed (the server has its own
    connections)."""
    from logic.trips.eta import compute_etas
    from logic.trips.legal_eta import compute_legal_etas
    from models.trip import Trip
    from tests.factories_calls import make_agent_profile

    for source in ("samsara", "ditat"):
        run_all(source, trigger="cli", triggered_by="console-tests")
    with session_scope() as session:
        now = datetime.now(UTC)
        compute_legal_etas(session, compute_etas(session, now=now), now=now)
    with session_scope() as session:
        trip = session.exec(select(Trip).where(Trip.driver_id.is_not(None))).first()
        apply_filters(
            session,
            [
                Candidate(
                    type="gps_stale",
                    subject=f"trip:{trip.id}",
                    title=f"GPS lost on load {trip.load_number}",
                    message="No position for 45 minutes.",
                    trip_id=trip.id,
                )
            ],
            rules=load_rules(session),
            evaluated_types=["gps_stale"],
            now=datetime.now(UTC),
            limit=ChannelLimit(max_posts=100),
        )
        make_user(session, username="console-admin", password=PASSWORD, roles=["admin"])
        make_user(session, username="console-viewer", password=PASSWORD, roles=["viewer"])
        make_user(session, username="console-dispatcher", password=PASSWORD, roles=["dispatcher"])
        make_agent_profile(session)
        make_agent_profile(session, purpose="hos_check", hands_free_allowed=True)
        driver_id, trip_id = trip.driver_id, trip.id
    outbox.drain(build_slack_client(get_settings(), sleep=lambda _s: None), now=datetime.now(UTC))
    return "console-admin", "console-viewer", driver_id, trip_id


@pytest.fixture(scope="module")
def console_stack(engine, sandbox) -> Iterator[ConsoleStack]:
    from main import app

    database.configure_sessions(None)
    sandbox.reset()
    sandbox.rebuild_fleet(trucks=12, history_hours=2, seed=11)
    env = {
        **sandbox.settings_env(),
        # Any hour of the day is inside the calling and texting windows (start == end: all day).
        "CALL_WINDOW_START": "00:00",
        "CALL_WINDOW_END": "00:00",
        "MESSAGE_WINDOW_START": "00:00",
        "MESSAGE_WINDOW_END": "00:00",
        # Every test logs in through the form, all from 127.0.0.1: a module's tests (and the
        # lockout test's wrong passwords) exceed the default 20 a minute.
        "LOGIN_RATE_LIMIT_PER_MINUTE": "600",
    }
    try:
        with settings_env(env):
            server, thread, url = _serve(app)
            try:
                httpx.post(
                    f"{sandbox.url}/_sandbox/webhooks",
                    json={"vendor": "vapi", "url": f"{url}/webhooks/vapi", "delay_seconds": 0.2},
                ).raise_for_status()
                admin, viewer, driver_id, trip_id = _seed(sandbox)
                yield ConsoleStack(url, sandbox, admin, viewer, driver_id, trip_id)
            finally:
                server.should_exit = True
                thread.join(timeout=5)
                sandbox.reset()
    finally:
        with engine.begin() as conn:
            for table in reversed(SQLModel.metadata.sorted_tables):
                if table.name not in REFERENCE_TABLES:
                    conn.execute(table.delete())


@pytest.fixture
def page(chromium, console_stack, request) -> Iterator:
    """A fresh browser context; every request it makes is recorded and must stay on 127.0.0.1,
    and a screenshot named after the test is saved in tmp/artifacts."""
    context = chromium.new_context(
        viewport={"width": 1400, "height": 900},
        base_url=console_stack.url,
        timezone_id="America/Chicago",
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    seen: list[str] = []
    blocked: list[str] = []
    tab.on("request", lambda r: seen.append(r.url))
    # The console runs under a strict CSP: anything it refuses is a console error, and a bug.
    tab.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not blocked, f"the CSP refused: {blocked}"
    foreign = [
        url
        for url in seen
        if urlsplit(url).hostname != "127.0.0.1" and not url.startswith(("blob:", "data:"))
    ]
    assert not foreign, f"requests left 127.0.0.1: {foreign}"
