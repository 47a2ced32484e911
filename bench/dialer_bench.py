"""Dialer benchmark: a campaign of 1,000 targets against the sandbox answering each call
creation after 300 ms. The tick requests the calls, then the dialer places them
`max_concurrency` at a time; the placement rate must reach `max_concurrency / 0.3 s` and no
dialing thread may hold a pooled connection while its vendor request is in flight. Two passes
in the same run: the naive dialer (each thread takes, dials and records its own call) beside
the dialer as it is (`logic.calls.dialing.dial_many`).

Between ticks the calls in flight are ended in the database (what their webhooks would do), so
the campaign's concurrency frees up and the next tick dials the next batch.

Usage: .venv/bin/python bench/dialer_bench.py [--targets 1000] [--concurrency 20] [--delay 0.3]
Database: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_dialer),
created if missing; schema `bench_dialer` is dropped and rebuilt on every run.

`--smoke`: tiny sizes, a few seconds, only to prove it still runs (`make test` runs it so).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_dialer"
)
SCHEMA = "bench_dialer"
os.environ.update(
    {"DATABASE_URL": URL, "DB_SCHEMA": SCHEMA, "ENVIRONMENT": "development", "LOG_LEVEL": "WARNING"}
)

import httpx  # noqa: E402
from sqlalchemy import event, text, update  # noqa: E402

from bench.support import (  # noqa: E402
    copy_rows,
    free_port,
    parse_args,
    start_uvicorn,
    stop_server,
)
from db import database  # noqa: E402

# 18:00 UTC on a Tuesday: 12:00 in Chicago, inside every window.
NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


def load(engine, targets: int, concurrency: int) -> None:
    raw = engine.raw_connection()
    cur = raw.cursor()
    ts = NOW.isoformat()
    copy_rows(
        cur,
        "driver",
        ["id", "first_name", "last_name", "phone", "status", "timezone", "language",
         "do_not_call", "created_at", "updated_at"],
        ((i, "Drv", str(i), f"+1201555{i % 10_000:04d}"[:12], "active", "America/Chicago", "en",
          "f", ts, ts) for i in range(1, targets + 1)),
    )  # fmt: skip
    copy_rows(
        cur,
        "call_agent_profile",
        ["id", "name", "provider", "purpose", "assistant_id", "phone_number_id",
         "prompt_version", "max_duration_seconds", "enabled", "created_at", "updated_at"],
        [(1, "bench vapi", "vapi", "hos_check", "asst-bench", "phone-bench", "v1", 300, "t", ts,
          ts)],
    )  # fmt: skip
    copy_rows(
        cur,
        "call_campaign",
        ["id", "name", "purpose", "provider", "status", "audience", "window_start", "window_end",
         "max_concurrency", "max_attempts", "retry_no_answer_minutes", "retry_busy_minutes",
         "retry_voicemail_minutes", "retry_failed_minutes", "target_count", "calls_placed",
         "created_at", "updated_at"],
        [(1, "bench", "hos_check", "vapi", "running", '{"kind": "hos_violations", "days": 7}',
          "00:00", "00:00", concurrency, 3, 30, 10, 120, 30, targets, 0, ts, ts)],
    )  # fmt: skip
    copy_rows(
        cur,
        "campaign_target",
        ["id", "campaign_id", "driver_id", "state", "attempts", "next_attempt_at",
         "created_at", "updated_at"],
        ((i, 1, i, "pending", 0, ts, ts, ts) for i in range(1, targets + 1)),
    )  # fmt: skip
    for table in ("driver", "call_agent_profile", "call_campaign", "campaign_target"):
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )
    raw.commit()
    raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


class HeldDuringDial:
    """Connections each thread holds, from the pool's events; the dial wrapper samples its own
    thread's count while the vendor request is in flight."""

    def __init__(self, engine) -> None:
        self._held: dict[int, int] = {}
        self._lock = threading.Lock()
        self.samples: list[int] = []
        self.vendor_seconds: list[float] = []
        event.listen(engine.pool, "checkout", lambda *_: self._add(1))
        event.listen(engine.pool, "checkin", lambda *_: self._add(-1))

    def _add(self, n: int) -> None:
        with self._lock:
            key = threading.get_ident()
            self._held[key] = self._held.get(key, 0) + n

    def mine(self) -> int:
        with self._lock:
            return self._held.get(threading.get_ident(), 0)

    def wrap(self, provider) -> None:
        dial = provider.dial

        def counted(spec):
            self.samples.append(self.mine())
            started = time.perf_counter()
            try:
                return dial(spec)
            finally:
                self.vendor_seconds.append(time.perf_counter() - started)
                self.samples.append(self.mine())

        provider.dial = counted


def naive_dial_many(call_ids, dialer, *, now=None):
    """The dialer before this bench's fix: every worker thread takes its call, asks the vendor
    and records the answer, each in its own transactions (2 per call, `concurrency` writers)."""
    from concurrent.futures import ThreadPoolExecutor

    from logic.calls.dialing import dial

    ids = list(dict.fromkeys(call_ids))
    if not ids:
        return {}
    with ThreadPoolExecutor(max_workers=min(dialer.concurrency, len(ids))) as pool:
        return dict(zip(ids, pool.map(lambda i: dial(i, dialer, now=now), ids), strict=True))


