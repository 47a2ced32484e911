"""Sandbox fixtures: the fake vendors served over real HTTP on a free local port.

`sandbox` (session) runs `sandbox.app:create_sandbox_app()` under uvicorn in a thread, and the
sandbox SMTP server on another free port;
`sandbox_clean` (function) resets faults, recorded requests and fake state around one test.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
import uvicorn

from config import get_settings
from sandbox.app import create_sandbox_app
from sandbox.credentials import sandbox_settings_env
from sandbox.mail import start_smtp


class SandboxServer:
    """Handle on a running sandbox: URLs, faults, recorded requests, clock and fleet controls."""

    def __init__(self, url: str, app: Any, smtp_port: int | None = None) -> None:
        self.url = url
        self.app = app
        self.smtp_port = smtp_port
        self._http = httpx.Client(base_url=url, timeout=10.0)

    @property
    def state(self):
        return self.app.state.sandbox

    @property
    def simulator(self):
        return self.state.simulator

    def vendor_url(self, vendor: str) -> str:
        return f"{self.url}/slack/api/" if vendor == "slack" else f"{self.url}/{vendor}"

    def settings_env(self) -> dict[str, str]:
        return sandbox_settings_env(self.url, self.smtp_port)

    def mail(self, to: str | None = None) -> list[dict[str, Any]]:
        """Messages the sandbox SMTP server received, oldest first."""
        params = {"to": to} if to else {}
        response = self._http.get("/_sandbox/mail/messages", params=params)
        return response.raise_for_status().json()["messages"]

    def mail_outage(self, count: int) -> None:
        self._http.post("/_sandbox/mail/outage", json={"count": count}).raise_for_status()

    def fault(self, vendor: str, kind: str, count: int = 1, **params: Any) -> None:
        response = self._http.post(
            "/_sandbox/faults", json={"vendor": vendor, "kind": kind, "count": count, **params}
        )
        response.raise_for_status()

    def faults(self) -> list[dict[str, Any]]:
        return self._http.get("/_sandbox/faults").raise_for_status().json()

    def requests(self, vendor: str | None = None) -> list[dict[str, Any]]:
        """Recorded requests (method, path, query, headers, body, json), oldest first."""
        params = {"vendor": vendor} if vendor else {}
        return self._http.get("/_sandbox/requests", params=params).raise_for_status().json()

    def freeze_clock(self, at: datetime) -> None:
        self._http.post("/_sandbox/clock", json={"now": at.isoformat()}).raise_for_status()

    def advance_clock(self, seconds: float) -> None:
        self._http.post("/_sandbox/clock", json={"advance_seconds": seconds}).raise_for_status()

    def rebuild_fleet(self, **params: Any) -> dict[str, Any]:
        body = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in params.items()}
        return self._http.post("/_sandbox/fleet", json=body).raise_for_status().json()

    def reset(self) -> None:
        self._http.post("/_sandbox/reset").raise_for_status()

    def close(self) -> None:
        self._http.close()


@contextmanager
def settings_env(env: dict[str, str]) -> Iterator[None]:
    """`env` in os.environ and the settings rebuilt from it; both restored afterwards."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


# Test servers keep an idle connection longer than httpx's pool does (5 s): with uvicorn's
# default (also 5 s) a client could reuse a connection the server was closing at that instant
# ("Connection reset by peer" in a fixture's teardown, seen under a loaded CI run).
KEEP_ALIVE_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    app = create_sandbox_app()
    port = _free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="sandbox-uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(f"{url}/_sandbox/faults", timeout=0.5).raise_for_status()
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the sandbox did not start") from None
            time.sleep(0.02)
    smtp_port = _free_port()
    smtp = start_smtp(smtp_port)
    handle = SandboxServer(url, app, smtp_port)
    yield handle
    handle.close()
    smtp.stop()
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def sandbox_clean(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    sandbox.reset()
    yield sandbox
    sandbox.reset()
