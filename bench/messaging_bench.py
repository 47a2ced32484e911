"""Messaging benchmark on PostgreSQL: Twilio webhook intake with 2 uvicorn workers — signed
inbound texts and status callbacks (`X-Twilio-Signature`, form-encoded), one in six a duplicate
of the one before — offered at a fixed rate and as capacity; then the contact-plan tick over
`--runs` active runs (none due: the steady state; then 1% due, each starting an SMS step).

Targets (issue 26): ≥ 1,000 deliveries/s with p99 < 50 ms on 2 workers; the tick over 10,000
active plans < 200 ms.
Usage: .venv/bin/python bench/messaging_bench.py [--seconds 10] [--rate 1000] [--clients 32]
[--messages 20000] [--runs 10000] [--repeats 5] [--tick-only | --webhooks-only | --ceiling]

`--ceiling` offers the same load to stripped-down apps (a no-op route; the Twilio route with no
middleware, with and without applying the events) beside the main app: what this machine allows
the intake at best.
Database: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/
fleet_hub_bench_messaging), created if missing; its schema is rebuilt on every run.

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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_messaging"
)
AUTH_TOKEN = "messaging-bench-twilio-token"  # noqa: S105 (a throwaway bench value)
ACCOUNT = "AC" + "b" * 32
os.environ.update(
    {
        "DATABASE_URL": BENCH_DB,
        "ENVIRONMENT": "development",
        "SECRET_KEY": "messaging-bench-secret-key-0123456789-abcdefghijkl",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "MESSAGE_WINDOW_START": "00:00",
        "MESSAGE_WINDOW_END": "00:00",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
    }
)

from bench.loadgen import drive_rate, drive_raw, post_request  # noqa: E402
from bench.support import copy_rows, free_port, parse_args, start_uvicorn, stop_server  # noqa: E402
from db.database import create_database_if_missing, create_db_engine, set_engine  # noqa: E402

PHONE = "+1312{:07d}"  # formatted with 2,000,000 + n: valid US numbers
FORM = "application/x-www-form-urlencoded"


def prepare(messages: int) -> list[str]:
    """A fresh schema; drivers with numbers and `messages` sent texts (their sids returned)."""
    from sqlalchemy import text

    from config import get_settings
    from logic.bootstrap import bootstrap_database

    engine = create_db_engine()
    set_engine(engine)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{get_settings().DB_SCHEMA}" CASCADE'))
    bootstrap_database(engine)
    drivers = max(messages // 10, 1)
    sids = [f"SM{n:032x}" for n in range(messages)]
    now = "2026-12-06 03:00:00+00"
    with engine.begin() as conn:
        raw = conn.connection.cursor()
        copy_rows(
            raw,
            "driver",
            ["first_name", "last_name", "phone", "ditat_id", "status", "language", "do_not_call"],
            [("Bench", f"D{n}", PHONE.format(2_000_000 + n), f"B{n}", "active", "en", "f")
             for n in range(drivers)],
        )  # fmt: skip
        raw.execute("SELECT id FROM driver ORDER BY id")
        ids = [row[0] for row in raw.fetchall()]
        copy_rows(
            raw,
            "driver_message",
            ["driver_id", "channel", "direction", "body", "phone_number", "provider_message_id",
             "delivery_status", "insight", "status", "attempts", "created_at", "updated_at"],
            [(ids[n % drivers], "sms", "outbound", "Where are you?",
              PHONE.format(2_000_000 + n % drivers), sid, "queued", "{}", "sent", 1, now, now)
             for n, sid in enumerate(sids)],
        )  # fmt: skip
        raw.execute("ANALYZE")
    engine.dispose()
    return sids


def deliveries(port: int, sids: list[str], *, duplicate_every: int = 5) -> list[bytes]:
    """Per sent text: its `delivered` callback and a driver's text back, interleaved; every
    n-th delivery repeated. Each signed for the URL Twilio would post to."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    url = f"http://127.0.0.1:{port}/webhooks/twilio"
    requests: list[bytes] = []
    for n, sid in enumerate(sids):
        number = PHONE.format(2_000_000 + n % max(len(sids) // 10, 1))
        forms = (
            {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": "+12015550100",
             "To": number, "MessageStatus": "delivered", "SmsStatus": "delivered",
             "ApiVersion": "2010-04-01"},
            {"MessageSid": f"SM{n:016x}{'f' * 16}", "AccountSid": ACCOUNT, "From": number,
             "To": "+12015550100", "Body": "on my way, 20 minutes late", "NumMedia": "0",
             "SmsStatus": "received", "ApiVersion": "2010-04-01"},
        )  # fmt: skip
        for form in forms:
            headers = {"X-Twilio-Signature": validator.compute_signature(url, form)}
            body = urlencode(form).encode()
            requests.append(post_request(port, "/webhooks/twilio", body, headers, FORM))
            if len(requests) % duplicate_every == 0:
                requests.append(requests[-1])
    return requests


def plan_tick(runs: int, repeats: int) -> tuple[list[float], list[float], int]:
    """Milliseconds per tick over `runs` active runs: none due, then 1% due (an SMS step)."""
    from sqlalchemy import text

    from config import get_settings
    from logic.messaging.contact_plans import Policies, tick_runs

    engine = create_db_engine()
    set_engine(engine)
    now = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    later = (now + timedelta(hours=1)).isoformat()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO contact_plan (name, purpose, enabled, steps, created_at, updated_at) "
                "VALUES ('bench', 'late_load_check', true, "
                '\'[{"kind": "sms", "wait_minutes": 10}, {"kind": "page_oncall"}]\', '
                "now(), now())"
            )
        )
        raw = conn.connection.cursor()
        raw.execute("SELECT id FROM contact_plan")
        plan = raw.fetchone()[0]
        raw.execute("SELECT id FROM driver ORDER BY id")
        drivers = [row[0] for row in raw.fetchall()]
        copy_rows(
            raw,
            "contact_run",
            ["plan_id", "driver_id", "purpose", "status", "step_index", "next_check_at",
             "history", "created_at", "updated_at"],
            [(plan, drivers[n % len(drivers)], "late_load_check", "active", -1, later, "[]",
              now.isoformat(), now.isoformat()) for n in range(runs)],
        )  # fmt: skip
        raw.execute("ANALYZE")
    policies = Policies.from_settings(get_settings())
    idle = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = tick_runs(policies, now=now)
        idle.append((time.perf_counter() - started) * 1000)
        assert result.due == 0
    busy = []
    due = max(runs // 100, 1)
    for repeat in range(repeats):
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE contact_run SET next_check_at = :now WHERE id IN "
                    "(SELECT id FROM contact_run WHERE status = 'active' AND step_index = -1 "
                    "ORDER BY id LIMIT :due)"
                ),
                {"now": now.isoformat(), "due": due},
            )
        started = time.perf_counter()
        result = tick_runs(policies, now=now + timedelta(seconds=repeat))
        busy.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    return idle, busy, due


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rate", type=float, default=1000.0, help="offered req/s, open loop")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--tick-only", action="store_true", help="only the contact-plan tick (no webhook intake)"
    )
    parser.add_argument(
        "--webhooks-only", action="store_true", help="only the webhook intake (no tick)"
    )
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="the intake offered the same load on stripped-down apps beside the main app "
        "(bench/intake_ceiling_apps.py), then stop",
    )
    args = parse_args(
        parser,
        smoke={
            "seconds": 1.0,
            "clients": 4,
            "rate": 50.0,
            "workers": 1,
            "messages": 200,
            "runs": 200,
            "repeats": 1,
        },
    )
    create_database_if_missing(BENCH_DB)
    if args.ceiling:
        ceiling(args, CEILING_APPS | MAIN_APP)
        return
    if args.smoke:  # keeps the ceiling's apps from rotting (the intake below is the main app's)
        ceiling(args, CEILING_APPS)
    sids = prepare(args.messages)
    if not args.tick_only:
        intake(args, sids)
    if args.webhooks_only:
        return
    idle, busy, due = plan_tick(args.runs, args.repeats)
    print(
        f"contact-plan tick over {args.runs} active runs: none due {statistics.median(idle):.1f} "
        f"ms (median of {len(idle)}); {due} due, each starting an SMS step "
        f"{statistics.median(busy):.1f} ms; target < 200 ms"
    )


