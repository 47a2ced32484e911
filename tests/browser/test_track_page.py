"""The public tracking page in headless Chromium, served by the live main app: readable at a
375 px phone and a 1400 px desktop (screenshots in tmp/artifacts), windows and ETAs in the
facility's time with the legal ETA's basis, no request leaving 127.0.0.1, and nothing about the
driver anywhere in the HTML or the JSON twin."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from sqlmodel import SQLModel

from db import database
from db.database import session_scope
from logic.auth.audit import ClientInfo
from logic.trips import sharing
from tests.browser.conftest import ARTIFACTS, REFERENCE_TABLES, _serve
from tests.factories import make_driver, make_load_mid_route
from tests.factories_auth import make_user

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

DRIVER = ("Zebulon", "Quarrington", "+19015550147")
# Everything about the driver and the exact position that must never reach the customer.
SECRETS = ("zebulon", "quarrington", "5550147", "35.1234", "90.6543", "riverside", "hos", "driver")


@dataclass
class TrackStack:
    url: str
    token: str


def _seed(now: datetime) -> str:
    """A load mid-route (committed): pickup left, a stop held past free time, the delivery ahead
    with a legal ETA that includes a 10-hour rest; a driver with a name and phone."""
    with session_scope() as session:
        driver = make_driver(session, first_name=DRIVER[0], last_name=DRIVER[1], phone=DRIVER[2])
        trip = make_load_mid_route(session, now=now, driver=driver, delivery=("Atlanta", "GA"))
        actor = make_user(session, username="track-dispatcher", roles=["dispatcher"])
        return sharing.create_share(session, trip, actor=actor, client=ClientInfo(), now=now).token


@pytest.fixture(scope="module")
def track_stack(engine) -> Iterator[TrackStack]:
    from main import app

    database.configure_sessions(None)  # the server reads what was committed
    server, thread, url = _serve(app)
    try:
        yield TrackStack(url, _seed(datetime.now(UTC)))
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        with engine.begin() as conn:
            for table in reversed(SQLModel.metadata.sorted_tables):
                if table.name not in REFERENCE_TABLES:
                    conn.execute(table.delete())


@pytest.mark.parametrize("width", [375, 1400])
def test_the_track_page_in_chromium(chromium, track_stack, width):
    context = chromium.new_context(
        viewport={"width": width, "height": 900}, base_url=track_stack.url
    )
    seen: list[str] = []
    try:
        tab = context.new_page()
        tab.on("request", lambda r: seen.append(r.url))
        response = tab.goto(f"/track/{track_stack.token}")
        assert response is not None and response.status == 200
        tab.get_by_role("heading", name="Load LD-4242").wait_for()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"track_page_{width}px.png"), full_page=True)

        text = tab.locator("main").inner_text()
        assert "Arrived, waiting to unload" in text  # the held stop
        assert "includes a required 10-hour rest" in text
        assert "Near: Memphis, TN" in text
        # Atlanta's window and ETA read in Eastern time, never in UTC.
        assert ("EST" in text or "EDT" in text) and "UTC" not in text
        # Readable on a phone: nothing wider than the viewport, no sideways scrolling.
        assert tab.evaluate("document.scrollingElement.scrollWidth") <= width

        html = tab.content().lower()
        data = tab.request.get(f"/track/{track_stack.token}.json")
        assert data.status == 200
        body = data.text().lower()
        for secret in SECRETS:
            assert secret not in html, secret
            assert secret not in body, secret
    finally:
        context.close()
    foreign = [u for u in seen if urlsplit(u).hostname != "127.0.0.1"]
    assert seen and not foreign, f"requests left 127.0.0.1: {foreign}"
