"""A laptop stand-in for Cloud Scheduler: calls the ingest (and alert) endpoints on a cadence.

It only speaks HTTP with the service API key, exactly as Cloud Scheduler does in production, so a
local run exercises the same path. Ingest calls ask for `?background=true` (a 202 with the run
id); a 409 means that entity is still running from the last tick, which is fine. An endpoint
that does not exist yet (404, e.g. alert evaluation before that feature lands) is disabled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)

MINUTE = 60.0


@dataclass
class ScheduledCall:
    name: str
    target: str  # "ingest" or "main": which app's base URL
    path: str
    every_seconds: float
    next_due: float = 0.0
    enabled: bool = True


def default_schedule() -> list[ScheduledCall]:
    """The documented cadence (README, "Scheduled ingest"); reference data first on start."""
    ingest = [
        ("samsara/vehicles", 60 * MINUTE),
        ("samsara/drivers", 60 * MINUTE),
        ("samsara/addresses", 60 * MINUTE),
        ("ditat/drivers", 60 * MINUTE),
        ("ditat/trucks", 60 * MINUTE),
        ("ditat/trailers", 60 * MINUTE),
        ("samsara/locations", 1 * MINUTE),
        ("samsara/hos-clocks", 5 * MINUTE),
        ("samsara/hos-logs", 15 * MINUTE),
        ("samsara/hos-violations", 15 * MINUTE),
        ("samsara/safety-events", 10 * MINUTE),
        ("ditat/trips", 5 * MINUTE),
    ]
    calls = [
        ScheduledCall(name, "ingest", f"/ingest/{name}?background=true", every)
        for name, every in ingest
    ]
    calls.append(ScheduledCall("alerts/evaluate", "main", "/alerts/evaluate", 2 * MINUTE))
    # Customer notices (ETA moves, arrivals, detention…) over every active trip, then emailed.
    calls.append(ScheduledCall("customer-notices/run", "main", "/customer-notices/run", 2 * MINUTE))
    # Morning reports at each terminal's local send time, yesterday's driver reports rebuilt
    # nightly, and the report outbox drained (logic/reports/jobs.py: tick).
    calls.append(ScheduledCall("reports/tick", "main", "/reports/tick", 5 * MINUTE))
    # Fills AI calls whose final webhook was lost (neither call vendor retries by default).
    calls.append(ScheduledCall("calls/reconcile", "main", "/calls/reconcile", 1 * MINUTE))
    calls.append(ScheduledCall("campaigns/tick", "main", "/campaigns/tick", 1 * MINUTE))
    # Sends due driver messages, applies pending Twilio events, polls in-cab replies and reads.
    calls.append(ScheduledCall("messages/tick", "main", "/messages/tick", 1 * MINUTE))
    return calls


@dataclass
class CallOutcome:
    name: str
    status: int | None
    detail: str


class Scheduler:
    """Fires due calls; `tick()` is one pass, `run_forever()` the loop `cli.py scheduler` runs."""

    def __init__(
        self,
        *,
        ingest: httpx.Client,
        main: httpx.Client,
        api_key: str,
        schedule: list[ScheduledCall] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = {"ingest": ingest, "main": main}
        self._headers = {"X-API-Key": api_key}
        self.schedule = schedule if schedule is not None else default_schedule()
        self._clock = clock

    def tick(self) -> list[CallOutcome]:
        now = self._clock()
        outcomes = []
        for call in self.schedule:
            if call.enabled and now >= call.next_due:
                outcomes.append(self.fire(call))
                call.next_due = now + call.every_seconds
        return outcomes

    def fire(self, call: ScheduledCall) -> CallOutcome:
        try:
            response = self._clients[call.target].post(call.path, headers=self._headers)
        except httpx.HTTPError as exc:
            log.warning("scheduler: %s unreachable: %s", call.name, type(exc).__name__)
            return CallOutcome(call.name, None, f"unreachable: {type(exc).__name__}")
        detail = _detail(response)
        if response.status_code == 404 and call.target == "main":
            call.enabled = False
            log.info("scheduler: %s does not exist on the main app; disabled", call.name)
        elif response.status_code == 409:
            log.info("scheduler: %s still running: %s", call.name, detail)
        elif response.status_code >= 400:
            log.warning("scheduler: %s → %s %s", call.name, response.status_code, detail)
        return CallOutcome(call.name, response.status_code, detail)

    def seconds_until_next(self) -> float:
        due = [c.next_due for c in self.schedule if c.enabled]
        return max(min(due) - self._clock(), 0.0) if due else MINUTE

    def run_forever(
        self,
        stop: threading.Event,
        on_outcome: Callable[[CallOutcome], None] | None = None,
    ) -> None:
        while not stop.is_set():
            for outcome in self.tick():
                if on_outcome is not None:
                    on_outcome(outcome)
            stop.wait(min(self.seconds_until_next(), 5.0))


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        if "run_id" in body:
            return f"run {body['run_id']} {body.get('status', '')}".strip()
        if "detail" in body:
            return str(body["detail"])[:200]
    return str(body)[:200]
