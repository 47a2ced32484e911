"""Location ingest benchmark (run by hand): ≥1M rows through the real mapping + upsert path.

    .venv/bin/python bench/ingest_bench.py [--rows 1000000] [--page 10000] [--naive 5000]

Pages are generated in-process in the exact shape of Samsara's `/fleet/vehicles/locations/feed`
(`{id, name, locations: [{time, latitude, longitude, heading, speed, reverseGeo}]}`), one page
at a time (streamed, never the whole feed), by an object standing in for the client's raw pager;
`samsara.ingest_locations` runs unchanged on it: prefetch (decoding, validation, mapping and
COPY text on a helper thread), `RunHandle.write_page`, `write_location_batch` (vehicle
resolution), `insert_new` (COPY into a staging table + `INSERT … ON CONFLICT DO NOTHING`),
committing page, cursor and run counters together exactly as a real run does. The naive
baseline adds and commits one ORM row at a time. Database: PostgreSQL
`fleet_hub_bench_ingest` (created if missing; override with BENCH_DATABASE_URL), schema `dev`,
emptied first.

`--smoke`: tiny sizes, a few seconds, only to prove it still runs (`make test` runs it so).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

BENCH_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_ingest"
)
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["DATABASE_URL"] = BENCH_URL

from bench.support import parse_args  # noqa: E402
from config import get_settings  # noqa: E402
from db import database  # noqa: E402

VEHICLES = 500


def feed_pages(rows: int, page_size: int, start: datetime):
    """Samsara-shaped feed pages, decoded from JSON text as the client would decode them.

    One page template (every vehicle reporting once a minute) is rendered once; each page moves
    it to its own day with a string replace, so pages are distinct rows and cost what a real
    page costs on our side: `json.loads` plus our mapping, nothing more.
    """
    per_vehicle = max(1, page_size // VEHICLES)
    day0 = start.strftime("%Y-%m-%dT")
    items = []
    for v in range(VEHICLES):
        points = [
            {
                "time": (start + timedelta(minutes=k, seconds=v % 60))
                .isoformat()
                .replace("+00:00", "Z"),
                "latitude": 30.0 + (v % 100) * 0.1 + k * 0.001,
                "longitude": -95.0 + (v // 100) * 0.1 + k * 0.001,
                "heading": float((v * 7 + k) % 360),
                "speed": 55.0 + (k % 10),
                "reverseGeo": {"formattedLocation": f"I-{10 + v % 80}, mile {k}"},
            }
            for k in range(per_vehicle)
        ]
        items.append({"id": f"28147497{v:07d}", "name": f"T{v:04d}", "locations": points})
    template = json.dumps({"data": items})
    per_page = per_vehicle * VEHICLES
    made, page = 0, 0
    while made < rows:
        day = (start + timedelta(days=page)).strftime("%Y-%m-%dT")
        data = json.loads(template.replace(day0, day))["data"]
        if made + per_page > rows:  # the last page is short
            data = data[: (rows - made) // per_vehicle or 1]
        made += sum(len(item["locations"]) for item in data)
        page += 1
        yield data, f"cursor-{page}"


class PeakRss:
    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss

    def sample(self) -> None:
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def mib(self) -> float:
        max_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        return max(self.peak, max_rss_kib * 1024) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--page", type=int, default=500, help="points per vendor page")
    parser.add_argument("--naive", type=int, default=5_000, help="rows in the naive baseline")
    args = parse_args(parser, smoke={"rows": 2_000, "naive": 200})

    database.create_database_if_missing(BENCH_URL)
    get_settings.cache_clear()
    engine = database.create_db_engine(get_settings(), url=BENCH_URL)
    database.set_engine(engine)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{get_settings().DB_SCHEMA}" CASCADE'))
    database.init_db(engine)

    from logic.ingest import samsara
    from logic.ingest.runner import execute, start_run
    from models.location import VehicleLocation
    from models.vehicle import Vehicle

    rss = PeakRss()
    start = datetime(2015, 1, 1, tzinfo=UTC)  # one day per page: stays in the past

    class GeneratedFeed:
        """Stands where the Samsara client's raw pager stands: `(data, endCursor, more)`."""

        def pages(self, path: str, params: dict, *, after: str | None = None):
            for items, cursor in feed_pages(args.rows, args.page, start):
                rss.sample()
                yield items, cursor, True

    def body(run) -> None:
        samsara.ingest_locations(run, GeneratedFeed())

    began = time.perf_counter()
    summary = execute(start_run("bench", "locations", trigger="bench"), body)
    fast_s = time.perf_counter() - began
    if summary.status != "succeeded" or summary.inserted != args.rows:
        print(f"bench run failed: {summary.status} {summary.error} {summary.inserted}")
        return 1
    fast_rate = args.rows / fast_s

    # Naive: one ORM object and one commit per row, on fresh timestamps (all inserts).
    with Session(engine) as session:
        vehicle_id = session.scalar(select(Vehicle.id).limit(1))
    naive_start = start - timedelta(days=30)  # before every generated page
    began = time.perf_counter()
    with Session(engine) as session:
        for i in range(args.naive):
            session.add(
                VehicleLocation(
                    vehicle_id=vehicle_id,
                    recorded_at=naive_start + timedelta(seconds=i),
                    latitude=35.0,
                    longitude=-90.0,
                    speed_mph=55.0,
                    heading_degrees=90.0,
                    formatted_address="I-40",
                )
            )
            session.commit()
    naive_s = time.perf_counter() - began
    naive_rate = args.naive / naive_s
    rss.sample()

    print(f"database         {make_url(BENCH_URL).render_as_string(hide_password=True)}")
    print(f"source           in-process Samsara-shaped feed pages of {args.page} points (JSON)")
    print(f"bulk path        {args.rows:,} rows in {fast_s:.1f} s = {fast_rate:,.0f} rows/s "
          f"({summary.pages} pages, run {summary.id})")  # fmt: skip
    print(f"naive ORM        {args.naive:,} rows in {naive_s:.1f} s = {naive_rate:,.0f} rows/s")
    print(f"ratio            {fast_rate / naive_rate:.1f}x")
    print(f"peak RSS         {rss.mib:.0f} MiB")
    ok = fast_rate >= 80_000 and fast_rate / naive_rate >= 40 and rss.mib < 300
    print("targets          " + ("met" if ok else "NOT met") + " (≥80k rows/s, ≥40x, <300 MiB)")
    engine.dispose()
    return 0  # a missed target is reported above; only a failed run fails the command


if __name__ == "__main__":
    sys.exit(main())
