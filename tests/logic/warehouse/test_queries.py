"""Every analytical query parses as BigQuery SQL and, run on DuckDB over the exported files,
gives the figures computed here straight from the hub's own rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlglot
from sqlalchemy import select

from helpers.time_utils import utc_now
from logic.warehouse.tables import QUERY_DIR
from models.alert import Alert
from models.call import Call, CallInsight
from models.hos import HosViolation
from models.location import VehicleLocation
from models.safety_event import SafetyEvent
from models.trip import StopType, Trip, TripStop
from tests.factories import (
    make_driver,
    make_location,
    make_safety_event,
    make_trip,
    make_vehicle,
    make_violation,
)
from tests.factories_calls import make_call
from tests.factories_reports import make_insight
from tests.logic.warehouse import duck
from tests.logic.warehouse.support import make_alert

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
END = START + timedelta(days=14)
H = timedelta(hours=1)


@pytest.mark.parametrize("name", duck.query_names())
def test_every_query_is_one_bigquery_statement_with_declared_parameters(name):
    sql = (QUERY_DIR / f"{name}.sql").read_text()
    statements = sqlglot.parse(sql, read="bigquery")
    assert len(statements) == 1 and isinstance(statements[0], sqlglot.exp.Select)
    used = {p.name for p in statements[0].find_all(sqlglot.exp.Parameter)}
    header = sql.split("Parameters:", 1)[1].split("\n")[0:3]
    assert used and all(f"@{p}" in "".join(header) for p in used), used


def _stop(trip_stops, sequence, kind, state, *, due=None, arrived=None):
    return {"sequence": sequence, "stop_type": kind, "state": state,
            "appointment_end": due, "arrived_at": arrived}  # fmt: skip


@pytest.fixture
def warehouse(session, tmp_path):
    """A fortnight of varied facts, exported, loaded into DuckDB."""
    ann, bob, cyd = (make_driver(session, first_name=n) for n in ("Ann", "Bob", "Cyd"))
    trucks = [make_vehicle(session) for _ in range(3)]
    day = START + timedelta(days=2)
    make_trip(session, driver=ann, vehicle=trucks[0], customer="Acme", terminal="Memphis", stops=[
        _stop(None, 1, StopType.PICKUP, "TN", due=day, arrived=day),
        _stop(None, 2, StopType.DELIVERY, "TX", due=day + 8 * H, arrived=day + 7 * H),
    ])  # fmt: skip
    make_trip(session, driver=bob, vehicle=trucks[1], customer="Globex", terminal="Dallas", stops=[
        _stop(None, 1, StopType.PICKUP, "TX", due=day, arrived=day),
        _stop(None, 2, StopType.DELIVERY, "OK", due=day + 5 * H, arrived=day + 6 * H),
    ])  # fmt: skip
    later = START + timedelta(days=9)
    make_trip(session, driver=ann, vehicle=trucks[0], customer="Acme", terminal="Memphis", stops=[
        _stop(None, 1, StopType.PICKUP, "TN", due=later, arrived=later),
        _stop(None, 2, StopType.DELIVERY, "GA", due=later + 6 * H, arrived=later + 5 * H),
        _stop(None, 3, StopType.DELIVERY, "FL", due=later + 12 * H, arrived=later + 13 * H),
    ])  # fmt: skip
    make_trip(session, driver=cyd, vehicle=trucks[2], customer=None, terminal="Dallas", stops=[
        _stop(None, 1, StopType.PICKUP, "TX", due=END + H, arrived=END + H),
        _stop(None, 2, StopType.DELIVERY, "TX", due=END + 3 * H, arrived=END + 2 * H),
    ])  # fmt: skip
    make_safety_event(session, driver=ann, vehicle=trucks[0], occurred_at=day,
                      behavior_labels=["speeding"], severity="medium")  # fmt: skip
    make_safety_event(session, driver=ann, vehicle=trucks[0], occurred_at=later,
                      behavior_labels=["crash", "severeSpeeding"], severity="critical")  # fmt: skip
    make_safety_event(session, driver=bob, vehicle=trucks[1], occurred_at=day,
                      behavior_labels=["braking"], severity="medium")  # fmt: skip
    make_safety_event(session, driver=cyd, vehicle=trucks[2], occurred_at=END + H)
    make_violation(
        session, driver=ann, violation_type="shiftHours", started_at=day, duration_minutes=20
    )
    make_violation(
        session, driver=ann, violation_type="shiftHours", started_at=day + H, duration_minutes=None
    )
    make_violation(
        session, driver=bob, violation_type="cycleHours", started_at=later, duration_minutes=45
    )
    make_violation(session, driver=cyd, violation_type="shiftHours", started_at=START - H)
    for n, (truck, lat, lon, mph) in enumerate([
        (trucks[0], 35.14, -90.04, 78.0), (trucks[0], 35.16, -90.06, 81.0),
        (trucks[1], 35.149, -90.051, 74.5), (trucks[1], 32.77, -96.79, 80.0),
        (trucks[2], 32.78, -96.80, 55.0), (trucks[2], 32.76, -96.81, 90.0),
    ]):  # fmt: skip
        make_location(session, vehicle=truck, recorded_at=day + n * timedelta(minutes=7),
                      latitude=lat, longitude=lon, speed_mph=mph)  # fmt: skip
    make_location(session, vehicle=trucks[2], recorded_at=END + H, latitude=35.15,
                  longitude=-90.05, speed_mph=99.0)  # fmt: skip
    make_alert(session, fingerprint="speeding:vehicle:1", first_seen_at=day, occurrences=4,
               suppressed_count=2, status="resolved", notified_at=day)  # fmt: skip
    make_alert(session, fingerprint="speeding:vehicle:1", first_seen_at=day + H, occurrences=1)
    make_alert(session, fingerprint="gps_stale:vehicle:2", type="gps_stale", first_seen_at=later,
               occurrences=7, suppressed_count=5)  # fmt: skip
    make_alert(session, fingerprint="gps_stale:vehicle:2", type="gps_stale",
               first_seen_at=START - H, status="resolved")  # fmt: skip
    trips = session.scalars(select(Trip).order_by(Trip.id)).all()
    calls = [
        make_call(session, driver_id=ann.id, created_at=day, trip_id=trips[0].id,
                  status="ended", outcome="completed", started_at=day),
        make_call(session, driver_id=bob.id, created_at=day, trip_id=trips[1].id,
                  status="ended", outcome="completed", started_at=day),
        make_call(session, driver_id=ann.id, created_at=later, trip_id=trips[2].id,
                  status="ended", outcome="completed", started_at=later),
        make_call(session, driver_id=bob.id, created_at=later, status="ended",
                  outcome="no_answer"),
        make_call(session, driver_id=cyd.id, created_at=later, provider="elevenlabs",
                  purpose="violation_coaching", status="failed", outcome="failed", dialed=False),
        make_call(session, driver_id=cyd.id, created_at=END + H, status="ended",
                  outcome="completed", started_at=END + H),
    ]  # fmt: skip
    make_insight(session, call=calls[0], issues=["traffic"], reported_delay_minutes=30)
    make_insight(session, call=calls[1], issues=["traffic", "shipper_delay"],
                 reported_delay_minutes=90, needs_follow_up=True)  # fmt: skip
    make_insight(session, call=calls[2], issues=["weather"], reported_delay_minutes=None)
    make_insight(session, call=calls[5], issues=["breakdown"], reported_delay_minutes=240)
    session.commit()
    files = duck.export_files(tmp_path, utc_now() + timedelta(seconds=1))
    return duck.connect(files)


def _in(value, start=START, end=END):
    return value is not None and start <= value < end


def _week(value: datetime) -> date:
    d = value.date()
    return d - timedelta(days=d.weekday())


def _on_time(stop: TripStop) -> bool:
    return stop.arrived_at <= (stop.appointment_end or stop.appointment_start)


def _delivered(session):
    stops = session.scalars(select(TripStop).where(TripStop.stop_type == "delivery")).all()
    return [s for s in stops if _in(s.arrived_at)]


def test_driver_scorecard(session, warehouse):
    got = duck.run(warehouse, "driver_scorecard", start=START, end=END)

    trips = {t.id: t for t in session.scalars(select(Trip))}
    card: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for stop in _delivered(session):
        driver = trips[stop.trip_id].driver_id
        card[driver]["deliveries"] += 1
        card[driver]["on_time_deliveries"] += _on_time(stop)
    for event in session.scalars(select(SafetyEvent)):
        if _in(event.occurred_at):
            card[event.driver_id]["safety_events"] += 1
            card[event.driver_id]["severe_events"] += event.severity in ("high", "critical")
            card[event.driver_id]["speeding_events"] += any(
                "speeding" in label.lower() for label in event.behavior_labels
            )
    for violation in session.scalars(select(HosViolation)):
        if _in(violation.started_at):
            card[violation.driver_id]["hos_violations"] += 1
            card[violation.driver_id]["violation_minutes"] += violation.duration_minutes or 0
    fields = ["deliveries", "on_time_deliveries", "safety_events", "severe_events",
              "speeding_events", "hos_violations", "violation_minutes"]  # fmt: skip
    expected = []
    for driver, c in card.items():
        score = 100 - 10 * c["hos_violations"] - 5 * c["severe_events"]
        score -= 2 * (c["safety_events"] - c["severe_events"])
        score -= 5 * (c["deliveries"] - c["on_time_deliveries"])
        expected.append({"driver_id": driver, **{f: c[f] for f in fields}, "score": max(0, score)})
    expected.sort(key=lambda r: (r["score"], r["driver_id"]))

    assert got == expected
    assert len(got) == 2 and got[0]["score"] < 100  # Cyd's facts are all outside the range


def test_on_time_by_customer_terminal_and_lane(session, warehouse):
    got = duck.run(warehouse, "on_time_by_customer_terminal_lane", start=START, end=END)

    trips = {t.id: t for t in session.scalars(select(Trip))}
    stops = defaultdict(list)
    for stop in session.scalars(select(TripStop)):
        stops[stop.trip_id].append(stop)
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for stop in _delivered(session):
        trip = trips[stop.trip_id]
        ordered = sorted(stops[trip.id], key=lambda s: s.sequence)
        origin = next((s.state for s in ordered if s.stop_type == "pickup"), "?")
        destination = next((s.state for s in reversed(ordered) if s.stop_type == "delivery"), "?")
        keys = [("customer", trip.customer or "(none)"), ("terminal", trip.terminal or "(none)"),
                ("lane", f"{origin}->{destination}")]  # fmt: skip
        for key in keys:
            tally[key][0] += 1
            tally[key][1] += _on_time(stop)
    expected = [
        {"dimension": d, "value": v, "deliveries": n, "on_time": ok,
         "on_time_pct": round(100 * ok / n, 1)}
        for (d, v), (n, ok) in sorted(tally.items())
    ]  # fmt: skip

    assert got == expected
    assert {"dimension": "lane", "value": "TN->FL", "deliveries": 2, "on_time": 1,
            "on_time_pct": 50.0} in got  # fmt: skip


def test_hos_violation_trends(session, warehouse):
    got = duck.run(warehouse, "hos_violation_trends", start=START, end=END)

    groups = defaultdict(list)
    for v in session.scalars(select(HosViolation)):
        if _in(v.started_at):
            groups[(_week(v.started_at), v.violation_type)].append(v)
    expected = []
    for (week, kind), rows in sorted(groups.items()):
        minutes = [r.duration_minutes for r in rows if r.duration_minutes is not None]
        expected.append({
            "week": week, "violation_type": kind, "violations": len(rows),
            "drivers": len({r.driver_id for r in rows}),
            "total_minutes": sum(minutes), "avg_minutes": round(sum(minutes) / len(minutes), 1),
        })  # fmt: skip

    assert got == expected
    assert [r["week"] for r in got] == [date(2026, 3, 2), date(2026, 3, 9)]


def test_speeding_hot_spots(session, warehouse):
    params = {"start": START, "end": END, "min_speed_mph": 75.0, "cell_degrees": 0.1,
              "max_cells": 10}  # fmt: skip
    got = duck.run(warehouse, "speeding_hot_spots", **params)

    cells = defaultdict(list)
    for p in session.scalars(select(VehicleLocation)):
        if _in(p.recorded_at) and p.speed_mph is not None and p.speed_mph >= 75.0:
            key = (
                round(round(p.longitude / 0.1) * 0.1, 6),
                round(round(p.latitude / 0.1) * 0.1, 6),
            )
            cells[key].append(p)
    expected = [
        {"cell_longitude": lon, "cell_latitude": lat, "cell": {"lon": lon, "lat": lat},
         "points": len(ps), "vehicles": len({p.vehicle_id for p in ps}),
         "max_speed_mph": max(p.speed_mph for p in ps),
         "avg_speed_mph": round(sum(p.speed_mph for p in ps) / len(ps), 1)}
        for (lon, lat), ps in cells.items()
    ]  # fmt: skip
    expected.sort(key=lambda r: (-r["points"], r["cell_longitude"], r["cell_latitude"]))

    assert got == expected
    top = got[0]
    assert (top["cell_longitude"], top["cell_latitude"], top["points"], top["vehicles"]) == (
        -96.8,
        32.8,
        2,
        2,
    )
    assert len(got) == 3  # 74.5 mph is under the threshold, the 99 mph point after the range


def test_alert_noise(session, warehouse):
    got = duck.run(warehouse, "alert_noise", start=START, end=END)

    groups = defaultdict(list)
    for a in session.scalars(select(Alert)):
        if _in(a.first_seen_at):
            groups[(_week(a.first_seen_at), a.fingerprint)].append(a)
    expected = [
        {"week": week, "fingerprint": fp, "type": rows[0].type, "alerts": len(rows),
         "occurrences": sum(r.occurrences for r in rows),
         "suppressed": sum(r.suppressed_count for r in rows),
         "notified": sum(r.notified_at is not None for r in rows)}
        for (week, fp), rows in groups.items()
    ]  # fmt: skip
    expected.sort(key=lambda r: (r["week"], -r["alerts"], r["fingerprint"]))

    assert got == expected
    assert got[0] == {"week": date(2026, 3, 2), "fingerprint": "speeding:vehicle:1",
                      "type": "speeding", "alerts": 2, "occurrences": 5, "suppressed": 2,
                      "notified": 1}  # fmt: skip


def test_late_load_causes(session, warehouse):
    got = duck.run(warehouse, "late_load_causes", start=START, end=END)

    trips = {t.id: t for t in session.scalars(select(Trip))}
    causes = defaultdict(list)
    for insight in session.scalars(select(CallInsight)):
        if _in(insight.created_at):
            for cause in insight.issues:
                causes[cause].append(insight)
    expected = []
    for cause, rows in causes.items():
        delays = [r.reported_delay_minutes for r in rows if r.reported_delay_minutes is not None]
        customers = {trips[r.trip_id].customer for r in rows if r.trip_id in trips}
        expected.append({
            "cause": cause, "calls": len({r.call_id for r in rows}),
            "trips": len({r.trip_id for r in rows if r.trip_id is not None}),
            "customers": len(customers - {None}),
            "avg_reported_delay_minutes": round(sum(delays) / len(delays), 1) if delays else None,
        })  # fmt: skip
    expected.sort(key=lambda r: (-r["calls"], r["cause"]))

    assert got == expected
    assert got[0] == {"cause": "traffic", "calls": 2, "trips": 2, "customers": 2,
                      "avg_reported_delay_minutes": 60.0}  # fmt: skip


def test_call_outcome_funnel(session, warehouse):
    got = duck.run(warehouse, "call_outcome_funnel", start=START, end=END)

    insights = {i.call_id: i for i in session.scalars(select(CallInsight))}
    groups = defaultdict(list)
    for call in session.scalars(select(Call)):
        if _in(call.created_at):
            groups[(call.provider, call.purpose)].append(call)
    expected = []
    for (provider, purpose), rows in sorted(groups.items()):
        completed = sum(c.outcome == "completed" for c in rows)
        expected.append({
            "provider": provider, "purpose": purpose, "placed": len(rows),
            "dialed": sum(c.dialed_at is not None for c in rows),
            "connected": sum(c.started_at is not None for c in rows),
            "completed": completed,
            "with_insight": sum(c.id in insights for c in rows),
            "needs_follow_up": sum(
                c.id in insights and insights[c.id].needs_follow_up for c in rows
            ),
            "completed_pct": round(100 * completed / len(rows), 1),
        })  # fmt: skip

    assert got == expected
    assert got[1]["placed"] == 4 and got[1]["completed"] == 3 and got[1]["needs_follow_up"] == 1
