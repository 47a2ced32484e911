"""Shared pieces for call tests: sandbox-backed settings, a webhook capture, signed deliveries,
and an alert already posted to the sandbox's Slack (so replies have a thread)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
from sqlmodel import Session

from config import Settings, get_settings
from db.database import session_scope
from helpers.time_utils import utc_now
from models.alert import Alert, AlertStatus
from models.call import Call
from sandbox.credentials import ELEVENLABS_WEBHOOK_SECRET, VAPI_WEBHOOK_SECRET
from services.vendor_deps import current_settings
from tests.factories import _flushed, _n, make_driver
from tests.factories_auth import bearer_for, make_user
from tests.factories_calls import make_agent_profile
from tests.fixtures_sandbox import KEEP_ALIVE_SECONDS
from utils.elevenlabs_client import sign_elevenlabs_payload
from utils.slack_client import build_slack_client
from utils.vapi_client import sign_vapi_hmac


def sandbox_settings(sandbox, **overrides: Any) -> Settings:
    return Settings(**{**sandbox.settings_env(), **overrides})


def route_webhooks(sandbox, url: str | None, *, vendors=("vapi", "elevenlabs"), delay=0.05):
    with httpx.Client(base_url=sandbox.url) as http:
        for vendor in vendors:
            http.post(
                "/_sandbox/webhooks",
                json={"vendor": vendor, "url": url, "delay_seconds": delay},
            ).raise_for_status()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(step)
    return None


def reconcile_until_filled(providers, count: int, *, late: datetime) -> bool:
    """Reconcile as at `late` until `count` calls were filled from polling (each pass fills
    the calls the sandbox has played through; they may finish apart, slowly on a loaded
    machine); False after 30 s."""
    from logic.calls.reconcile import reconcile_calls

    filled = 0

    def all_filled() -> bool:
        nonlocal filled
        filled += reconcile_calls(providers, after_minutes=5, now=late).filled
        return filled >= count

    return bool(wait_for(all_filled, timeout=30, step=0.3))


def vapi_headers(body: bytes, *, hmac: bool = False, secret: str = VAPI_WEBHOOK_SECRET) -> dict:
    if hmac:
        ts = str(int(time.time() * 1000))
        return {"x-signature": sign_vapi_hmac(secret, ts, body), "x-timestamp": ts}
    return {"X-Vapi-Secret": secret}


def elevenlabs_headers(
    body: bytes, *, at: int | None = None, secret: str = ELEVENLABS_WEBHOOK_SECRET
) -> dict:
    stamp = int(time.time()) if at is None else at
    return {"ElevenLabs-Signature": sign_elevenlabs_payload(secret, stamp, body)}


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def posted_alert(session: Session, sandbox, *, driver_id: int | None = None) -> Alert:
    """An open alert whose message is already in the sandbox Slack channel."""
    slack = build_slack_client(sandbox_settings(sandbox))
    message = slack.post_message("#fleet-alerts", "Load running late")
    now = utc_now()
    n = _n()
    return _flushed(
        session,
        Alert(
            type="late_for_appointment",
            status=AlertStatus.OPEN,
            fingerprint=f"late_for_appointment:trip:{n}",
            driver_id=driver_id,
            title="Load running late",
            first_seen_at=now,
            last_seen_at=now,
            notified_at=now,
            slack_channel=message.channel,
            slack_ts=message.ts,
            created_at=now,
            updated_at=now,
        ),
    )


def thread_replies(sandbox, ts: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=sandbox.url) as http:
        messages = http.get("/_sandbox/slack/messages", params={"thread_ts": ts}).json()
    return [m for m in messages["messages"] if m.get("thread_ts") == ts and m["ts"] != ts]


def serve_main_app() -> tuple[str, Callable[[], None]]:
    """The main API under uvicorn on a free port (committed data only); returns (url, stop)."""
    import socket
    import threading

    import uvicorn

    from main import app as main_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            main_app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "API did not start"
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=5)

    return f"http://127.0.0.1:{port}", stop


@contextmanager
def live_api(sandbox, vendor: str, **overrides: Any) -> Iterator[str]:
    """The main API over HTTP on sandbox settings (calling window always open, `overrides`
    on top) with `vendor`'s webhooks routed to it; yields its URL."""
    from main import app as main_app

    settings = sandbox_settings(
        sandbox, CALL_WINDOW_START="00:00", CALL_WINDOW_END="00:00", **overrides
    )
    main_app.dependency_overrides[current_settings] = lambda: settings
    url, stop = serve_main_app()
    try:
        route_webhooks(sandbox, f"{url}/webhooks/{vendor}", vendors=(vendor,), delay=0.05)
        yield url
    finally:
        stop()
        main_app.dependency_overrides.pop(current_settings, None)
        main_app.dependency_overrides.pop(get_settings, None)


def place_alert_call(
    url: str, sandbox, phone: str, provider: str, **profile: Any
) -> tuple[int, str]:
    """A dispatcher calls a new driver at `phone` about an alert posted to Slack, through a
    new late-load profile of `provider` (`profile` fields on top): (call id, thread ts)."""
    with session_scope() as session:
        headers = bearer_for(session, make_user(session, roles=["dispatcher"]))
        make_agent_profile(session, provider=provider, purpose="late_load_check", **profile)
        driver = make_driver(session, phone=phone)
        alert = posted_alert(session, sandbox, driver_id=driver.id)
        driver_id, alert_id, thread = driver.id, alert.id, alert.slack_ts
    with httpx.Client(base_url=url, headers=headers, timeout=15) as api:
        placed = api.post(
            "/calls", json={"driver_id": driver_id, "provider": provider, "alert_id": alert_id}
        )
        assert placed.status_code == 201, placed.text
    return placed.json()["id"], thread


def finalized_call(call_id: int) -> Call | None:
    """The call once the hub has finished it (insights and Slack reply queued), else None."""
    with session_scope() as session:
        call = session.get(Call, call_id)
        return call if call.finalized_at is not None else None
