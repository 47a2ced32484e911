"""`make run`: the whole local stack in the foreground — vendor sandbox (with its SMTP server on
:8025), main API, ingest service and the local scheduler — with vendors and mail pointed at the
sandbox, stopped together on Ctrl-C."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from config import Settings

console = Console(stderr=True, soft_wrap=True)

SANDBOX_PORT = 8090
SANDBOX_SMTP_PORT = 8025
MAIN_PORT = 8000
INGEST_PORT = 8001
LOCAL_SECRETS = Path("data") / ".local-secrets"
# What the stack adds to the environment (sandbox URLs and credentials) and the database it runs
# on, so that commands run by hand (`hub ingest …`, `hub reset-password`) talk to the same stack;
# `local_stack_overrides` decides what they take.
LOCAL_STACK_ENV = Path("data") / ".local-stack.env"
SECRET_NAMES = ("SECRET_KEY", "SERVICE_API_KEY")
# The settings that choose the database (config.py): one set by hand wins over the stack's.
DATABASE_SETTINGS = (
    "DATABASE_URL", "DB_USER", "DB_PASS", "DB_HOST", "DB_PORT", "DB_NAME", "DB_SCHEMA",
    "INSTANCE_UNIX_SOCKET", "SQLITE_PATH",
)  # fmt: skip
SANDBOX_STATE_DIR = Path("data") / "sandbox"


@dataclass
class Process:
    name: str
    args: list[str]
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None


def local_environment(use_sandbox: bool = True) -> dict[str, str]:
    """Environment for every child: sandbox vendors and stable local secrets (kept under data/)."""
    env = dict(os.environ)
    for name, value in _local_secrets().items():
        env.setdefault(name, value)
    env.setdefault("INGEST_BASE_URL", f"http://127.0.0.1:{INGEST_PORT}")
    env.setdefault("MAIN_API_BASE_URL", f"http://127.0.0.1:{MAIN_PORT}")
    if use_sandbox:
        from sandbox.credentials import sandbox_settings_env

        env.update(sandbox_settings_env(f"http://127.0.0.1:{SANDBOX_PORT}", SANDBOX_SMTP_PORT))
        env.setdefault("SANDBOX_WEBHOOK_URL_VAPI", f"http://127.0.0.1:{MAIN_PORT}/webhooks/vapi")
        env.setdefault(
            "SANDBOX_WEBHOOK_URL_ELEVENLABS", f"http://127.0.0.1:{MAIN_PORT}/webhooks/elevenlabs"
        )
        env.setdefault("SANDBOX_SLACK_INTERACTIONS_URL", f"http://127.0.0.1:{MAIN_PORT}")
        # Texts from sandbox drivers and status callbacks come back to the main API, signed
        # for this URL.
        env.setdefault("TWILIO_WEBHOOK_BASE_URL", f"http://127.0.0.1:{MAIN_PORT}")
        env.setdefault(
            "SANDBOX_WEBHOOK_URL_TWILIO", f"http://127.0.0.1:{MAIN_PORT}/webhooks/twilio"
        )
        # The demo's voicemails name a callback number and urgent calls reach an on-call number.
        env.setdefault("CALL_CALLBACK_NUMBER", "+12015550100")
        env.setdefault("CALL_TRANSFER_NUMBER", "+12015550142")
        env.setdefault("MESSAGE_WINDOW_START", "00:00")
        env.setdefault("MESSAGE_WINDOW_END", "00:00")
        # Sandbox phones reach nobody: the demo may call drivers around the clock.
        env.setdefault("CALL_WINDOW_START", "00:00")
        env.setdefault("CALL_WINDOW_END", "00:00")
    return env


def _local_secrets() -> dict[str, str]:
    """Random development secrets, generated once so tokens survive restarts."""
    values = read_env_file(LOCAL_SECRETS)
    missing = [name for name in SECRET_NAMES if name not in values]
    if missing:
        values.update({name: secrets.token_urlsafe(48) for name in missing})
        _write_env_file(LOCAL_SECRETS, values)
    return values


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines of a file under data/ (empty when it does not exist)."""
    if not path.exists():
        return {}
    pairs = (line.partition("=") for line in path.read_text().splitlines() if "=" in line)
    return {name.strip(): value for name, _, value in pairs}


def _write_env_file(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)


def record_local_stack(env: dict[str, str] | None, database: dict[str, str]) -> None:
    """Write down the stack's database (`stack_database`) and what it adds to the user's
    environment (`env`: the children's; the sandbox vendors and local URLs, secrets aside;
    None for `--no-sandbox`, whose vendors come from the environment)."""
    added = {
        k: v
        for k, v in (env or {}).items()
        if os.environ.get(k) != v and k not in SECRET_NAMES and k not in DATABASE_SETTINGS
    }
    _write_env_file(LOCAL_STACK_ENV, {**added, **database})


