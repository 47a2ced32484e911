"""Thread-pool / connection-pool deadlock benchmark (FastAPI #3205) on PostgreSQL.

Drives 128 and 300 concurrent clients for 10 s each at a sync, DB-backed endpoint with a
response model, once through the project's app factory (admission control) and once through a
plain FastAPI app over the same pool, and prints req/s, p50/p99, status counts and pool
timeouts. Usage: .venv/bin/python bench/deadlock_bench.py [--seconds 10] [--skip-naive]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from bench.loadgen import drive  # noqa: E402

BENCH_DB = "fleet_hub_bench"
DB_URL = f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}"


def ensure_database() -> None:
    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,))
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{BENCH_DB}"')
    conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(factory: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        f"bench.deadlock_app:{factory}",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    log = log_path.open("wb")
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/probe/1", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{factory} server did not start; see {log_path}")


def pool_timeouts(log_path: Path) -> int:
    text = log_path.read_text(errors="replace")
    return text.count("QueuePool limit") + text.count("TimeoutError")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    ensure_database()
    factories = ["admitted"] if args.skip_naive else ["admitted", "naive"]
    print(f"PostgreSQL pool 10 + 20, one uvicorn worker, {args.seconds:.0f} s per run")
    print(
        f"{'app':<9} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'pool timeouts':>13}  statuses"
    )
    for factory in factories:
        for clients in (128, 300):
            port = free_port()
            log_path = Path(tempfile.gettempdir()) / f"deadlock-bench-{factory}-{clients}.log"
            server = start_server(factory, port, log_path)
            try:
                paths = [f"/probe/{i}" for i in range(1, 101)]
                result = asyncio.run(
                    drive(port, paths, clients=clients, seconds=args.seconds, timeout=15)
                )
            finally:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()  # a deadlocked server does not finish its requests
                    server.wait()
            print(
                f"{factory:<9} {clients:>7} {result.rps:>8.0f} {result.p50_ms:>8.1f} "
                f"{result.p99_ms:>8.1f} {pool_timeouts(log_path):>13}  {dict(result.statuses)}"
            )


if __name__ == "__main__":
    main()
