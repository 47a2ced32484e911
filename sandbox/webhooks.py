"""Outbound webhooks from the VAPI, ElevenLabs and Twilio fakes: where they go, when, and what
happened.

A call's events are delivered in order, `delay` seconds apart, each built just before it is sent
(so it reflects the call's state) and signed by the vendor's module. One timeline thread holds
every call's next step and hands due ones to a small pool; placing a call starts no thread
(a thread per call cost its create ~40 ms of the event loop, the sandbox's own ceiling). The
target comes from `SANDBOX_WEBHOOK_URL_VAPI` / `_ELEVENLABS` / `_TWILIO` (Twilio's: where inbound
texts go; status callbacks go to each message's `StatusCallback`; delay from
`SANDBOX_WEBHOOK_DELAY_SECONDS`) or from `POST /_sandbox/webhooks`. Without a URL the call still
progresses (so polling works); nothing is posted. Twilio's are form-encoded, the others JSON; the
signer sees the URL actually posted to (Twilio signs the URL with the parameters).
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter
from pydantic import BaseModel, Field

from sandbox.credentials import ELEVENLABS_WEBHOOK_SECRET, TWILIO_AUTH_TOKEN, VAPI_WEBHOOK_SECRET

control_router = APIRouter(prefix="/_sandbox/webhooks", tags=["sandbox"])

WebhookVendor = Literal["vapi", "elevenlabs", "twilio"]
VENDORS = ("vapi", "elevenlabs", "twilio")
FORM_VENDORS = frozenset({"twilio"})
DEFAULT_DELAY_SECONDS = 1.0
_DEFAULT_SECRETS = {
    "vapi": VAPI_WEBHOOK_SECRET,
    "elevenlabs": ELEVENLABS_WEBHOOK_SECRET,
    "twilio": TWILIO_AUTH_TOKEN,
}

# A step returns (event type, payload) to send now, or None to skip; it may update call state.
Step = Callable[[], tuple[str, dict[str, Any]] | None]
Signer = Callable[[bytes, "WebhookTarget"], dict[str, str]]


@dataclass
class WebhookTarget:
    url: str | None
    delay: float
    secret: str
    vapi_auth: Literal["secret", "hmac"] = "secret"


def _env_delay() -> float:
    try:
        return float(os.environ.get("SANDBOX_WEBHOOK_DELAY_SECONDS", DEFAULT_DELAY_SECONDS))
    except ValueError:
        return DEFAULT_DELAY_SECONDS


class Timeline:
    """Runs each job at its time on a small pool, from one thread that sleeps until the next."""

    def __init__(self, workers: int = 16) -> None:
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox-webhooks")
        self._thread: threading.Thread | None = None

    def at(self, when: float, job: Callable[[], None]) -> None:
        """Run `job` at `when` (`time.monotonic()`), after every job due earlier."""
        with self._wake:
            heapq.heappush(self._due, (when, next(self._order), job))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sandbox-webhook-timeline", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    self._wake.wait(timeout=wait)
                _, _, job = heapq.heappop(self._due)
            try:
                self._pool.submit(job)
            except RuntimeError:
                return  # the interpreter is shutting down: nothing is left to report to


class WebhookDispatcher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.targets: dict[str, WebhookTarget] = {}
        self.deliveries: list[dict[str, Any]] = []
        self._generation = 0
        self._timeline = Timeline()
        self._http = httpx.Client(timeout=10.0)
        self.reset()

    def reset(self) -> None:
        """Back to the environment's configuration, with the delivery log emptied."""
        vapi_auth = os.environ.get("SANDBOX_VAPI_WEBHOOK_AUTH", "secret")
        with self._lock:
            self.targets = {
                vendor: WebhookTarget(
                    url=os.environ.get(f"SANDBOX_WEBHOOK_URL_{vendor.upper()}") or None,
                    delay=_env_delay(),
                    secret=_DEFAULT_SECRETS[vendor],
                    vapi_auth="hmac" if vapi_auth == "hmac" else "secret",
                )
                for vendor in VENDORS
            }
            self.deliveries.clear()
            # Calls scheduled before a reset stop instead of reporting into the next test.
            self._generation += 1

    def configure(self, vendor: str, **changes: Any) -> WebhookTarget:
        with self._lock:
            target = self.targets[vendor]
            for name, value in changes.items():
                setattr(target, name, value)
            return WebhookTarget(**asdict(target))

    def target(self, vendor: str) -> WebhookTarget:
        with self._lock:
            return WebhookTarget(**asdict(self.targets[vendor]))

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.deliveries)

    def schedule(
        self, vendor: str, steps: list[Step], sign: Signer, *, url_override: str | None = None
    ) -> None:
        """Run `steps` in order, `delay` apart, posting each payload to the vendor's URL."""
        # The target is fixed when the call is placed, as the vendor reads it from the call.
        target = self.target(vendor)
        url = url_override or target.url
        generation = self._generation
        remaining = iter(steps)

        def next_step() -> None:
            if generation != self._generation:
                return
            step = next(remaining, None)
            if step is None:
                return
            try:
                produced = step()
            except KeyError:
                return  # the fake was reset under this call: nothing left to report
            if produced is not None and url:
                event_type, payload = produced
                self._deliver(
                    self._http, vendor, url, event_type, payload, sign, target, generation
                )
            # The call's next event waits for this one: its events stay in order.
            self._timeline.at(time.monotonic() + target.delay, next_step)

        self._timeline.at(time.monotonic() + target.delay, next_step)

    def _deliver(
        self,
        http: httpx.Client,
        vendor: str,
        url: str,
        event_type: str,
        payload: dict[str, Any],
        sign: Signer,
        target: WebhookTarget,
        generation: int,
    ) -> None:
        if vendor in FORM_VENDORS:
            body = urlencode(payload).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(payload, separators=(",", ":")).encode()
            content_type = "application/json"
        headers = {"Content-Type": content_type, **sign(body, replace(target, url=url))}
        entry: dict[str, Any] = {
            "vendor": vendor,
            "type": event_type,
            "url": url,
            "time": time.time(),
        }
        try:
            response = http.post(url, content=body, headers=headers)
            entry["status"] = response.status_code
        except httpx.HTTPError as exc:
            entry["error"] = type(exc).__name__
        with self._lock:
            # A delivery in flight across a reset belongs to the previous test: not logged.
            if generation == self._generation:
                self.deliveries.append(entry)


