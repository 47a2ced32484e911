"""Dispatchers clicking at once beside the scheduler: 20 clients acknowledge, snooze, resolve
and patch rules for a few seconds while the scheduler's passes and a background writer commit,
against the app served over real HTTP. No request may fail with 503 `database_unavailable` (on
SQLite: a read-then-write transaction refused the lock upgrade) or 500.

On PostgreSQL the same run guards against deadlocks and lock timeouts between these writers."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

import httpx

from db.database import session_scope
from helpers.time_utils import utc_now
from tests.calls_support import serve_main_app
from tests.factories import make_location, make_vehicle
from tests.factories_auth import bearer_for, make_user
from tests.factories_reports import make_alert

CLIENTS = 20
POLLERS = 2  # consoles refreshing the alert list meanwhile
SECONDS = 4.0
ALERTS = 80
SERVICE = {"X-API-Key": "test-service-api-key"}
SCHEDULED = ["/alerts/evaluate?deliver=false", "/calls/reconcile", "/campaigns/tick"]


@dataclass
class Run:
    url: str
    until: float
    seen: Counter = field(default_factory=Counter)
    slowest: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)

    def count(self, what: str, response: httpx.Response) -> None:
        self.seen[(what, response.status_code)] += 1
        elapsed = response.elapsed.total_seconds()
        self.slowest[what] = max(self.slowest.get(what, 0.0), round(elapsed, 2))
        if response.status_code >= 500:
            self.failures.append((what, response.status_code, response.text[:200]))

    @property
    def going(self) -> bool:
        return time.monotonic() < self.until


def _seed(engine, url: str) -> tuple[list[dict[str, str]], list[int], list[int], int]:
    with session_scope(engine) as session:
        users = [make_user(session, superuser=True) for _ in range(5)]
        headers = [bearer_for(session, user) for user in users]
        start = utc_now() - timedelta(hours=2)
        alerts = [
            make_alert(session, first_seen_at=start + timedelta(seconds=i), title=f"A{i}").id
            for i in range(ALERTS)
        ]
        vehicle_id = make_vehicle(session).id
    with httpx.Client(base_url=url, headers=headers[0]) as http:
        rules = [
            http.post(
                "/alert-rules",
                json={"name": f"GPS {i}", "type": "gps_stale", "params": {"minutes": 10 + i}},
            ).json()["id"]
            for i in range(4)
        ]
    return headers, alerts, rules, vehicle_id


def _dispatcher(run: Run, headers: dict[str, str], alerts: list[int], rules: list[int]) -> None:
    rng = random.Random()
    with httpx.Client(base_url=run.url, headers=headers, timeout=60) as http:
        while run.going:
            alert = rng.choice(alerts)
            action = rng.choice(["ack", "snooze", "resolve", "rule"])
            if action == "ack":
                response = http.post(f"/alerts/{alert}/ack")
            elif action == "snooze":
                response = http.post(f"/alerts/{alert}/snooze", json={"minutes": 5})
            elif action == "resolve":
                response = http.post(f"/alerts/{alert}/resolve", json={"note": "done"})
            else:
                params = {"params": {"minutes": rng.randint(5, 60)}}
                response = http.patch(f"/alert-rules/{rng.choice(rules)}", json=params)
            run.count(action, response)


def _poller(run: Run, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=run.url, headers=headers, timeout=60) as http:
        while run.going:
            run.count("list", http.get("/alerts"))


def _scheduler(run: Run) -> None:
    with httpx.Client(base_url=run.url, headers=SERVICE, timeout=60) as http:
        while run.going:
            for path in SCHEDULED:
                run.count(path, http.post(path))


def _background_writer(run: Run, engine, vehicle_id: int) -> None:
    """What ingest's background runs do: short committed units of work (session_scope)."""
    vehicle = SimpleNamespace(id=vehicle_id)  # make_location only reads the id
    while run.going:
        try:
            with session_scope(engine) as session:
                for _ in range(20):
                    make_location(session, vehicle=vehicle, recorded_at=utc_now())
            run.seen[("ingest", "ok")] += 1
        except Exception as exc:  # counted and reported by the test
            run.failures.append(("ingest", type(exc).__name__, str(exc)[:200]))
        time.sleep(0.01)


def test_concurrent_dispatchers_beside_the_scheduler_never_see_503_or_500(committed_db):
    url, stop = serve_main_app()
    try:
        headers, alerts, rules, vehicle_id = _seed(committed_db, url)
        run = Run(url, until=time.monotonic() + SECONDS)
        workers = [
            (_dispatcher, (run, headers[i % len(headers)], alerts, rules)) for i in range(CLIENTS)
        ]
        workers += [(_poller, (run, headers[0]))] * POLLERS
        workers += [(_scheduler, (run,)), (_background_writer, (run, committed_db, vehicle_id))]
        threads = [threading.Thread(target=target, args=args) for target, args in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=SECONDS + 120)
    finally:
        stop()
    seen = run.seen
    requests = sum(n for (what, _), n in seen.items() if what != "ingest")
    print(f"{requests} requests, {seen[('ingest', 'ok')]} background commits: {dict(seen)}")
    print(f"slowest (s): {run.slowest}")
    assert not run.failures, f"{len(run.failures)} failures of {requests}: {run.failures[:5]}"
    # The run did what it claims: every kind of click and scheduled pass got through.
    for action in ("ack", "snooze", "resolve", "rule", "list", *SCHEDULED):
        assert any(what == action and status < 400 for what, status in seen), (action, seen)
    assert seen[("ingest", "ok")] > 0
