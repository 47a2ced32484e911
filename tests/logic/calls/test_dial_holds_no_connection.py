"""No pooled connection and no row lock is held while a vendor is asked to dial: the sandbox
delays call creation and a sampler counts checked-out connections meanwhile (must be 0), for
`POST /calls` (answered `queued`, dialed after the commit) and for the campaign tick."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import time as dtime
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event, select

from config import get_settings
from db.database import session_scope
from helpers.time_utils import utc_now
from logic.calls.campaigns import tick
from logic.calls.dialing import Dialer
from logic.calls.placement import CallingPolicy
from models.call import Call, CallStatus
from services.vendor_deps import current_settings
from tests.calls_support import sandbox_settings, serve_main_app, wait_for
from tests.factories import make_driver
from tests.factories_auth import bearer_for, make_user
from tests.factories_calls import make_agent_profile, sandbox_providers
from tests.logic.campaigns.support import make_campaign

DELAY = 1.0
ALWAYS_OPEN = {"CALL_WINDOW_START": "00:00", "CALL_WINDOW_END": "00:00"}


class CheckoutSampler:
    """Checked-out connections over time, from the pool's own checkout/checkin events."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.out = 0
        self.samples: list[tuple[float, int]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def _checkout(self, *_args) -> None:
        with self._lock:
            self.out += 1

    def _checkin(self, *_args) -> None:
        with self._lock:
            self.out -= 1

    @contextmanager
    def running(self) -> Iterator[CheckoutSampler]:
        event.listen(self.engine.pool, "checkout", self._checkout)
        event.listen(self.engine.pool, "checkin", self._checkin)
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=5)
            event.remove(self.engine.pool, "checkout", self._checkout)
            event.remove(self.engine.pool, "checkin", self._checkin)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self.out))
            time.sleep(0.01)

    def during(self, start: float, end: float) -> list[int]:
        return [out for at, out in self.samples if start <= at <= end]


def _vendor_window(sandbox, vendor: str) -> list[tuple[float, float]]:
    """(start, end) of each create the sandbox held for `DELAY` (small margins)."""
    creates = [r for r in sandbox.requests(vendor) if r["method"] == "POST"]
    return [(r["time"] + 0.1, r["time"] + DELAY - 0.1) for r in creates]


@pytest.fixture
def live(committed_db, sandbox_clean):
    from main import app as main_app

    settings = sandbox_settings(sandbox_clean, **ALWAYS_OPEN)
    main_app.dependency_overrides[current_settings] = lambda: settings
    url, stop = serve_main_app()
    yield url, sandbox_clean
    stop()
    main_app.dependency_overrides.pop(get_settings, None)


def test_post_calls_answers_queued_and_dials_after_commit_holding_nothing(live, committed_db):
    url, sandbox = live
    with session_scope() as session:
        headers = bearer_for(session, make_user(session, roles=["dispatcher"]))
        make_agent_profile(session, provider="vapi")
        driver_id = make_driver(session).id
    sandbox.fault("vapi", "slow", count=1, delay=DELAY)

    with (
        CheckoutSampler(committed_db).running() as sampler,
        httpx.Client(base_url=url, headers=headers, timeout=15) as api,
    ):
        response = api.post("/calls", json={"driver_id": driver_id, "provider": "vapi"})
        answered_at = time.time()
        # No API traffic of our own while the vendor holds the create.
        time.sleep(DELAY + 0.3)
        call_id = response.json()["id"]
        dialing = wait_for(
            lambda: api.get(f"/calls/{call_id}").json()["status"] == "dialing", timeout=10
        )

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "queued" and dialing
    [(start, end)] = _vendor_window(sandbox, "vapi")
    # The answer went out while the vendor was still holding the create.
    assert answered_at < end
    held = sampler.during(start, end)
    assert held and max(held) == 0, held


def test_campaign_tick_dials_holding_no_connection(committed_db, sandbox_clean):
    """Three dials at once: each dialing thread holds no connection of its own while its vendor
    request is in flight (the others' short record transactions may overlap it)."""
    now = utc_now()
    with session_scope() as session:
        make_agent_profile(session, provider="vapi", purpose="hos_check")
        drivers = [make_driver(session, phone=f"+120155501{i:02d}") for i in range(3)]
        campaign = make_campaign(session, drivers=drivers, now=now, max_concurrency=3)
        campaign.window_start = campaign.window_end = "00:00"
    sandbox_clean.fault("vapi", "slow", count=3, delay=DELAY)
    providers = sandbox_providers(sandbox_clean)
    held: dict[int, int] = {}
    during: list[int] = []

    def count(n: int) -> None:
        key = threading.get_ident()
        held[key] = held.get(key, 0) + n

    vapi = providers.voice("vapi")
    real_dial = vapi.dial

    def dial(spec):
        during.append(held.get(threading.get_ident(), 0))
        try:
            return real_dial(spec)
        finally:
            during.append(held.get(threading.get_ident(), 0))

    vapi.dial = dial

    def checkout(*_args) -> None:
        count(1)

    def checkin(*_args) -> None:
        count(-1)

    event.listen(committed_db.pool, "checkout", checkout)
    event.listen(committed_db.pool, "checkin", checkin)
    try:
        result = tick(
            Dialer(providers, concurrency=3),
            policy=CallingPolicy(window_start=dtime(0), window_end=dtime(0)),
            now=now + timedelta(seconds=1),
        )
    finally:
        providers.close()
        event.remove(committed_db.pool, "checkout", checkout)
        event.remove(committed_db.pool, "checkin", checkin)

    assert result.placed == 3, result.as_dict()
    assert len(_vendor_window(sandbox_clean, "vapi")) == 3
    assert during == [0] * 6
    # Three dials at once: the dial phase took about one vendor delay, not three.
    assert result.timings_ms["place"] < 2 * DELAY * 1000
    with session_scope() as session:
        statuses = set(session.scalars(select(Call.status)))
    assert statuses == {CallStatus.DIALING}
