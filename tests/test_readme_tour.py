"""The README's "A first tour", pasted block by block against a live stack: the sandbox, the
seed `make run` does, and the main API, each its own process on free ports, on a fresh embedded
SQLite database (the first-run default). The blocks run as written, only the ports rewritten.

SQLite only: a live stack commits, and the PostgreSQL test database belongs to the suite's
rolled-back tests; the tour's path through the hub is the same on both.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.credentials import sandbox_settings_env

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
TOUR = README.split("## A first tour", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```sh\n(.*?)```", TOUR, re.S)
HUB = ROOT / ".venv" / "bin" / "hub"

pytestmark = [
    pytest.mark.skipif(
        not HUB.exists() or shutil.which("curl") is None or shutil.which("bash") is None,
        reason="needs .venv/bin/hub (make run), curl and bash",
    ),
    pytest.mark.skipif(
        bool(os.environ.get("TEST_DATABASE_URL")),
        reason="runs once, in the SQLite pass: the stack brings its own database",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{url}: the process exited ({process.returncode})"
        try:
            if httpx.get(url, timeout=0.5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.ports = {"8000": _free_port(), "8001": _free_port(), "8090": _free_port()}
        self.smtp = _free_port()
        sandbox_url = f"http://127.0.0.1:{self.ports['8090']}"
        main_url = f"http://127.0.0.1:{self.ports['8000']}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "TEST_"))}
        env |= sandbox_settings_env(sandbox_url, self.smtp) | {
            # Empty values win over a developer's .env: this stack is SQLite under tmp.
            "DATABASE_URL": "",
            "DB_HOST": "",
            "INSTANCE_UNIX_SOCKET": "",
            "SQLITE_PATH": str(tmp / "fleet_hub.db"),
            "ENVIRONMENT": "development",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "SERVICE_API_KEY": secrets.token_urlsafe(32),
            "MAIN_API_BASE_URL": main_url,
            "INGEST_BASE_URL": f"http://127.0.0.1:{self.ports['8001']}",
            "SANDBOX_SLACK_INTERACTIONS_URL": main_url,
            "SANDBOX_WEBHOOK_URL_VAPI": f"{main_url}/webhooks/vapi",
            "SANDBOX_WEBHOOK_URL_ELEVENLABS": f"{main_url}/webhooks/elevenlabs",
            "CALL_WINDOW_START": "00:00",
            "CALL_WINDOW_END": "00:00",
            "LOG_FORMAT": "text",
        }
        self.env = env
        self.processes: list[subprocess.Popen] = []

    def spawn(self, *args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def start(self) -> None:
        """What `make run` does, in its order: the database and the demo admin, the sandbox
        (beside them), the seed, the main API (beside the seed), a first evaluation pass."""
        sandbox = self.spawn(
            "cli.py", "sandbox", "--port", str(self.ports["8090"]), "--smtp-port", str(self.smtp)
        )
        admin = self._cli("seed-admin")
        _wait(f"http://127.0.0.1:{self.ports['8090']}/_sandbox/faults", sandbox)
        uvicorn = ["-m", "uvicorn", "--host", "127.0.0.1", "--no-access-log"]
        main = self.spawn(*uvicorn, "main:app", "--port", str(self.ports["8000"]))
        seed = self._cli("seed-demo")
        assert "morning report" in seed.stderr + seed.stdout, admin.stdout + seed.stderr
        _wait(f"http://127.0.0.1:{self.ports['8000']}/health", main)
        # What the local scheduler does within the first minute: an evaluation pass.
        evaluated = httpx.post(
            f"http://127.0.0.1:{self.ports['8000']}/alerts/evaluate",
            headers={"X-API-Key": self.env["SERVICE_API_KEY"]},
            timeout=60,
        )
        assert evaluated.status_code == 200, evaluated.text

    def _cli(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "cli.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, f"hub {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    def run(self, blocks: list[str]) -> tuple[list[str], subprocess.CompletedProcess]:
        """The blocks pasted one after the other into one terminal; each block's output."""
        script = "set -eu\n"  # as typed: a pipe into `head` is not a failure
        for i, block in enumerate(blocks):
            for port, real in self.ports.items():
                block = block.replace(f"localhost:{port}", f"localhost:{real}")
            script += f"echo '::block {i}::'\n{block}\n"
        result = subprocess.run(
            [shutil.which("bash") or "bash", "-c", script],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return re.split(r"::block \d+::\n", result.stdout)[1:], result


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("tour"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def test_the_first_tour_works_when_pasted(stack):
    assert len(BLOCKS) >= 5, "the tour's shell blocks"
    outputs, result = stack.run(BLOCKS)
    failed = BLOCKS[len(outputs) - 1] if outputs else BLOCKS[0]
    assert result.returncode == 0, f"{failed}\n--- stdout\n{result.stdout}\n--- {result.stderr}"
    assert len(outputs) == len(BLOCKS)
    slack, login, dispatcher, press, report = outputs[:5]
    assert '"channel_name": "fleet-alerts"' in slack  # alerts in the fake Slack
    assert '"username":"admin"' in login  # /auth/me with $T
    assert dispatcher.strip().endswith("403")  # the dispatcher is refused an admin route
    assert '"ok":true' in press.replace(" ", "")  # the Slack button press
    # The morning report: in the sandbox Slack, through the API, and in the sandbox mailbox.
    assert "Fleet morning report" in report.splitlines()[0]
    assert "Fleet morning report" in report.splitlines()[-1]
    # The detained truck: where it is held, and the detention report's CSV.
    at_stop, header = outputs[5].splitlines()[:2]
    assert at_stop.startswith("at ") and ", detained " in at_stop
    assert header.startswith("visit_id,load_number,customer,facility")