@contextmanager
def served(
    app: str, workers: int, *, factory: bool = False, env: dict[str, str] | None = None
) -> Iterator[int]:
    """`app` on `workers` uvicorn workers, signing URLs as Twilio would; yields its port."""
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / "messaging-bench-server.log"
    env = {"TWILIO_WEBHOOK_BASE_URL": f"http://127.0.0.1:{port}", **(env or {})}
    server = start_uvicorn(app, port, log_path, workers=workers, env=env, factory=factory)
    try:
        yield port
    finally:
        stop_server(server)


def intake(args: argparse.Namespace, sids: list[str]) -> None:
    """The webhook half: signed Twilio posts offered at a rate, then as capacity."""
    with served("main:app", args.workers) as port:
        requests = deliveries(port, sids)
        half = len(requests) // 2
        offered = asyncio.run(
            drive_rate(port, requests[:half], rate=args.rate, seconds=args.seconds)
        )
        capacity = asyncio.run(
            drive_raw(port, requests[half:], clients=args.clients, seconds=args.seconds)
        )
    print(
        f"{args.workers} uvicorn workers, PostgreSQL, {args.seconds:.0f} s each (load generator "
        f"on the same {os.cpu_count()} CPUs); Twilio-signed form posts, half delivery callbacks, "
        "half texts back, 1 in 6 a duplicate"
    )
    print(f"  offered {args.rate:.0f} req/s (open loop)       {offered.line()}")
    print(f"  closed loop, {args.clients} clients (capacity)  {capacity.line()}")
    print("target: ≥ 1000 deliveries/s with p99 < 50 ms")
    verify_effects()


