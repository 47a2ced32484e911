"""Stop-visit pass benchmark: 10,000 active trips (20,000 stops) and 1,000,000 positions on
PostgreSQL; the steady pass (target < 300 ms) beside a per-trip loop, and the whole alert pass
with visits and detention (target < 1 s), in the same run.

Fleet: 15% of trucks parked at their stop (most past free time; one in ten drives off during
the run), 5% approaching from 3 miles (they arrive during the run), the rest on the road far
from any stop. Before each steady pass one new position per truck is loaded (an ingest of one
minute), as in production, so steady passes see arrivals and departures.

Usage: .venv/bin/python bench/stop_visits_bench.py [--trips 10000] [--points 100] [--passes 7]
[--smoke]
Database: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_visits),
created if missing; schema `bench_visits` is dropped and rebuilt on every run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_visits"
)
SCHEMA = "bench_visits"
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
MILE = 1 / 69.05


def load(engine, trips: int, points: int) -> tuple[dict[int, tuple[float, float, str]], dict]:
    """COPY the fleet; returns each truck's (lat, lon, kind) for the per-pass new points."""
    rng = random.Random(11)
    raw = engine.raw_connection()
    cur = raw.cursor()
    ts = NOW.isoformat()
    copy_rows(
        cur,
        "driver",
        ["id", "first_name", "last_name", "status", "language", "do_not_call", "created_at",
         "updated_at"],
        ((i, "Drv", str(i), "active", "en", "f", ts, ts) for i in range(1, trips + 1)),
    )  # fmt: skip
    copy_rows(
        cur,
        "vehicle",
        ["id", "unit_number", "status", "created_at", "updated_at"],
        ((i, f"T{i}", "active", ts, ts) for i in range(1, trips + 1)),
    )
    copy_rows(
        cur,
        "trip",
        ["id", "load_number", "customer", "status", "driver_id", "vehicle_id", "created_at",
         "updated_at"],
        ((i, f"L{i}", f"Customer {i % 40}", "in_transit", i, i, ts, ts)
         for i in range(1, trips + 1)),
    )  # fmt: skip
    fleet: dict[int, tuple[float, float, str]] = {}
    stops = []
    for i in range(1, trips + 1):
        r = rng.random()
        kind = "parked" if r < 0.15 else "approaching" if r < 0.20 else "road"
        s_lat, s_lon = 30 + rng.random() * 12, -100 + rng.random() * 20
        if kind == "parked":
            lat, lon = s_lat + 0.1 * MILE, s_lon
        elif kind == "approaching":
            lat, lon = s_lat + 3 * MILE, s_lon
        else:
            lat, lon = s_lat + rng.uniform(0.5, 3), s_lon + rng.uniform(-2, 2)
        fleet[i] = (lat, lon, kind)
        # Parked trucks' appointments began 1-5 h ago; the others' are hours ahead.
        ahead = kind != "parked"
        appointment = NOW + timedelta(hours=rng.choice([1, 3, 5]) * (8 if ahead else -1))
        stops.append((i * 2 - 1, i, 1, "pickup", "departed", s_lat - 1, s_lon, f"Shipper {i}",
                      (NOW - timedelta(hours=9)).isoformat(), None,
                      (NOW - timedelta(hours=8)).isoformat()))  # fmt: skip
        stops.append((i * 2, i, 2, "delivery", "pending", s_lat, s_lon, f"DC {i % 500}",
                      appointment.isoformat(), (appointment + timedelta(hours=2)).isoformat(),
                      None))  # fmt: skip
    copy_rows(
        cur,
        "trip_stop",
        ["id", "trip_id", "sequence", "stop_type", "status", "latitude", "longitude", "name",
         "appointment_start", "appointment_end", "departed_at"],
        stops,
    )  # fmt: skip

    def location_rows():
        for i in range(1, trips + 1):
            lat, lon, kind = fleet[i]
            # Parked trucks arrived 1-6 h ago (before that they drove in from the south).
            parked_since = points - (i % 6 + 1) * 20 if kind == "parked" else points
            for k in range(points):
                at = NOW - timedelta(minutes=3 * (points - 1 - k))
                if kind == "parked" and k < parked_since:
                    yield (i, at.isoformat(), lat - (parked_since - k) * 0.5 * MILE, lon, 50.0)
                else:
                    yield (i, at.isoformat(), lat, lon, 0.0 if kind == "parked" else 55.0)

    copy_rows(
        cur,
        "vehicle_location",
        ["vehicle_id", "recorded_at", "latitude", "longitude", "speed_mph"],
        location_rows(),
    )
    for table in ("driver", "vehicle", "trip", "trip_stop"):
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )
    raw.commit()
    raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    counts: dict[str, int] = {}
    for _, _, kind in fleet.values():
        counts[kind] = counts.get(kind, 0) + 1
    return fleet, counts


def moved(i: int, lat: float, kind: str, minute: int) -> float:
    """Where truck `i` is `minute` minutes after NOW: approaching trucks close in at 0.6 mi a
    minute (they cross their fence mid-run), one parked truck in ten leaves at 1 mi a minute,
    the rest stay put (parked at the dock, or far out on the road)."""
    if kind == "approaching":
        return lat - min(2.95, 0.6 * minute) * MILE
    if kind == "parked" and i % 10 == 0 and minute > 2:
        return lat + (minute - 2) * MILE
    return lat