dispatcher = WebhookDispatcher()


class WebhookConfig(BaseModel):
    vendor: WebhookVendor
    url: str | None = None
    delay_seconds: float | None = Field(default=None, ge=0, le=60)
    secret: str | None = None
    vapi_auth: Literal["secret", "hmac"] | None = None


@control_router.post("")
def configure_webhooks(config: WebhookConfig) -> dict[str, Any]:
    """Point a fake's webhooks at a URL (null stops delivery), and set delay, secret, scheme."""
    changes: dict[str, Any] = {"url": config.url}
    if config.delay_seconds is not None:
        changes["delay"] = config.delay_seconds
    if config.secret:
        changes["secret"] = config.secret
    if config.vapi_auth:
        changes["vapi_auth"] = config.vapi_auth
    target = dispatcher.configure(config.vendor, **changes)
    return {"vendor": config.vendor, **_public(target)}


@control_router.get("")
def webhook_status() -> dict[str, Any]:
    """Current targets and the log of deliveries (status code or network error per event)."""
    return {
        "targets": {v: _public(dispatcher.target(v)) for v in VENDORS},
        "deliveries": dispatcher.log(),
    }


@control_router.delete("")
def reset_webhooks() -> dict[str, bool]:
    """Back to the environment's targets; the delivery log is emptied."""
    dispatcher.reset()
    return {"ok": True}


def _public(target: WebhookTarget) -> dict[str, Any]:
    return {"url": target.url, "delay_seconds": target.delay, "vapi_auth": target.vapi_auth}
