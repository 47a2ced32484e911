"""Warehouse export benchmark: 1,000,000 GPS points from PostgreSQL to the sandbox BigQuery.

Run by hand: `.venv/bin/python -m bench.warehouse_bench [--rows N]`. Database
`fleet_hub_bench_warehouse` (created if missing; override with BENCH_DATABASE_URL), schema `dev`,
dropped and refilled. The sandbox runs in its own process; each measured side runs in a fresh
child process so its peak RSS is its own:

- export: `export_tables(["vehicle_locations"])`, timed end to end and by phase. dump: `COPY …
  TO STDOUT` of `to_json` rows into a temporary NDJSON file (the exporter's own work, most of it
  PostgreSQL's). load: resumable uploads of ~32 MB parts over local HTTP to the sandbox, which
  reads each part into DuckDB in one statement (the file is in DuckDB's compact form, so the
  row-by-row checker does not run; sandbox/bigquery_rows.py). merge: the MERGE, run by DuckDB.
  Printed: each phase, the total with rows/s, and the exporter process's peak RSS (the sandbox
  runs in its own process and is not counted). The load and MERGE figures are the fake's, not
  BigQuery's: a real load job adds network time and BigQuery's own job latency.
- naive: `pandas.read_sql("SELECT * FROM vehicle_location").to_json(lines=True)` of the same
  table to a file (no load at all), with its time and peak RSS.

`--smoke`: tiny sizes, a few seconds, only to prove it still runs (`make test` runs it so).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

BENCH_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_warehouse"
)
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["DATABASE_URL"] = BENCH_URL

from bench.support import ROOT, copy_rows, free_port, parse_args, start_uvicorn, stop_server  # noqa: E402
from config import get_settings  # noqa: E402
from db import database  # noqa: E402

VEHICLES = 500


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(rows: int) -> None:
    from sqlalchemy import text

    database.create_database_if_missing(BENCH_URL)
    get_settings.cache_clear()
    engine = database.create_db_engine(get_settings(), url=BENCH_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{get_settings().DB_SCHEMA}" CASCADE'))
    database.init_db(engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            copy_rows(cursor, "vehicle", ["unit_number", "status"],
                      ((f"T{v:04d}", "active") for v in range(VEHICLES)))  # fmt: skip
            cursor.execute("SELECT min(id) FROM vehicle")
            first_id = cursor.fetchone()[0]
            points = (
                (first_id + n % VEHICLES, (start + timedelta(seconds=30 * (n // VEHICLES))),
                 35.0 + (n % 997) / 1000, -90.0 - (n % 991) / 1000, float(n % 80),
                 float(n % 360), None)
                for n in range(rows)
            )  # fmt: skip
            columns = ["vehicle_id", "recorded_at", "latitude", "longitude", "speed_mph",
                       "heading_degrees", "odometer_miles"]  # fmt: skip
            copy_rows(cursor, "vehicle_location", columns, points)
            cursor.execute("ANALYZE vehicle_location")
        raw.commit()
    finally:
        raw.close()
    engine.dispose()


def child_export(sandbox_url: str) -> dict:
    from sandbox.credentials import sandbox_settings_env

    env = sandbox_settings_env(sandbox_url)
    os.environ.update({k: env[k] for k in ("GOOGLE_CLOUD_PROJECT", "BIGQUERY_DATASET",
                                            "BIGQUERY_API_ENDPOINT")})  # fmt: skip
    os.environ["WAREHOUSE_SETTLE_SECONDS"] = "0"
    get_settings.cache_clear()
    from logic.warehouse import export
    from logic.warehouse.bigquery import Warehouse

    phases: dict[str, float] = {}

    def timed(name, method):
        def wrapper(*args):
            began = time.perf_counter()
            try:
                return method(*args)
            finally:
                phases[name] = time.perf_counter() - began

        return wrapper

    Warehouse.load_staging = timed("load", Warehouse.load_staging)
    Warehouse.merge_staging = timed("merge", Warehouse.merge_staging)
    export.dump_changes = timed("dump", export.dump_changes)
    began = time.perf_counter()
    result = export.export_tables(["vehicle_locations"], trigger="bench")
    total = time.perf_counter() - began
    run = result.runs[0]
    if run.status != "succeeded":
        raise SystemExit(f"export failed: {run.error}")
    return {"rows": run.fetched, "inserted": run.inserted, "total_s": total, **phases,
            "peak_rss_mb": _peak_rss_mb()}  # fmt: skip


def child_naive() -> dict:
    import pandas as pd

    engine = database.create_db_engine(get_settings(), url=BENCH_URL)
    with tempfile.NamedTemporaryFile(suffix=".ndjson") as out:
        began = time.perf_counter()
        frame = pd.read_sql("SELECT * FROM vehicle_location", engine)
        frame.to_json(out.name, orient="records", lines=True, date_format="iso")
        seconds = time.perf_counter() - began
    return {"rows": len(frame), "total_s": seconds, "peak_rss_mb": _peak_rss_mb()}


def _run_child(*args: str) -> dict:
    output = subprocess.run(
        [sys.executable, "-m", "bench.warehouse_bench", "--child", *args],
        cwd=ROOT, check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parse_args(parser, smoke={"rows": 2_000})
    if args.child:
        kind, *rest = args.child
        print(json.dumps(child_export(rest[0]) if kind == "export" else child_naive()))
        return

    print(f"preparing {args.rows:,} GPS points in {BENCH_URL.rsplit('/', 1)[-1]} …")
    prepare(args.rows)
    port = free_port()
    log = Path(tempfile.gettempdir()) / "warehouse-bench-sandbox.log"
    sandbox = start_uvicorn("sandbox.app:app", port, log, ready_path="/_sandbox/faults")
    try:
        exported = _run_child("export", f"http://127.0.0.1:{port}")
        tables = httpx.get(f"http://127.0.0.1:{port}/_sandbox/bigquery/tables").json()["tables"]
    finally:
        stop_server(sandbox)
    stored = next(t["rows"] for t in tables if t["table"] == "vehicle_locations")
    naive = _run_child("naive")

    rows = exported["rows"]
    print(f"\nexport of {rows:,} rows to the sandbox BigQuery (NDJSON, staging + MERGE)")
    print(f"  dump  database → NDJSON file   {exported['dump']:6.2f} s  "
          f"{rows / exported['dump']:>10,.0f} rows/s")  # fmt: skip
    print(f"  load  upload + fake's DuckDB   {exported['load']:6.2f} s")
    print(f"  merge fake's MERGE (DuckDB)    {exported['merge']:6.2f} s")
    print(f"  total                          {exported['total_s']:6.2f} s  "
          f"{rows / exported['total_s']:>10,.0f} rows/s")  # fmt: skip
    print(f"  exporter peak RSS              {exported['peak_rss_mb']:6.0f} MB")
    print(f"  rows in the sandbox's table    {stored:>9,}")
    print(f"naive pandas.read_sql(...).to_json(lines=True) of {naive['rows']:,} rows (no load)")
    print(f"  total                          {naive['total_s']:6.2f} s  "
          f"{naive['rows'] / naive['total_s']:>10,.0f} rows/s")  # fmt: skip
    print(f"  peak RSS                       {naive['peak_rss_mb']:6.0f} MB")


if __name__ == "__main__":
    main()
