"""Calls benchmark: webhook intake on PostgreSQL with 2 uvicorn workers — signed VAPI
`status-update` deliveries, one in six a duplicate of the one before — beside a bare
authenticated `GET /auth/me` in the same run; then insight extraction (transcripts/s).

Each side is measured twice: offered at a fixed rate (`--rate`, open loop: webhooks arrive when
the vendor sends them, and latency counts from when each request was due, so falling behind
shows), then as capacity (`--clients` connections back to back; there latency is mostly queueing,
clients / throughput).

Targets (issue 12): ≥ 1,000 deliveries/s with p99 < 50 ms; ≥ 2,000 transcripts/s.
Usage: .venv/bin/python bench/calls_bench.py [--seconds 10] [--rate 1000] [--clients 32]
[--calls 20000]
Database: CALLS_BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/
fleet_hub_bench_calls), created if missing; its schema is rebuilt on every run.

`--smoke`: tiny sizes, a few seconds, only to prove it still runs (`make test` runs it so).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = os.environ.get(
    "CALLS_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_calls"
)
WEBHOOK_SECRET = "calls-bench-webhook-secret"  # noqa: S105 (a throwaway bench value)
os.environ.update(
    {
        "DATABASE_URL": BENCH_DB,
        "ENVIRONMENT": "development",
        "SECRET_KEY": "calls-bench-secret-key-0123456789-abcdefghijklmnop",
        "VAPI_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
    }
)

from bench.loadgen import drive_rate, drive_raw, get_request, post_request  # noqa: E402
from bench.support import free_port, parse_args, start_uvicorn, stop_server  # noqa: E402
from db.database import create_database_if_missing, create_db_engine, set_engine  # noqa: E402


def prepare(calls: int) -> tuple[str, list[str]]:
    """A superuser token and `calls` dialing VAPI calls (provider ids returned)."""
    from sqlalchemy import text

    from config import get_settings
    from db.database import session_scope
    from logic.auth import service
    from logic.auth.audit import ClientInfo
    from logic.auth.security import hash_password
    from logic.bootstrap import bootstrap_database
    from models.driver import Driver
    from models.user import User

    engine = create_db_engine()
    set_engine(engine)
    # A fresh schema each run: the current tables and indexes, and no dead rows from the last
    # run's inbox skewing the planner.
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{get_settings().DB_SCHEMA}" CASCADE'))
    bootstrap_database(engine)
    with session_scope(engine) as session:
        driver = session.scalars(text("SELECT id FROM driver WHERE ditat_id = 'BENCH'")).first()
        if driver is None:
            row = Driver(first_name="Bench", last_name="Driver", ditat_id="BENCH")
            session.add(row)
            session.flush()
            driver = row.id
        user = User.get_by_username(session, "calls-bench")
        if user is None:
            user = User(
                username="calls-bench",
                email="calls-bench@example.com",
                hashed_password=hash_password("calls bench password"),
                is_superuser=True,
            )
            session.add(user)
            session.flush()
        token = service.issue_session(session, user, ClientInfo(ip="bench")).access_token
    ids = [f"bench-call-{n:06d}" for n in range(calls)]
    with engine.begin() as conn:
        raw = conn.connection.cursor()
        from bench.support import copy_rows

        now = "2026-12-04 03:00:00+00"
        copy_rows(
            raw,
            "call",
            ["provider", "provider_call_id", "driver_id", "purpose", "to_number", "status",
             "variables", "transcript", "created_at", "updated_at", "dialed_at"],
            [("vapi", pid, driver, "late_load_check", "+12015550123", "dialing", "{}", "[]",
              now, now, now) for pid in ids],
        )  # fmt: skip
        raw.execute("ANALYZE")  # statistics for the freshly filled tables, as autovacuum would
    engine.dispose()
    return token, ids


def deliveries(port: int, ids: list[str], *, duplicate_every: int = 5) -> list[bytes]:
    """ringing then in-progress for each call (interleaved), every n-th a repeat of the last."""
    requests: list[bytes] = []
    stamp = 1767225600000
    for status in ("ringing", "in-progress"):
        for n, call_id in enumerate(ids):
            message = {
                "message": {
                    "type": "status-update",
                    "status": status,
                    "timestamp": stamp + n,
                    "call": {
                        "id": call_id,
                        "orgId": "bench-org",
                        "type": "outboundPhoneCall",
                        "status": status,
                        "customer": {"number": "+12015550123"},
                        "phoneCallProvider": "twilio",
                        "phoneCallProviderId": f"CA{n:032d}",
                        "createdAt": "2026-12-04T03:00:00.000Z",
                        "updatedAt": "2026-12-04T03:00:01.000Z",
                    },
                }
            }
            body = json.dumps(message, separators=(",", ":")).encode()
            requests.append(
                post_request(port, "/webhooks/vapi", body, {"X-Vapi-Secret": WEBHOOK_SECRET})
            )
            if len(requests) % duplicate_every == 0:
                requests.append(requests[-1])
    return requests


def insight_rate(count: int) -> tuple[float, int]:
    from sandbox.call_scripts import script_for
    from utils.call_insights import Turn, extract_insights

    transcripts = []
    for n in range(count):
        number = f"+1201555{n % 10000:04d}"
        script = script_for(number, {"driver_first_name": "Jo", "next_stop_city": "Tulsa"}, str(n))
        transcripts.append(
            (
                [Turn(role, text) for role, text in script.turns],
                script.structured if n % 2 else None,
            )
        )
    cities = ["Tulsa", "Dallas", "Oklahoma City", "Memphis"]
    started = time.perf_counter()
    found = 0
    for turns, structured in transcripts:
        result = extract_insights(turns=turns, structured=structured, stop_cities=cities)
        found += result.delay_minutes is not None
    return count / (time.perf_counter() - started), found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rate", type=float, default=1000.0, help="offered req/s, open loop")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--transcripts", type=int, default=10_000)
    args = parse_args(
        parser,
        smoke={
            "seconds": 1.0,
            "clients": 4,
            "rate": 50.0,
            "workers": 1,
            "calls": 200,
            "transcripts": 100,
        },
    )
    create_database_if_missing(BENCH_DB)
    token, ids = prepare(args.calls)
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / "calls-bench-server.log"
    server = start_uvicorn("main:app", port, log_path, workers=args.workers)
    headers = {"Authorization": f"Bearer {token}"}
    me = get_request(port, "/auth/me", headers)
    requests = deliveries(port, ids)
    half = len(requests) // 2  # the open-loop run sends the first half, the closed loop the rest
    try:
        warm = min(2.0, args.seconds)
        asyncio.run(drive_raw(port, [me], clients=args.clients, seconds=warm))  # warm-up
        capacity = {
            "bare GET /auth/me (authenticated)": asyncio.run(
                drive_raw(port, [me], clients=args.clients, seconds=args.seconds)
            ),
            "POST /webhooks/vapi status-update": asyncio.run(
                drive_raw(port, requests[half:], clients=args.clients, seconds=args.seconds)
            ),
        }
        offered = {
            "POST /webhooks/vapi status-update": asyncio.run(
                drive_rate(port, requests[:half], rate=args.rate, seconds=args.seconds)
            ),
            "bare GET /auth/me (authenticated)": asyncio.run(
                drive_rate(port, [me], rate=args.rate, seconds=args.seconds)
            ),
        }
    finally:
        stop_server(server)
    print(
        f"{args.workers} uvicorn workers, PostgreSQL, {args.seconds:.0f} s each "
        f"(load generator on the same {os.cpu_count()} CPUs); deliveries are VAPI-signed, "
        f"1 in 6 a duplicate of the one before"
    )
    print(f"closed loop, {args.clients} clients back to back (capacity):")
    for name, result in capacity.items():
        print(f"  {name:<36} {result.line()}")
    print(f"offered {args.rate:.0f} req/s (open loop; latency from when each was due):")
    for name, result in offered.items():
        print(f"  {name:<36} {result.line()}")
    print("target: webhook intake ≥ 1000 deliveries/s with p99 < 50 ms")
    rate, found = insight_rate(args.transcripts)
    print(
        f"insight extraction: {rate:,.0f} transcripts/s over {args.transcripts} "
        f"(half with structured output; {found} with a delay); target ≥ 2000/s"
    )
    verify_effects()


def verify_effects() -> None:
    """The inbox holds each event once and no call moved backwards."""
    from sqlalchemy import text

    engine = create_db_engine()
    with engine.connect() as conn:
        events = conn.execute(text("SELECT count(*) FROM webhook_event")).scalar()
        unprocessed = conn.execute(
            text("SELECT count(*) FROM webhook_event WHERE processed_at IS NULL")
        ).scalar()
        statuses = dict(
            conn.execute(text("SELECT status, count(*) FROM call GROUP BY status")).all()
        )
    engine.dispose()
    print(f"  inbox rows {events} (unprocessed {unprocessed}); call statuses {statuses}")


if __name__ == "__main__":
    main()
