"""Legal ETA benchmark: the set-based pass (logic/trips/legal_eta.py) over 50,000 active trips on
PostgreSQL (target: steady pass < 1 s), beside a per-trip ORM loop doing the same work, in the
same run. The physical ETA pass that feeds it is timed on its own line for context.

The fleet: every driver on one active trip, a third with two stops left; HOS clocks spread over
fresh, mid-shift, nearly spent windows, spent drive clocks with a rest under way (with its open
log segment) and a few short cycles; trucks do not move between passes (their physical ETAs drift
with the clock, so a pass 10 min later rewrites everything: shown separately).

Usage: .venv/bin/python bench/legal_eta_bench.py [--trips 50000] [--baseline-sample 2000]
Database: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_legal),
created if missing; schema `bench_legal_eta` is dropped and rebuilt on every run.

`--smoke`: tiny sizes, a few seconds, only to prove it still runs (`make test` runs it so).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_legal"
)
SCHEMA = "bench_legal_eta"
os.environ.update(
    {
        "DATABASE_URL": URL,
        "DB_SCHEMA": SCHEMA,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "SLACK_BOT_TOKEN": "",
    }
)

from sqlalchemy import select, text  # noqa: E402

from bench.support import copy_rows, parse_args  # noqa: E402
from db import database  # noqa: E402

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def load(engine, trips: int) -> None:
    """COPY the fleet: drivers, trucks, trips, stops, one position per truck, clocks, rest logs."""
    rng = random.Random(11)
    raw = engine.raw_connection()
    cur = raw.cursor()
    ts = NOW.isoformat()
    ids = range(1, trips + 1)
    copy_rows(
        cur,
        "driver",
        [
            "id",
            "first_name",
            "last_name",
            "status",
            "language",
            "do_not_call",
            "created_at",
            "updated_at",
        ],
        ((i, "Drv", str(i), "active", "en", "f", ts, ts) for i in ids),
    )
    copy_rows(
        cur,
        "vehicle",
        ["id", "unit_number", "status", "created_at", "updated_at"],
        ((i, f"T{i}", "active", ts, ts) for i in ids),
    )
    copy_rows(
        cur,
        "trip",
        ["id", "load_number", "status", "driver_id", "vehicle_id", "created_at", "updated_at"],
        ((i, f"L{i}", "in_transit", i, i, ts, ts) for i in ids),
    )
    stops, positions, clocks, logs = [], [], [], []
    sid = 0
    for i in ids:
        lat, lon = 30 + rng.random() * 12, -100 + rng.random() * 20
        positions.append((i, ts, lat, lon, 55.0))
        for seq in range(1, 2 + (i % 3 == 0) + 1):
            sid += 1
            lat2, lon2 = lat + rng.uniform(-3, 3), lon + rng.uniform(-3, 3)
            end = NOW + timedelta(hours=rng.uniform(2, 30))
            status, departed = ("departed", ts) if seq == 1 else ("pending", None)
            stops.append(
                (
                    sid,
                    i,
                    seq,
                    "delivery",
                    status,
                    lat2,
                    lon2,
                    end - timedelta(hours=2),
                    end,
                    departed,
                )
            )
        kind = rng.random()
        if kind < 0.5:  # mid-shift
            clock = ("driving", rng.randint(120, 600), rng.randint(200, 780), 300, 2500)
        elif kind < 0.7:  # window nearly spent
            clock = ("driving", rng.randint(60, 300), rng.randint(10, 90), 200, 2000)
        elif kind < 0.85:  # fresh
            clock = ("on_duty", 660, 840, 480, 4200)
        elif kind < 0.97:  # spent, resting
            clock = ("sleeper_berth", 0, 0, 0, 1800)
            logs.append(
                (len(logs) + 1, i, "sleeper_berth", NOW - timedelta(hours=rng.uniform(1, 9)))
            )
        else:  # cycle nearly spent
            clock = ("driving", 400, 600, 300, rng.randint(30, 300))
        clocks.append((i, i, *clock, 0, 0, ts))
    copy_rows(
        cur,
        "trip_stop",
        [
            "id",
            "trip_id",
            "sequence",
            "stop_type",
            "status",
            "latitude",
            "longitude",
            "appointment_start",
            "appointment_end",
            "departed_at",
        ],
        stops,
    )
    copy_rows(
        cur,
        "vehicle_location",
        ["vehicle_id", "recorded_at", "latitude", "longitude", "speed_mph"],
        positions,
    )
    copy_rows(
        cur,
        "hos_clock",
        [
            "id",
            "driver_id",
            "duty_status",
            "drive_remaining_minutes",
            "shift_remaining_minutes",
            "time_until_break_minutes",
            "cycle_remaining_minutes",
            "cycle_violation_minutes",
            "shift_driving_violation_minutes",
            "as_of",
        ],
        clocks,
    )
    copy_rows(
        cur,
        "hos_log",
        ["id", "driver_id", "duty_status", "start_at", "updated_at"],
        ((n, d, s, at.isoformat(), ts) for n, d, s, at in logs),
    )
    for table in ("driver", "vehicle", "trip", "trip_stop", "hos_clock", "hos_log"):
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )
    raw.commit()
    raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def timed_pass(label: str, now: datetime) -> float:
    """Physical ETAs, then the legal pass (timed alone), committed like a real pass."""
    from logic.alerts.positions import build_latest_positions
    from logic.trips.eta import compute_etas
    from logic.trips.legal_eta import compute_legal_etas

    with database.session_scope() as session:
        started = time.perf_counter()
        physical = compute_etas(session, now=now, positions=build_latest_positions(session))
        mid, cpu = time.perf_counter(), time.process_time()
        legal = compute_legal_etas(session, physical, now=now)
        done, cpu = time.perf_counter(), time.process_time() - cpu
    committed = time.perf_counter()
    legal_ms, commit_ms, physical_ms = (
        (done - mid) * 1000,
        (committed - done) * 1000,
        (mid - started) * 1000,
    )
    print(
        f"{label:<40} legal {legal_ms:6.0f} ms (our CPU {cpu * 1000:4.0f} ms; +commit "
        f"{commit_ms:4.0f} ms; physical before it {physical_ms:5.0f} ms)  "
        f"computed={legal.computed} written={legal.written}"
    )
    return done - mid


def baseline(sample: int, now: datetime) -> float:
    """The naive loop: per trip, load its clock, open rest and ETA with the ORM, project, write."""
    from logic.hos.projection import project
    from logic.trips.eta import compute_etas
    from logic.trips.legal_eta import clocks_now, resting_since
    from models.hos import HosClock
    from models.trip import Trip

    with database.session_scope() as session:
        physical = compute_etas(session, now=now, write=False)
        started = time.perf_counter()
        trips = session.scalars(select(Trip).where(Trip.status == "in_transit").limit(sample))
        for trip in trips.all():
            clock = HosClock.for_driver(session, trip.driver_id)
            since = resting_since(session, [trip.driver_id]).get(trip.driver_id)
            eta = physical.etas.get(trip.id)
            if clock is None or eta is None:
                continue
            clocks = clocks_now(
                clock.duty_status,
                clock.drive_remaining_minutes,
                clock.shift_remaining_minutes,
                clock.time_until_break_minutes,
                clock.cycle_remaining_minutes,
                clock.as_of,
                now,
                since,
            )
            plan = project(clocks, eta.legs, dwell=60)
            trip.eta_next_stop_legal = now + timedelta(minutes=plan.arrivals[0])
            trip.eta_final_legal = now + timedelta(minutes=plan.arrivals[-1])
            trip.hos_binding_clock = plan.binding.clock if plan.binding else None
            session.flush()
        elapsed = time.perf_counter() - started
        session.rollback()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trips", type=int, default=50_000)
    parser.add_argument("--baseline-sample", type=int, default=2_000, help="0 = every trip")
    args = parse_args(parser, smoke={"trips": 100, "baseline_sample": 20})

    database.create_database_if_missing(URL)
    engine = database.create_db_engine()
    database.set_engine(engine)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    database.init_db(engine)
    started = time.perf_counter()
    load(engine, args.trips)
    print(f"loaded {args.trips:,} active trips in {time.perf_counter() - started:.1f} s")

    cold = timed_pass("pass 1 (cold: every legal ETA written)", NOW)
    steady = [
        timed_pass(f"pass {n} (steady state)", NOW + timedelta(seconds=50 * (n - 1)))
        for n in range(2, 7)
    ]
    rewrite = timed_pass("pass with every legal ETA moved", NOW + timedelta(minutes=10))

    sample = args.baseline_sample or args.trips
    loop = baseline(sample, NOW + timedelta(minutes=2)) * args.trips / sample
    note = "" if sample == args.trips else f" (measured on {sample:,}, scaled)"
    print(f"{'per-trip ORM loop baseline':<40} legal {loop * 1000:6.0f} ms{note}")
    median = sorted(steady)[len(steady) // 2]
    print(
        f"\nlegal ETA steady pass over {args.trips:,} trips: best {min(steady) * 1000:.0f} ms, "
        f"median {median * 1000:.0f} ms ({'PASS' if median < 1.0 else 'FAIL'} < 1 s target); "
        f"cold {cold * 1000:.0f} ms; all moved {rewrite * 1000:.0f} ms; "
        f"per-trip loop x{loop / median:.0f} slower"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
