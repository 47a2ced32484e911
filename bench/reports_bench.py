"""Reports benchmark: 1,000 drivers x 30 days of facts on PostgreSQL (about 1M positions, 30k
trips, 50k safety events, 10k calls). Targets: every driver report for one day < 2 s, the fleet
morning report < 3 s — printed beside a per-driver loop, and pandas beside SQL aggregation.

Usage: .venv/bin/python bench/reports_bench.py [--drivers 1000] [--days 30] [--loop-sample 100]
Database: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_reports),
created if missing; schema `bench_reports` is dropped and rebuilt on every run.

`--smoke`: tiny sizes, a few seconds, only to prove it still runs (`make test` runs it so).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fleet_hub_bench_reports"
)
SCHEMA = "bench_reports"
os.environ.update(
    {
        "DATABASE_URL": URL,
        "DB_SCHEMA": SCHEMA,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "SLACK_BOT_TOKEN": "",
        "SMTP_HOST": "",
    }
)

import pandas as pd  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from bench.support import copy_rows, parse_args  # noqa: E402
from db import database  # noqa: E402

FIRST_DAY = date(2026, 2, 1)
TERMINALS = {
    "Memphis": "America/Chicago",
    "Dallas": "America/Chicago",
    "Phoenix": "America/Phoenix",
}
DUTY_DAY = (("driving", 13, 18), ("on_duty", 18, 19), ("driving", 19, 23), ("off_duty", 23, 37))
LABELS = [("HarshBrake", "medium"), ("Speeding", "medium"), ("MobileUsage", "high"),
          ("RollingStop", "low"), ("Crash", "critical")]  # fmt: skip


def _ts(value: datetime) -> str:
    return value.isoformat()


def load(engine, drivers: int, days: int) -> dict[str, int]:
    """Every driver drives one trip a day (07:00-17:00 local) with a truck reporting every
    18 minutes; HOS logs, violations, safety events and calls spread over the month."""
    rng = random.Random(11)
    raw = engine.raw_connection()
    cur = raw.cursor()
    now = _ts(datetime(2026, 3, 5, tzinfo=UTC))
    names = list(TERMINALS)
    copy_rows(
        cur,
        "report_recipients",
        ["terminal", "timezone", "slack_channels", "emails", "send_at", "enabled", "updated_at"],
        ((t, z, "[]", "[]", "06:00", "t", now) for t, z in TERMINALS.items()),
    )
    copy_rows(
        cur,
        "driver",
        ["id", "first_name", "last_name", "status", "terminal", "fleet_manager", "timezone",
         "language", "do_not_call", "created_at", "updated_at"],
        ((i, "Drv", str(i), "active", names[i % 3], f"FM{i % 10}", TERMINALS[names[i % 3]],
          "en", "f", now, now) for i in range(1, drivers + 1)),
    )  # fmt: skip
    copy_rows(
        cur,
        "vehicle",
        ["id", "unit_number", "status", "terminal", "created_at", "updated_at"],
        ((i, f"T{i}", "active", names[i % 3], now, now) for i in range(1, drivers + 1)),
    )
    counts = dict.fromkeys(("trips", "stops", "positions", "hos_logs", "violations", "events",
                            "calls"), 0)  # fmt: skip

    def trips():
        for d in range(days):
            base = datetime.combine(FIRST_DAY + timedelta(days=d), datetime.min.time(), UTC)
            for i in range(1, drivers + 1):
                tid = d * drivers + i
                start, end = base + timedelta(hours=13), base + timedelta(hours=23)
                late = rng.random() < 0.15
                actual_end = end + timedelta(minutes=rng.randint(10, 120) if late else -20)
                customer = f"Customer {tid % 40}"
                yield (tid, f"L{tid}", customer, "delivered", i, i, names[i % 3], _ts(start),
                       _ts(end), _ts(start), _ts(actual_end), 480.0, now, now)  # fmt: skip

    counts["trips"] = copy_rows(
        cur,
        "trip",
        ["id", "load_number", "customer", "status", "driver_id", "vehicle_id", "terminal",
         "scheduled_start", "scheduled_end", "actual_start", "actual_end", "planned_miles",
         "created_at", "updated_at"],
        trips(),
    )  # fmt: skip

    def stops():
        for d in range(days):
            base = datetime.combine(FIRST_DAY + timedelta(days=d), datetime.min.time(), UTC)
            for i in range(1, drivers + 1):
                tid = d * drivers + i
                pick, deliver = base + timedelta(hours=14), base + timedelta(hours=22)
                arrive = deliver + timedelta(minutes=rng.randint(-90, 45))
                yield (tid * 2 - 1, tid, 1, "pickup", "departed", _ts(pick), _ts(pick),
                       _ts(pick), _ts(pick + timedelta(minutes=40)))  # fmt: skip
                yield (tid * 2, tid, 2, "delivery", "departed", _ts(deliver - timedelta(hours=2)),
                       _ts(deliver), _ts(arrive), _ts(arrive + timedelta(minutes=30)))  # fmt: skip

    counts["stops"] = copy_rows(
        cur,
        "trip_stop",
        ["id", "trip_id", "sequence", "stop_type", "status", "appointment_start",
         "appointment_end", "arrived_at", "departed_at"],
        stops(),
    )  # fmt: skip

    def positions():
        for i in range(1, drivers + 1):
            odometer = 100_000.0 + i
            for d in range(days):
                base = datetime.combine(FIRST_DAY + timedelta(days=d), datetime.min.time(), UTC)
                for n in range(33):
                    odometer += rng.uniform(10, 16)
                    at = base + timedelta(hours=13, minutes=18 * n)
                    yield (i, _ts(at), 35.0, -90.0, 55.0, round(odometer, 2))

    counts["positions"] = copy_rows(
        cur,
        "vehicle_location",
        ["vehicle_id", "recorded_at", "latitude", "longitude", "speed_mph", "odometer_miles"],
        positions(),
    )

    def logs():
        n = 0
        for d in range(days):
            base = datetime.combine(FIRST_DAY + timedelta(days=d), datetime.min.time(), UTC)
            for i in range(1, drivers + 1):
                for status, begin, finish in DUTY_DAY:
                    n += 1
                    yield (n, i, status, _ts(base + timedelta(hours=begin)),
                           _ts(base + timedelta(hours=finish)))  # fmt: skip

    counts["hos_logs"] = copy_rows(
        cur, "hos_log", ["id", "driver_id", "duty_status", "start_at", "end_at"], logs()
    )
    span = days * 86_400

    def moment() -> datetime:
        return datetime.combine(FIRST_DAY, datetime.min.time(), UTC) + timedelta(
            seconds=rng.randrange(span)
        )

    counts["violations"] = copy_rows(
        cur,
        "hos_violation",
        ["id", "driver_id", "violation_type", "started_at"],
        ((n, rng.randint(1, drivers), rng.choice(["shiftHours", "cycleHours", "rest"]),
          _ts(moment() + timedelta(microseconds=n))) for n in range(1, 3001)),
    )  # fmt: skip

    def events():
        for n in range(1, 50_001):
            label, severity = rng.choice(LABELS)
            at = moment()
            ended = at + timedelta(minutes=rng.randint(1, 5))
            driver = rng.randint(1, drivers)
            yield (n, f"e{n}", driver, _ts(at), _ts(ended), json.dumps([label]), severity)

    counts["events"] = copy_rows(
        cur,
        "safety_event",
        ["id", "samsara_id", "driver_id", "occurred_at", "ended_at", "behavior_labels",
         "severity"],
        events(),
    )  # fmt: skip
    outcomes = ["completed", "completed", "no_answer", "voicemail", "busy"]
    calls = [(n, rng.randint(1, drivers), moment()) for n in range(1, 10_001)]
    counts["calls"] = copy_rows(
        cur,
        "call",
        ["id", "provider", "driver_id", "purpose", "variables", "to_number", "status", "outcome",
         "transcript", "created_at", "updated_at"],
        ((n, "vapi", drv, "late_load_check", "{}", "+15555550100", "ended", rng.choice(outcomes),
          "[]", _ts(at), _ts(at)) for n, drv, at in calls),
    )  # fmt: skip
    copy_rows(
        cur,
        "call_insight",
        ["call_id", "driver_id", "issues", "needs_follow_up", "provenance", "created_at",
         "updated_at"],
        ((n, drv, json.dumps([rng.choice(["traffic", "weather", "shipper_delay"])]),
          "t" if n % 7 == 0 else "f", "{}", _ts(at), _ts(at)) for n, drv, at in calls[::2]),
    )  # fmt: skip
    for table in ("driver", "vehicle", "trip", "trip_stop", "hos_log", "hos_violation",
                  "safety_event", "call"):  # fmt: skip
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))")  # fmt: skip
    raw.commit()
    cur.execute("ANALYZE")
    raw.commit()
    raw.close()
    return counts


def timed(label: str, work, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    runs = f" (median of {repeat}, best {min(times) * 1000:.0f} ms)" if repeat > 1 else ""
    print(f"{label:<52} {median * 1000:8.0f} ms{runs}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drivers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--loop-sample", type=int, default=100, help="drivers timed one by one")
    args = parse_args(parser, smoke={"drivers": 20, "days": 3, "loop_sample": 5})

    from logic.reports import morning, scorecards
    from logic.reports.driver_reports import build_driver_reports, compute_metrics
    from models.report import DriverReport

    database.create_database_if_missing(URL)
    engine = database.create_db_engine()
    database.set_engine(engine)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    database.init_db(engine)
    started = time.perf_counter()
    counts = load(engine, args.drivers, args.days)
    print(f"loaded {counts} in {time.perf_counter() - started:.1f} s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip

    last = FIRST_DAY + timedelta(days=args.days - 1)
    now = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=12)
    with database.session_scope() as session:
        build_all = timed(
            f"driver reports, all {args.days} days (history)",
            lambda: [
                build_driver_reports(session, FIRST_DAY + timedelta(d), now=now)
                for d in range(args.days - 1)
            ],
        )

    def one_day():
        with database.session_scope() as session:
            build_driver_reports(session, last, now=now)

    day = timed(f"every driver report for one day ({args.drivers:,} drivers)", one_day, repeat=5)

    sample = min(args.loop_sample, args.drivers)

    def loop():
        with database.session_scope() as session:
            for driver_id in range(1, sample + 1):
                compute_metrics(session, last, now=now, driver_ids=[driver_id])

    looped = timed(f"per-driver loop, {sample} drivers", loop) * args.drivers / sample
    print(f"{'per-driver loop, scaled to every driver':<52} {looped * 1000:8.0f} ms")

    def fleet_morning():
        with database.session_scope() as session:
            morning.generate(session, last + timedelta(days=1), terminal="", now=now)

    fleet = timed("fleet morning report (incl. yesterday's rebuild)", fleet_morning, repeat=3)

    def fleet_body():
        with database.session_scope() as session:
            morning.generate(
                session,
                last + timedelta(days=1),
                terminal="",
                now=now,
                rebuild_driver_reports=False,
            )

    timed("fleet morning report body alone (reports built)", fleet_body, repeat=3)

    def all_scopes():
        with database.session_scope() as session:
            morning.generate(session, last + timedelta(days=1), now=now)

    timed("every terminal + fleet morning report", all_scopes, repeat=3)

    # pandas beside SQL: the fleet KPIs over the month, and the per-terminal pivot of a day.
    with database.session_scope() as session:
        sql_kpis = timed(
            f"fleet KPIs over {args.days} days in SQL",
            lambda: scorecards.fleet_kpis(session, FIRST_DAY, last),
            repeat=5,
        )

        def pandas_kpis():
            stmt = select(DriverReport).where(DriverReport.report_date.between(FIRST_DAY, last))
            df = pd.read_sql(stmt, session.connection())
            totals = df[["miles", "hos_violations", "safety_events", "stops_on_time",
                         "stops_with_appointment"]].sum()  # fmt: skip
            outcomes = pd.DataFrame(df["call_outcomes"].tolist()).sum()
            return totals, outcomes

        pd_kpis = timed(f"fleet KPIs over {args.days} days in pandas", pandas_kpis, repeat=5)
        rows = scorecards.rows_for_day(session, last)
        from helpers import pandas_utils

        def pandas_pivot():
            df = pandas_utils.frame(rows, ["terminal", "miles", "hos_violations", "safety_score"])
            pandas_utils.pivot_by(df, "terminal", sums=("miles", "hos_violations"),
                                  means=("safety_score",))  # fmt: skip

        def sql_pivot():
            from sqlalchemy import func

            session.execute(
                select(DriverReport.terminal, func.count(), func.sum(DriverReport.miles),
                       func.sum(DriverReport.hos_violations), func.avg(DriverReport.safety_score))
                .where(DriverReport.report_date == last)
                .group_by(DriverReport.terminal)
            ).all()  # fmt: skip

        pd_pivot = timed("per-terminal pivot of one day, pandas (rows in memory)", pandas_pivot, 5)
        sq_pivot = timed("per-terminal pivot of one day, SQL GROUP BY", sql_pivot, 5)

    print(
        f"\nevery driver report for a day: {day * 1000:.0f} ms "
        f"({'PASS' if day < 2 else 'FAIL'} < 2 s); per-driver loop x{looped / day:.0f} slower\n"
        f"fleet morning report: {fleet * 1000:.0f} ms ({'PASS' if fleet < 3 else 'FAIL'} < 3 s)\n"
        f"history build {build_all:.1f} s; KPIs SQL {sql_kpis * 1000:.0f} ms vs pandas "
        f"{pd_kpis * 1000:.0f} ms; pivot pandas {pd_pivot * 1000:.1f} ms vs SQL "
        f"{sq_pivot * 1000:.1f} ms"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    engine.dispose()


if __name__ == "__main__":
    main()
