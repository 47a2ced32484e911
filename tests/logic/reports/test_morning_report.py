"""The morning report body on hand-made facts; regenerating it overwrites the same row."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from logic.reports import morning, scorecards
from models.ingest import IngestRun
from models.report import MorningReport
from models.trip import TripStatus
from models.vendor_cache import WeatherCache
from tests.factories import make_driver, make_trip
from tests.logic.reports.morning_facts import NOW, REPORT_DATE, make_morning_facts


def _body(session, terminal="Memphis"):
    [report] = morning.generate(session, REPORT_DATE, terminal=terminal, now=NOW)
    return report.body


def test_loads_late_list_with_reasons_from_calls(session):
    facts = make_morning_facts(session)
    body = _body(session)
    assert body["yesterday"] == "2026-03-10" and body["timezone"] == "America/Chicago"
    assert body["loads"] == {
        "on_time": 1,
        "late": 1,
        "by_customer": [
            {"customer": "Beta Retail", "on_time": 0, "late": 1},
            {"customer": "Acme Foods", "on_time": 1, "late": 0},
        ],
    }
    [late] = body["late_loads"]
    assert late["trip_id"] == facts.late.id and late["late_minutes"] == 100.0
    assert late["driver"] == "Riley Risky"
    assert late["reasons"][0]["issues"] == ["shipper_delay"]
    assert late["reasons"][0]["reported_delay_minutes"] == 45


def test_alerts_risk_calls_and_follow_ups(session):
    facts = make_morning_facts(session)
    body = _body(session)
    assert [a["title"] for a in body["critical_alerts"]] == ["Riley Risky: HOS violation"]
    [risky] = body["drivers_at_risk"]
    assert risky["driver_id"] == facts.risky.id
    assert risky["reasons"] == [
        "safety score 68 yesterday",  # 100 - 3 violations x 10 - 1 late stop x 2
        "3 HOS violations in 7 days",
        "30 min of drive time left",
    ]
    assert risky["violations_7d"] == 3 and risky["drive_remaining_minutes"] == 30
    assert body["calls"] == {"total": 2, "outcomes": {"completed": 1, "no_answer": 1}}
    [follow_up] = body["follow_ups"]
    assert follow_up["reason"] == "receiver wants a new appointment"


def test_kpis_match_the_fleet_endpoint_numbers(session):
    make_morning_facts(session)
    body = _body(session)
    yesterday = REPORT_DATE - timedelta(days=1)
    kpis = scorecards.fleet_kpis(session, yesterday, yesterday, terminal="Memphis")
    assert body["kpis"]["on_time_pct"] == kpis.totals.on_time_pct == 50.0
    assert body["kpis"]["miles"] == kpis.totals.miles == 500.0
    assert body["kpis"]["hos_violations"] == 3
    assert body["kpis"]["violations_per_1000_miles"] == kpis.totals.violations_per_1000_miles == 6.0


def test_terminal_scope_leaves_other_terminals_out(session):
    make_morning_facts(session)
    elsewhere = make_driver(session, terminal="Dallas")
    make_trip(
        session,
        driver=elsewhere,
        terminal="Dallas",
        status=TripStatus.DELIVERED,
        actual_end=NOW - timedelta(hours=20),
    )
    assert _body(session)["loads"]["on_time"] + _body(session)["loads"]["late"] == 2
    fleet = _body(session, terminal="")
    assert fleet["loads"]["on_time"] + fleet["loads"]["late"] == 3


def test_integration_health_and_weather_watch(session):
    make_morning_facts(session)
    session.add(
        IngestRun(
            source="samsara",
            entity="locations",
            status="succeeded",
            trigger="schedule",
            started_at=NOW - timedelta(hours=2),
            finished_at=NOW - timedelta(hours=2),
        )
    )
    trip = make_trip(
        session,
        status=TripStatus.IN_TRANSIT,
        stops=[{"city": "Tulsa", "state": "OK", "latitude": 36.15, "longitude": -95.99}],
    )
    session.add(
        WeatherCache(
            area_key="36.1,-96.0",
            lat=36.1,
            lon=-96.0,
            conditions={},
            alerts=[{"event": "Winter Storm Warning", "severity": "Severe", "headline": "Snow"}],
            fetched_at=NOW - timedelta(minutes=30),
            expires_at=NOW - timedelta(minutes=25),
        )
    )
    session.flush()
    body = _body(session)
    locations = next(h for h in body["integration_health"] if h["entity"] == "locations")
    assert (locations["status"], locations["lag_seconds"]) == ("stale", 7200)
    [watch] = body["weather_watch"]
    assert watch["trip_id"] == trip.id
    assert watch["places"][0]["alerts"][0]["event"] == "Winter Storm Warning"


def test_regenerating_overwrites_one_row_per_date_and_scope(session):
    make_morning_facts(session)
    first = _body(session)
    second = _body(session)
    assert first == second
    count = session.scalar(select(func.count()).select_from(MorningReport))
    assert count == 1


def test_rendered_report_uses_one_duration_format_and_lists_each_follow_up_once(session):
    from logic.reports import render

    make_morning_facts(session)
    body = _body(session)
    text = render.slack_message(body)[0] + "".join(
        line for _, lines in render.sections(body) for line in lines
    )
    [late] = dict(render.sections(body))["Late loads"]
    assert late.endswith(
        "(Beta Retail) 1 h 40 min late, Riley Risky: shipper_delay, delay 45 min, follow-up below"
    )
    assert text.count("receiver wants a new appointment") == 1
    assert "min late" not in text.replace("1 h 40 min late", "")
    assert dict(render.sections(body))["Drivers at risk"][0].endswith("30 min of drive time left")


def test_detention_yesterday_by_customer_and_trucks_held_now(session):
    from datetime import datetime as dt

    from logic.reports import render
    from logic.trips.stop_visits import close_visit, new_visit
    from models.stop_visit import VisitSource
    from tests.factories import make_vehicle

    yesterday_noon = dt(2026, 3, 10, 18, 0, tzinfo=NOW.tzinfo)  # 12:00 in Chicago
    done = make_trip(
        session, terminal="Memphis", customer="Acme Foods", status=TripStatus.DELIVERED,
        stops=[{"name": "Walmart DC 6094"}],
    )  # fmt: skip
    held = make_trip(
        session, terminal="Memphis", customer="Beta Retail", status=TripStatus.IN_TRANSIT,
        vehicle=make_vehicle(session, unit_number="207"), stops=[{"name": "Kroger DC"}],
    )  # fmt: skip
    visit = new_visit(done.stops[0], "Acme Foods", VisitSource.GPS, yesterday_noon)
    close_visit(visit, yesterday_noon + timedelta(hours=3, minutes=10))
    session.add(visit)
    session.add(new_visit(held.stops[0], "Beta Retail", VisitSource.GPS, NOW - timedelta(hours=2)))
    session.flush()

    body = _body(session)
    [acme] = body["detention_by_customer"]
    assert (acme["customer"], acme["billable_minutes"]) == ("Acme Foods", 70)
    [truck] = body["held_now"]
    assert (truck["unit_number"], truck["held_minutes"], truck["billable_minutes"]) == (
        "207",
        120,
        0,
    )
    lines = dict(render.sections(body))
    assert lines["Detention yesterday by customer"] == [
        "Acme Foods: 1 h 10 min billable over 1 of 1 stops"
    ]
    assert lines["Trucks held at a stop now"][0].startswith("207 (")