# label: (app, served through a factory, extra environment)
CeilingApps = dict[str, tuple[str, bool, dict[str, str]]]
CEILING_APPS: CeilingApps = {
    "no-op Starlette route, no database": ("bench.intake_ceiling_apps:noop", True, {}),
    "Twilio route alone, no middleware, events not applied": (
        "bench.intake_ceiling_apps:route_only",
        True,
        {"BENCH_SKIP_PROCESSING": "1"},
    ),
    "Twilio route alone, no middleware": ("bench.intake_ceiling_apps:route_only", True, {}),
}
MAIN_APP: CeilingApps = {"main app": ("main:app", False, {})}


def ceiling(args: argparse.Namespace, apps: CeilingApps) -> None:
    """The same offered load on each of `apps`, one after another."""
    print(
        f"{args.workers} uvicorn workers, PostgreSQL, offered {args.rate:.0f} req/s for "
        f"{args.seconds:.0f} s each (load generator on the same {os.cpu_count()} CPUs); the "
        "schema is rebuilt before each app"
    )
    for label, (app, factory, extra) in apps.items():
        sids = prepare(args.messages)
        with served(app, args.workers, factory=factory, env=extra) as port:
            result = asyncio.run(
                drive_rate(port, deliveries(port, sids), rate=args.rate, seconds=args.seconds)
            )
        print(f"  {label:<56} {result.line()}")
    print("target: ≥ 1000 deliveries/s with p99 < 50 ms")


def verify_effects() -> None:
    """Each delivery once in the inbox; texts back stored once."""
    from sqlalchemy import text

    engine = create_db_engine()
    with engine.connect() as conn:
        events = conn.execute(
            text("SELECT count(*), count(*) FILTER (WHERE processed_at IS NULL) FROM webhook_event")
        ).one()
        inbound = conn.execute(
            text("SELECT count(*) FROM driver_message WHERE direction = 'inbound'")
        ).scalar()
        delivered = conn.execute(
            text("SELECT count(*) FROM driver_message WHERE delivery_status = 'delivered'")
        ).scalar()
    engine.dispose()
    print(
        f"  inbox rows {events[0]} (unprocessed {events[1]}); texts back stored {inbound}; "
        f"texts delivered {delivered}"
    )


if __name__ == "__main__":
    main()
