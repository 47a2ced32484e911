"""Fleet-domain benchmark on PostgreSQL (database `fleet_hub_bench_domain`, created if missing).

Fills a realistic fleet (600 trucks, 6,000 trips with stops, ~1.05M GPS points) with COPY, then
with 2 uvicorn workers drives, in one run: a bare one-primary-key-select endpoint, the trips list
(50 per page with driver, truck, trailer and last position) and the fleet latest-positions
endpoint; then the trips list gzip-compressed and polled with `If-None-Match` on unchanged data
(304s, answered before routing by services/http/not_modified.py). Prints req/s, p50/p99,
bytes per response, the ratio to the bare endpoint and to the full trips list, and EXPLAIN
ANALYZE of the latest-positions query.
Usage: .venv/bin/python bench/domain_bench.py [--seconds 10] [--clients 32] [--refill]

`--smoke`: tiny sizes, a few seconds, only to prove it still runs (`make test` runs it so).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = os.environ.get(
    "DOMAIN_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_domain"
)
os.environ.update(
    {
        "DATABASE_URL": BENCH_DB,
        "ENVIRONMENT": "development",
        "SECRET_KEY": "domain-bench-secret-key-0123456789-abcdefghijklmnop",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
    }
)

import httpx  # noqa: E402
from fastapi import APIRouter, FastAPI  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.loadgen import LoadResult, drive  # noqa: E402
from bench.support import copy_rows, free_port, parse_args, start_uvicorn, stop_server  # noqa: E402
from db.database import (  # noqa: E402
    create_database_if_missing,
    create_db_engine,
    session_scope,
    set_engine,
)
from services.deps import SessionDep  # noqa: E402

TRUCKS, DRIVERS, TRAILERS, TRIPS = 600, 700, 400, 6_000
POINTS_PER_TRUCK = 1_750  # every 2 minutes for ~2.4 days: 1,050,000 rows
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TERMINALS = ["Memphis", "Dallas", "Atlanta", "Chicago", "Denver"]


# --- the app under test: the real main API plus one bare endpoint --------------------------

bare = APIRouter(prefix="/bench")


@bare.get("/pk/{vehicle_id}")
def one_pk_select(vehicle_id: int, session: SessionDep) -> dict[str, object]:
    """The floor: same session/admission stack, one primary-key SELECT, no auth."""
    from models.vehicle import Vehicle

    vehicle = session.get(Vehicle, vehicle_id)
    return {"id": vehicle.id if vehicle else None}


def create_bench_app() -> FastAPI:
    from services import routers_main
    from services.http.app_factory import build_app

    return build_app(title="domain bench", routers=[*routers_main.ROUTERS, bare])


# --- data ---------------------------------------------------------------------------------


def fill(engine, refill: bool, points_per_truck: int = POINTS_PER_TRUCK) -> dict[str, int]:
    rng = random.Random(7)
    with engine.begin() as conn:
        points = conn.execute(text("SELECT count(*) FROM vehicle_location")).scalar()
        trips = conn.execute(text("SELECT count(*) FROM trip")).scalar()
    if not refill and points >= TRUCKS * points_per_truck and trips >= TRIPS:
        return {"vehicle_location": points, "trip": trips, "reused": 1}
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            "TRUNCATE vehicle_location, trip_stop, trip, hos_clock, hos_log, hos_violation, "
            "safety_event, vehicle, driver, trailer RESTART IDENTITY CASCADE"
        )
        stamp = NOW.isoformat()
        copy_rows(
            cursor,
            "vehicle",
            ["id", "samsara_id", "ditat_id", "unit_number", "name", "status", "terminal",
             "make", "model", "year", "created_at", "updated_at"],
            ((i, f"sam-v{i}", f"TRK{i}", f"{1000 + i}", f"Truck {1000 + i}", "active",
              TERMINALS[i % 5], "Freightliner", "Cascadia", 2018 + i % 7, stamp, stamp)
             for i in range(1, TRUCKS + 1)),
        )  # fmt: skip
        copy_rows(
            cursor,
            "driver",
            ["id", "samsara_id", "ditat_id", "first_name", "last_name", "phone", "status",
             "terminal", "timezone", "language", "do_not_call", "created_at", "updated_at"],
            ((i, f"sam-d{i}", f"DRV{i}", f"First{i}", f"Last{i}", f"+1201555{i % 10000:04d}",
              "active", TERMINALS[i % 5], "America/Chicago", "en", "f", stamp, stamp)
             for i in range(1, DRIVERS + 1)),
        )  # fmt: skip
        copy_rows(
            cursor,
            "trailer",
            ["id", "ditat_id", "unit_number", "trailer_type", "status", "terminal",
             "created_at", "updated_at"],
            ((i, f"TRL{i}", f"53-{i}", "dry_van", "active", TERMINALS[i % 5], stamp, stamp)
             for i in range(1, TRAILERS + 1)),
        )  # fmt: skip
        statuses = ["planned", "dispatched", "in_transit", "delivered", "delivered", "cancelled"]
        trip_rows, stop_rows = [], []
        for i in range(1, TRIPS + 1):
            start = NOW - timedelta(hours=rng.randint(-48, 24 * 30))
            trip_rows.append(
                (i, f"SH-{i:010d}", f"L{i:07d}", f"Customer {i % 90}", rng.choice(statuses),
                 rng.randint(1, DRIVERS), rng.randint(1, TRUCKS), rng.randint(1, TRAILERS),
                 TERMINALS[i % 5], start.isoformat(), (start + timedelta(hours=30)).isoformat(),
                 rng.randint(150, 1400), stamp, stamp)
            )  # fmt: skip
            for seq in range(1, rng.randint(2, 4) + 1):
                stop_rows.append(
                    (i, seq, "pickup" if seq == 1 else "delivery", "pending", f"Stop {seq}",
                     "Dallas", "TX", 32.7 + seq / 10, -96.8 - seq / 10,
                     (start + timedelta(hours=8 * seq)).isoformat())
                )  # fmt: skip
        copy_rows(
            cursor,
            "trip",
            ["id", "ditat_id", "load_number", "customer", "status", "driver_id", "vehicle_id",
             "trailer_id", "terminal", "scheduled_start", "scheduled_end", "planned_miles",
             "created_at", "updated_at"],
            trip_rows,
        )  # fmt: skip
        copy_rows(
            cursor,
            "trip_stop",
            ["trip_id", "sequence", "stop_type", "status", "name", "city", "state", "latitude",
             "longitude", "appointment_start"],
            stop_rows,
        )  # fmt: skip

        def points():
            first = NOW - timedelta(minutes=2 * points_per_truck)
            for vehicle_id in range(1, TRUCKS + 1):
                lat, lon = 30 + rng.random() * 12, -120 + rng.random() * 40
                for n in range(points_per_truck):
                    lat += rng.uniform(-0.01, 0.01)
                    lon += rng.uniform(-0.01, 0.01)
                    yield (vehicle_id, (first + timedelta(minutes=2 * n)).isoformat(),
                           round(lat, 6), round(lon, 6), round(rng.uniform(0, 70), 1),
                           rng.randint(0, 359), 100_000 + n)  # fmt: skip

        located = copy_rows(
            cursor,
            "vehicle_location",
            ["vehicle_id", "recorded_at", "latitude", "longitude", "speed_mph",
             "heading_degrees", "odometer_miles"],
            points(),
        )  # fmt: skip
        for table in ("vehicle", "driver", "trailer", "trip", "trip_stop"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return {
        "vehicle": TRUCKS,
        "trip": TRIPS,
        "trip_stop": len(stop_rows),
        "vehicle_location": located,
        "seconds": round(time.perf_counter() - started),
    }


def bench_token() -> str:
    from logic.auth.service import issue_session
    from models.user import Role, User, UserRole

    with session_scope() as session:
        user = User.get_by_username(session, "domain-bench")
        if user is None:
            user = User(
                username="domain-bench",
                email="domain-bench@example.com",
                hashed_password="!unusable",  # noqa: S106 (token-only bench account)
                full_name="Domain bench",
            )
            session.add(user)
            session.flush()
            (role,) = Role.get_many_by_name(session, ["dispatcher"])
            session.add(UserRole(user_id=user.id, role_id=role.id))
            session.flush()
        return issue_session(session, user).access_token


def explain(engine, work) -> list[str]:
    """EXPLAIN ANALYZE every SELECT that `work(session)` sends, with its real parameters."""
    from sqlalchemy import event
    from sqlmodel import Session

    sent: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append(cursor.mogrify(statement, parameters).decode())

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            work(session)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    plans = []
    with engine.connect() as conn:
        for sql in sent:
            rows = conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"))
            plans.append("\n".join(row[0] for row in rows))
    return plans


# --- load ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--refill", action="store_true")
    parser.add_argument("--points-per-truck", type=int, default=POINTS_PER_TRUCK)
    args = parse_args(
        parser, smoke={"seconds": 1.0, "clients": 4, "workers": 1, "points_per_truck": 5}
    )

    from logic.bootstrap import bootstrap_database

    create_database_if_missing(BENCH_DB)
    engine = create_db_engine()
    set_engine(engine)
    if args.refill:  # the bench's own database: rebuild tables so new indexes exist
        with engine.begin() as conn:
            conn.execute(text('DROP SCHEMA IF EXISTS "dev" CASCADE'))
    bootstrap_database(engine)
    print("data:", fill(engine, args.refill, args.points_per_truck))
    token = bench_token()
    from logic.fleet.trips import TripFilters, list_trips
    from logic.listing import PageRequest
    from models.location import VehicleLocation

    (latest_plan,) = explain(engine, VehicleLocation.latest_positions)
    print("\nEXPLAIN ANALYZE latest position of every truck:\n" + latest_plan)
    assert "Seq Scan on vehicle_location" not in latest_plan, "latest positions scans the table"
    trip_plans = explain(
        engine, lambda s: list_trips(s, TripFilters(), PageRequest(limit=50, offset=500))
    )
    print("\nEXPLAIN ANALYZE trips list page (count, page, positions):")
    for plan in trip_plans:
        print("\n".join(plan.splitlines()[:4]) + "\n  ...\n" + plan.splitlines()[-1])
    engine.dispose()

    trip_pages = [f"/trips?limit=50&offset={50 * i}" for i in range(20)]
    scenarios = {
        "bare PK select": ([f"/bench/pk/{i}" for i in range(1, 200)], {}),
        "trips list (50/page)": (trip_pages, {}),
        "trips list, gzip": (trip_pages, {"Accept-Encoding": "gzip"}),
        "trips list, If-None-Match": (trip_pages, {}),  # per-page ETags added once served
        "latest positions (600)": (["/locations/latest"], {}),
        "latest positions GeoJSON": (["/locations/latest.geojson"], {}),
    }
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / "domain-bench-server.log"
    server = start_uvicorn(
        "bench.domain_bench:create_bench_app", port, log_path, workers=args.workers, factory=True
    )
    results: dict[str, LoadResult] = {}
    auth = {"Authorization": f"Bearer {token}"}
    try:
        # What a polling dashboard holds after its first fetch: each page's ETag.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth) as http:
            etags = {path: {"If-None-Match": http.get(path).headers["etag"]} for path in trip_pages}
        warm = min(2.0, args.seconds)
        for paths, extra in scenarios.values():
            asyncio.run(
                drive(port, paths, clients=args.clients, seconds=warm, headers={**auth, **extra})
            )
        # Interleaved short rounds, so load from anything else on the machine hits every
        # scenario alike and the ratios stay meaningful.
        rounds = max(1, round(args.seconds / 2.5))
        for _ in range(rounds):
            for name, (paths, extra) in scenarios.items():
                polled = name.endswith("If-None-Match")
                part = asyncio.run(
                    drive(
                        port,
                        paths,
                        clients=args.clients,
                        seconds=args.seconds / rounds,
                        headers={**auth, **extra},
                        path_headers=etags if polled else None,
                        ok=(304,) if polled else (200,),
                    )
                )
                results.setdefault(name, LoadResult()).merge(part)
    finally:
        stop_server(server)
    floor = results["bare PK select"].rps
    print(
        f"\n{args.workers} uvicorn workers, PostgreSQL, {args.clients} clients, "
        f"{args.seconds:.0f} s each (load generator shares the {os.cpu_count()} CPUs):"
    )
    for name, r in results.items():
        print(
            f"  {name:26s} {r.rps:8.0f} req/s  p50 {r.p50_ms:7.1f} ms  p99 {r.p99_ms:7.1f} ms"
            f"  {r.bytes_per_response / 1024:7.1f} KiB/resp  ratio {r.rps / floor:5.2f}"
            f"  statuses {dict(r.statuses)}"
        )
    full, zipped = results["trips list (50/page)"], results["trips list, gzip"]
    polled = results["trips list, If-None-Match"]
    print(
        f"\ntrips list: gzip {full.bytes_per_response / max(zipped.bytes_per_response, 1):.1f}x "
        f"fewer bytes per response at {zipped.rps / full.rps:.2f}x the req/s; "
        f"If-None-Match on unchanged pages {polled.rps / full.rps:.2f}x the req/s "
        f"(target >= 5x)"
    )


if __name__ == "__main__":
    main()