def stack_database(settings: Settings) -> dict[str, str]:
    """The database settings the stack runs on, spelled so that any working directory and any
    environment reach the same database: a URL (an absolute SQLite path) and the schema."""
    from db.database import absolute_database_url

    url = absolute_database_url(settings)
    database = {"DATABASE_URL": url.render_as_string(hide_password=False)}
    if url.get_backend_name() == "postgresql":
        database["DB_SCHEMA"] = settings.DB_SCHEMA
    return database


def local_stack_overrides(
    environment: str,
    configured: set[str],
    stack: dict[str, str],
    local_secrets: dict[str, str],
) -> dict[str, str]:
    """What a hand-run command takes from the local stack's files under data/.

    Only in development. The stack's database comes when the environment (or `.env`) chooses
    none. The sandbox vendors come all together, and only when the environment configures none
    of their settings, so one real vendor is never mixed with the sandbox's others; each local
    secret fills its own setting when that one is unset.
    """
    if environment != "development":
        return {}
    out = {k: v for k, v in local_secrets.items() if k in SECRET_NAMES and k not in configured}
    database = {k: v for k, v in stack.items() if k in DATABASE_SETTINGS}
    vendors = {k: v for k, v in stack.items() if k not in DATABASE_SETTINGS}
    if not configured & set(vendors):
        out.update(vendors)
    if not configured & set(DATABASE_SETTINGS):
        out.update(database)
    return out


def app_command(app: str, port: int, host: str = "127.0.0.1") -> list[str]:
    """How every launcher starts an app (`main:app`, `ingest_app:app`) under uvicorn.

    `--no-proxy-headers`: uvicorn otherwise believes `X-Forwarded-For` from 127.0.0.1 (its default
    `--forwarded-allow-ips`), so on a local stack a caller could pick its own address and walk
    past the per-address login limit; only FORWARDED_HOPS (services/http/forwarded.py) names
    the client.
    """
    return [
        sys.executable, "-m", "uvicorn", app, "--host", host, "--port", str(port),
        "--no-proxy-headers", "--no-access-log",
    ]  # fmt: skip


def wait_for_port(
    port: int, timeout: float = 30.0, alive: Callable[[], bool] = lambda: True
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run_stack(use_sandbox: bool = True, seed_demo: bool = True) -> int:
    """Start everything, then supervise: if one process dies, stop the rest and exit non-zero."""
    python = sys.executable
    env = local_environment(use_sandbox)
    processes: list[Process] = []
    if use_sandbox:
        sandbox = [python, "cli.py", "sandbox", "--smtp-port", str(SANDBOX_SMTP_PORT)]
        # Kept beside the database, so a second run finds the Slack messages, calls and mail
        # the hub remembers (and the same fleet history), not a world that forgot them.
        sandbox += ["--state-dir", str(SANDBOX_STATE_DIR)]
        processes.append(Process("sandbox", sandbox, SANDBOX_PORT))
    processes += [
        Process("main API", app_command("main:app", MAIN_PORT), MAIN_PORT),
        Process("ingest", app_command("ingest_app:app", INGEST_PORT), INGEST_PORT),
        Process("scheduler", [python, "cli.py", "scheduler"]),
    ]
    busy = [p.port for p in processes if p.port and _port_in_use(p.port)]
    if busy:
        console.print(f"[red]error:[/red] port(s) {busy} already in use; is the stack running?")
        return 1
    from config import get_settings

    record_local_stack(env if use_sandbox else None, stack_database(get_settings()))

    steps = [
        ("database", [python, "cli.py", "init-db"]),
        ("demo admin", [python, "cli.py", "seed-admin"]),
    ]
    for label, args in steps:
        if subprocess.call(args, env=env) != 0:
            console.print(f"[red]error:[/red] {label} setup failed (see above)")
            return 1

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for process in processes:
            process.popen = subprocess.Popen(process.args, env=env)
            if process.port is not None:
                alive = lambda p=process: p.popen is not None and p.popen.poll() is None  # noqa: E731
                if not wait_for_port(process.port, alive=alive):
                    console.print(f"[red]error:[/red] {process.name} did not start")
                    return 1
            if process.name == "sandbox" and seed_demo:
                console.print("seeding the database from the sandbox…")
                subprocess.call([python, "cli.py", "seed-demo"], env=env)
        console.print(
            f"[green]up:[/green] main API http://127.0.0.1:{MAIN_PORT}/docs · "
            f"ingest http://127.0.0.1:{INGEST_PORT}/docs"
            + (f" · sandbox http://127.0.0.1:{SANDBOX_PORT}/docs" if use_sandbox else "")
            + " — Ctrl-C stops everything"
        )
        while not stopping:
            for process in processes:
                if process.popen is not None and process.popen.poll() is not None:
                    console.print(f"[red]{process.name} exited ({process.popen.returncode})[/red]")
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        _stop_all(processes)


def _stop_all(processes: list[Process]) -> None:
    for process in reversed(processes):
        if process.popen is not None and process.popen.poll() is None:
            process.popen.terminate()
    deadline = time.monotonic() + 10
    for process in processes:
        if process.popen is None:
            continue
        try:
            process.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.popen.kill()
    console.print("stopped")
