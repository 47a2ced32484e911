"""Real server processes for the production tests: start a command, wait for a URL, stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = str(Path(sys.executable).parent)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env(**overrides: str) -> dict[str, str]:
    """The test process's environment minus database selection, `python` on the venv first."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TEST_DATABASE_URL", "DATABASE_URL", "PYTEST_XDIST_WORKER")
    }
    env.update({"PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", "LOG_FORMAT": "text"})
    env.update(overrides)
    return env


def start(
    command: Sequence[str], env: dict[str, str], cwd: Path = ROOT, as_user: str | None = None
) -> subprocess.Popen[str]:
    """Run `command` (as `as_user` via setpriv when given), output captured for failures."""
    prefix = []
    if as_user is not None:
        prefix = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups", "--"]
    return subprocess.Popen(
        [*prefix, *command], cwd=cwd, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def wait_until_up(process: subprocess.Popen[str], url: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited {process.returncode}:\n{process.stdout.read()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop(process)
    raise AssertionError(f"{url} never answered:\n{process.stdout.read()}")


def stop(process: subprocess.Popen[str], timeout: float = 15.0) -> str:
    """SIGTERM, wait, kill if needed; returns the process output."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.stdout.read() if process.stdout else ""
