"""What the benchmarks share: `--smoke` arguments, a free port, a uvicorn server started and
stopped, bulk COPY."""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def parse_args(
    parser: argparse.ArgumentParser, smoke: dict[str, Any], argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """The benchmark's arguments, plus `--smoke`: the tiny sizes in `smoke` (each unless given
    on the command line), a run of a few seconds that proves the benchmark still works; `make
    test` runs every benchmark so (tests/test_bench_smoke.py), its figures mean nothing."""
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, a few seconds: does it still run"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        for name, value in smoke.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    return args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_uvicorn(
    app: str,
    port: int,
    log_path: Path,
    *,
    workers: int = 1,
    factory: bool = False,
    env: dict[str, str] | None = None,
    ready_path: str = "/health/ready",
    timeout: float = 60.0,
) -> subprocess.Popen[bytes]:
    """Serve `app` (module:attr) on 127.0.0.1:`port` and wait until `ready_path` answers 200."""
    command = [
        sys.executable, "-m", "uvicorn", *(["--factory"] if factory else []), app,
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    log = log_path.open("wb")
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{app} did not start; see {log_path}")


def stop_server(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Terminate, and kill if it does not finish (a deadlocked server never drains)."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def copy_rows(
    cursor: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """COPY `rows` into `table` in chunks of 200k (memory stays flat); returns the row count."""
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    buffer, count = io.StringIO(), 0
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
        count += 1
        if count % 200_000 == 0:
            buffer.seek(0)
            cursor.copy_expert(statement, buffer)
            buffer = io.StringIO()
    buffer.seek(0)
    cursor.copy_expert(statement, buffer)
    return count
