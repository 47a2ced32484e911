"""Auth benchmark: password-hash verify cost, `POST /auth/token` latency and authenticated
`GET /auth/me` throughput with 2 uvicorn workers on PostgreSQL (database `fleet_hub_bench_auth`,
created if missing). Usage: .venv/bin/python bench/auth_bench.py [--seconds 10] [--clients 32]

`--smoke`: tiny sizes, a few seconds, only to prove it still runs (`make test` runs it so).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = os.environ.get(
    "AUTH_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_auth"
)
BENCH_PASSWORD = "bench password 0123456789"  # noqa: S105 (a throwaway bench account)
os.environ.update(
    {
        "DATABASE_URL": BENCH_DB,
        "ENVIRONMENT": "development",
        "SECRET_KEY": "auth-bench-secret-key-0123456789-abcdefghijklmnop",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
        # The bench logs in many times from one address; the limit is not what we measure.
        "LOGIN_RATE_LIMIT_PER_MINUTE": "100000",
    }
)

import httpx  # noqa: E402

from bench.loadgen import drive  # noqa: E402
from bench.support import free_port, parse_args, start_uvicorn, stop_server  # noqa: E402
from db.database import create_database_if_missing, create_db_engine, set_engine  # noqa: E402


def prepare_user() -> None:
    from db.database import session_scope
    from logic.auth.security import hash_password
    from logic.bootstrap import bootstrap_database
    from models.user import User

    engine = create_db_engine()
    set_engine(engine)
    bootstrap_database(engine)
    with session_scope(engine) as session:
        user = User.get_by_username(session, "bench")
        if user is None:
            session.add(
                User(
                    username="bench",
                    email="bench@example.com",
                    hashed_password=hash_password(BENCH_PASSWORD),
                    is_superuser=True,
                )
            )
        else:
            user.hashed_password = hash_password(BENCH_PASSWORD)
            user.failed_login_count, user.lockout_count, user.locked_until = 0, 0, None
    engine.dispose()


def measure_hash_verify(runs: int = 30) -> tuple[float, float]:
    from logic.auth.security import hash_password, verify_password

    hashed = hash_password(BENCH_PASSWORD)
    verify_password(BENCH_PASSWORD, hashed)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        verify_password(BENCH_PASSWORD, hashed)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000, max(timings) * 1000


def measure_login(port: int, runs: int = 20) -> tuple[float, str]:
    timings, token = [], ""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        for _ in range(runs):
            started = time.perf_counter()
            response = http.post(
                "/auth/token", data={"username": "bench", "password": BENCH_PASSWORD}
            )
            timings.append(time.perf_counter() - started)
            response.raise_for_status()
            token = response.json()["access_token"]
    return statistics.median(timings) * 1000, token


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parse_args(parser, smoke={"seconds": 1.0, "clients": 4, "workers": 1})
    create_database_if_missing(BENCH_DB)
    prepare_user()
    median_ms, worst_ms = measure_hash_verify()
    print(
        f"argon2id verify (m=19456 KiB, t=2, p=1): median {median_ms:.1f} ms, max {worst_ms:.1f} ms"
    )
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / "auth-bench-server.log"
    server = start_uvicorn("main:app", port, log_path, workers=args.workers)
    try:
        login_ms, token = measure_login(port)
        print(f"POST /auth/token (verify + session row + audit row): median {login_ms:.1f} ms")
        headers = {"Authorization": f"Bearer {token}"}
        me = ["/auth/me"]
        warm = min(2.0, args.seconds)
        asyncio.run(drive(port, me, clients=args.clients, seconds=warm, headers=headers))
        result = asyncio.run(
            drive(port, me, clients=args.clients, seconds=args.seconds, headers=headers)
        )
    finally:
        stop_server(server)
    print(
        f"GET /auth/me, {args.workers} uvicorn workers, PostgreSQL, {args.clients} clients, "
        f"{args.seconds:.0f} s: {result.line()}"
    )
    print(f"(load generator shares the machine's {os.cpu_count()} CPUs with the server)")


if __name__ == "__main__":
    main()