def run_pass(label: str, engine, base: str, args, held: HeldDuringDial) -> dict:
    """Fresh data, then ticks until every target is placed; the pass's figures."""
    from config import Settings
    from logic.calls import campaigns
    from logic.calls.dialing import Dialer
    from logic.calls.voice.registry import CallProviders
    from models.call import Call, CallOutcome, CallStatus
    from sandbox.credentials import sandbox_settings_env

    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    database.init_db(engine)
    load(engine, args.targets, args.concurrency)
    settings = Settings(**sandbox_settings_env(base), ENVIRONMENT="test")
    providers = CallProviders.from_settings(settings, retry_wait=0)
    held.samples.clear()
    held.vendor_seconds.clear()
    held.wrap(providers.voice("vapi"))
    with httpx.Client(base_url=base) as http:
        http.post("/_sandbox/reset").raise_for_status()
        http.post("/_sandbox/webhooks", json={"vendor": "vapi", "url": None}).raise_for_status()
        http.post(
            "/_sandbox/faults",
            json={"vendor": "vapi", "kind": "slow", "count": args.targets, "delay": args.delay},
        ).raise_for_status()
    real_dial_many = campaigns.dial_many
    if label == "naive":
        campaigns.dial_many = naive_dial_many
    placed = ticks = 0
    dialing = tick_time = 0.0
    phases: dict[str, float] = {}
    try:
        while placed < args.targets and ticks < args.targets:
            ticks += 1
            now = NOW + timedelta(seconds=ticks)
            started = time.perf_counter()
            result = campaigns.tick(
                Dialer(providers, concurrency=args.concurrency),
                now=now,
                max_dials=args.concurrency,
            )
            tick_time += time.perf_counter() - started
            dialing += result.timings_ms["place"] / 1000
            for phase in ("decide_claim", "request", "place"):
                phases[phase] = phases.get(phase, 0.0) + result.timings_ms[phase]
            placed += result.placed
            if not result.claimed:
                break
            # What the calls' webhooks would do: they end, and free the campaign's room.
            with engine.begin() as conn:
                conn.execute(
                    update(Call)
                    .where(Call.status == CallStatus.DIALING)
                    .values(status=CallStatus.ENDED, outcome=CallOutcome.COMPLETED, ended_at=now)
                )
    finally:
        campaigns.dial_many = real_dial_many
        providers.close()
    vendor = sorted(held.vendor_seconds)
    return {
        "placed": placed,
        "ticks": ticks,
        "dialing": dialing,
        "tick_time": tick_time,
        "vendor_p50": vendor[len(vendor) // 2] if vendor else 0.0,
        "held": max(held.samples, default=0),
        "dials": len(held.samples) // 2,
        "per_tick_ms": {k: v / ticks for k, v in phases.items()} if ticks else {},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.3, help="sandbox create delay, seconds")
    args = parse_args(parser, smoke={"targets": 40, "concurrency": 10})

    database.create_database_if_missing(URL)
    engine = database.create_db_engine()
    database.set_engine(engine)
    port = free_port()
    log = Path(tempfile.gettempdir()) / "dialer_bench_sandbox.log"
    server = start_uvicorn(
        "sandbox.app:create_sandbox_app", port, log, factory=True, ready_path="/_sandbox/faults"
    )
    base = f"http://127.0.0.1:{port}"
    held = HeldDuringDial(engine)
    goal = args.concurrency / args.delay
    try:
        passes = {label: run_pass(label, engine, base, args, held) for label in ("naive", "dialer")}
    finally:
        stop_server(server)
    print(
        f"{args.targets:,} targets, max_concurrency {args.concurrency}, the sandbox answering "
        f"each create after {args.delay} s: goal max_concurrency / {args.delay} s = {goal:.1f} "
        "calls/s (the rate if every dial took exactly the vendor's delay)"
    )
    for label, run in passes.items():
        rate = run["placed"] / run["dialing"] if run["dialing"] else 0.0
        whole = run["placed"] / run["tick_time"] if run["tick_time"] else 0.0
        what = (
            "naive (each thread takes, dials and records its own call: 2 transactions per call)"
            if label == "naive"
            else "dialer (1 transaction takes the batch, threads only dial, answers recorded "
            "together as they arrive)"
        )
        # No dialer keeping `concurrency` creates in flight beats concurrency / the vendor's
        # actual latency, which HTTP and the sandbox's own work put above its delay.
        ceiling = args.concurrency / run["vendor_p50"] if run["vendor_p50"] else 0.0
        print(
            f"  {what}\n    placed {run['placed']:,} in {run['ticks']} ticks; dial phase "
            f"{run['dialing']:.1f} s = {rate:.1f} calls/s ({rate / goal:.0%} of the goal, "
            f"{rate / ceiling if ceiling else 0:.0%} of max_concurrency / vendor p50 = "
            f"{ceiling:.1f}); "
            f"whole ticks (decide, request, dial) {run['tick_time']:.1f} s = {whole:.1f} "
            f"calls/s; vendor request p50 {run['vendor_p50'] * 1000:.0f} ms; connections held "
            f"during a vendor request: max {run['held']} over {run['dials']:,} dials "
            f"({'PASS' if run['held'] == 0 else 'FAIL'})\n    per tick: "
            + ", ".join(f"{k} {v:.0f} ms" for k, v in run["per_tick_ms"].items())
        )
    engine.dispose()


if __name__ == "__main__":
    main()