def add_minute(engine, fleet: dict[int, tuple[float, float, str]], minute: int) -> None:
    """One new position per truck (the next minute's ingest)."""
    at = (NOW + timedelta(minutes=minute)).isoformat()
    raw = engine.raw_connection()
    cur = raw.cursor()
    copy_rows(
        cur,
        "vehicle_location",
        ["vehicle_id", "recorded_at", "latitude", "longitude", "speed_mph"],
        ((i, at, moved(i, lat, kind, minute), lon, 0.0 if kind == "parked" else 55.0)
         for i, (lat, lon, kind) in fleet.items()),
    )  # fmt: skip
    raw.commit()
    raw.close()


def visit_pass(now: datetime) -> tuple[float, float, dict]:
    """(snapshot seconds, stop-visit pass seconds, report) in one committed transaction."""
    from logic.alerts.positions import build_latest_positions
    from logic.trips.stop_visits import track_stop_visits

    with database.session_scope() as session:
        session.execute(text("SET LOCAL jit = off"))
        started = time.perf_counter()
        positions = build_latest_positions(session)
        snap = time.perf_counter() - started
        started = time.perf_counter()
        report = track_stop_visits(session, now=now, positions=positions)
        elapsed = time.perf_counter() - started
    return snap, elapsed, report.as_dict()


def alert_pass(now: datetime) -> tuple[float, dict]:
    from logic.alerts import engine

    started = time.perf_counter()
    with database.session_scope() as session:
        result = engine.evaluate(session, now=now)
    return time.perf_counter() - started, {str(k): v for k, v in result.timings_ms.items()}


def per_trip_loop(now: datetime) -> float:
    """The naive design: per trip, its stops, then its positions of the lookback, in Python."""
    from config import get_settings
    from logic.trips.stop_visits import Fence, TrackState, advance
    from models.location import VehicleLocation
    from models.trip import Trip, TripStop

    settings = get_settings()
    since = now - timedelta(minutes=settings.STOP_VISIT_LOOKBACK_MINUTES)
    started = time.perf_counter()
    with database.session_scope() as session:
        trips = session.scalars(select(Trip).where(Trip.status == "in_transit")).all()
        for trip in trips:
            stops = session.scalars(
                select(TripStop).where(TripStop.trip_id == trip.id).order_by(TripStop.sequence)
            ).all()
            stop = next((s for s in stops if not s.is_done), None)
            if stop is None:
                continue
            points = session.execute(
                select(VehicleLocation.recorded_at, VehicleLocation.latitude,
                       VehicleLocation.longitude)
                .where(VehicleLocation.vehicle_id == trip.vehicle_id)
                .where(VehicleLocation.recorded_at > since)
                .order_by(VehicleLocation.recorded_at)
            ).all()  # fmt: skip
            advance(
                TrackState(),
                [tuple(p) for p in points],
                Fence(stop.latitude, stop.longitude, settings.STOP_GEOFENCE_RADIUS_MILES),
                now=now,
                min_points=settings.STOP_VISIT_POINTS,
                min_minutes=settings.STOP_VISIT_MINUTES,
                exit_factor=settings.STOP_GEOFENCE_EXIT_FACTOR,
            )
        session.rollback()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trips", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=100, help="positions per truck")
    parser.add_argument("--passes", type=int, default=7, help="steady passes")
    args = parse_args(parser, smoke={"trips": 50, "points": 5, "passes": 2})

    database.create_database_if_missing(URL)
    engine = database.create_db_engine()
    database.set_engine(engine)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    database.init_db(engine)
    started = time.perf_counter()
    fleet, kinds = load(engine, args.trips, args.points)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM vehicle_location")).scalar()
        stops = conn.execute(text("SELECT count(*) FROM trip_stop")).scalar()
    print(
        f"loaded {args.trips:,} active trips, {stops:,} stops, {rows:,} positions in "
        f"{time.perf_counter() - started:.1f} s; fleet: {kinds}"
    )
    snap, cold, report = visit_pass(NOW)
    print(f"stop-visit pass 1 (cold)  {cold * 1000:7.0f} ms  (snapshot {snap * 1000:.0f} ms) "
          f"{report}")  # fmt: skip
    steady = []
    for n in range(1, args.passes + 1):
        now = NOW + timedelta(minutes=n)
        add_minute(engine, fleet, n)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE stop_track"))
        snap, elapsed, report = visit_pass(now)
        steady.append(elapsed)
        print(f"stop-visit pass {n + 1} (steady) {elapsed * 1000:6.0f} ms  "
              f"(snapshot {snap * 1000:.0f} ms) {report}")  # fmt: skip
    loop = per_trip_loop(NOW + timedelta(minutes=args.passes))
    print(f"per-trip loop (same fleet)  {loop * 1000:7.0f} ms")
    alerts = []
    for n in range(1, 4):
        now = NOW + timedelta(minutes=args.passes + n)
        add_minute(engine, fleet, args.passes + n)
        elapsed, timings = alert_pass(now)
        alerts.append(elapsed)
        print(f"whole alert pass {n}        {elapsed * 1000:7.0f} ms  {timings}")
    median = statistics.median(steady)
    alert_median = statistics.median(alerts)
    print(
        f"\nsteady stop-visit pass: median {median * 1000:.0f} ms, best "
        f"{min(steady) * 1000:.0f} ms ({'PASS' if median < 0.3 else 'FAIL'} < 300 ms); "
        f"per-trip loop x{loop / median:.0f} slower; whole alert pass median "
        f"{alert_median * 1000:.0f} ms ({'PASS' if alert_median < 1.0 else 'FAIL'} < 1 s)"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
