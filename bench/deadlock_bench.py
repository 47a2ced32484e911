"""Thread-pool / connection-pool deadlock benchmark (FastAPI #3205) on PostgreSQL.

Drives 128 and 300 concurrent clients for 10 s each at a sync, DB-backed endpoint with a
response model, once through the project's app factory (admission control) and once through a
plain FastAPI app over the same pool, and prints req/s, p50/p99, status counts and pool
timeouts. Usage: .venv/bin/python bench/deadlock_bench.py [--seconds 10] [--skip-naive]

`--smoke`: tiny sizes, a few seconds, only to prove it still runs (`make test` runs it so).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from bench.loadgen import drive  # noqa: E402
from bench.support import free_port, parse_args, start_uvicorn, stop_server  # noqa: E402
from db.database import create_database_if_missing  # noqa: E402

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fleet_hub_bench"
)
SERVER_ENV = {"DATABASE_URL": DB_URL, "ENVIRONMENT": "development", "LOG_LEVEL": "WARNING"}


def pool_timeouts(log_path: Path) -> int:
    text = log_path.read_text(errors="replace")
    return text.count("QueuePool limit") + text.count("TimeoutError")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--clients", type=int, nargs="+", default=[128, 300])
    args = parse_args(parser, smoke={"seconds": 1.0, "skip_naive": True, "clients": [8]})
    create_database_if_missing(DB_URL)
    factories = ["admitted"] if args.skip_naive else ["admitted", "naive"]
    print(f"PostgreSQL pool 10 + 20, one uvicorn worker, {args.seconds:.0f} s per run")
    print(
        f"{'app':<9} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'pool timeouts':>13}  statuses"
    )
    for factory in factories:
        for clients in args.clients:
            port = free_port()
            log_path = Path(tempfile.gettempdir()) / f"deadlock-bench-{factory}-{clients}.log"
            server = start_uvicorn(
                f"bench.deadlock_app:{factory}",
                port,
                log_path,
                factory=True,
                env=SERVER_ENV,
                ready_path="/probe/1",
            )
            try:
                paths = [f"/probe/{i}" for i in range(1, 101)]
                result = asyncio.run(
                    drive(port, paths, clients=clients, seconds=args.seconds, timeout=15)
                )
            finally:
                stop_server(server, timeout=10)
            print(
                f"{factory:<9} {clients:>7} {result.rps:>8.0f} {result.p50_ms:>8.1f} "
                f"{result.p99_ms:>8.1f} {pool_timeouts(log_path):>13}  {dict(result.statuses)}"
            )


if __name__ == "__main__":
    main()
