"""Report endpoints: the scorecards, fleet KPIs, exports (XLSX, CSV, PNG), recipients and the
morning report read back — its numbers equal the scorecard endpoints'."""

from __future__ import annotations

import io
from datetime import timedelta

from matplotlib import image
from openpyxl import load_workbook

from helpers.time_utils import utc_now
from logic.reports import morning, render
from tests.logic.reports.morning_facts import NOW, REPORT_DATE, make_morning_facts

YESTERDAY = (REPORT_DATE - timedelta(days=1)).isoformat()
API_KEY = {"X-API-Key": "test-service-api-key"}


def _generate(session):
    facts = make_morning_facts(session)
    morning.generate(session, REPORT_DATE, now=NOW)
    session.commit()
    return facts


def test_fleet_table_sorted_by_score_with_filters(client, session, auth_headers):
    facts = _generate(session)
    headers = auth_headers(role="safety_manager")
    response = client.get("/reports/drivers", params={"date": YESTERDAY}, headers=headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert [r["driver_id"] for r in page["items"]] == [facts.risky.id, facts.careful.id]
    assert [r["safety_score"] for r in page["items"]] == [68.0, 100.0]
    assert "score = clamp(100 - (10 x HOS violations" in page["score_formula"]
    best_first = client.get(
        "/reports/drivers", params={"date": YESTERDAY, "sort": "-safety_score"}, headers=headers
    ).json()
    assert best_first["items"][0]["driver_id"] == facts.careful.id
    none = client.get(
        "/reports/drivers", params={"date": YESTERDAY, "terminal": "Dallas"}, headers=headers
    ).json()
    assert none["total"] == 0
    by_manager = client.get(
        "/reports/drivers", params={"date": YESTERDAY, "fleet_manager": "Pat"}, headers=headers
    ).json()
    assert by_manager["total"] == 0


def test_driver_series_and_totals(client, session, auth_headers):
    facts = _generate(session)
    response = client.get(
        f"/reports/drivers/{facts.risky.id}",
        params={"from": YESTERDAY, "to": YESTERDAY},
        headers=auth_headers(role="dispatcher"),
    )
    assert response.status_code == 200, response.text
    series = response.json()
    [day] = series["days"]
    assert day["hos_violations_by_type"] == {"shiftDrivingHours": 3}
    assert day["score_components"] == {"hos_violations": 30.0, "late_stops": 2.0}
    assert series["totals"]["hos_violations"] == 3 and series["totals"]["miles"] == 200.0
    missing = client.get("/reports/drivers/999999", headers=auth_headers(role="dispatcher"))
    assert missing.status_code == 404


def test_a_drivers_series_ends_on_today_where_their_days_are_counted(
    client, session, auth_headers, monkeypatch
):
    """At 05:30 UTC it is still the 6th in Chicago (the default zone) but the 7th in New York:
    each driver's default range ends on their own today, the day their newest report is for."""
    from datetime import UTC, datetime

    from tests.factories import make_driver

    monkeypatch.setattr(
        "services.driver_reports.utc_now", lambda: datetime(2026, 12, 7, 5, 30, tzinfo=UTC)
    )
    east = make_driver(session, first_name="East", timezone="America/New_York")
    unzoned = make_driver(session, first_name="Nowhere", timezone=None)
    session.commit()
    headers = auth_headers(role="dispatcher")
    for driver, today in ((east, "2026-12-07"), (unzoned, "2026-12-06")):
        series = client.get(f"/reports/drivers/{driver.id}", headers=headers).json()
        assert series["end"] == today, driver.first_name
        chart = client.get(f"/reports/drivers/{driver.id}/chart.png", headers=headers)
        assert chart.status_code == 200


def test_morning_report_body_matches_the_scorecard_endpoints(client, session, auth_headers):
    _generate(session)
    headers = auth_headers(role="dispatcher")
    report = client.get(
        "/reports/morning", params={"date": REPORT_DATE.isoformat()}, headers=headers
    ).json()
    fleet = client.get(
        "/reports/fleet", params={"from": YESTERDAY, "to": YESTERDAY}, headers=headers
    ).json()
    table = client.get("/reports/drivers", params={"date": YESTERDAY}, headers=headers).json()
    kpis = report["body"]["kpis"]
    for key in ("on_time_pct", "miles", "hos_violations", "safety_events",
                "violations_per_1000_miles", "events_per_1000_miles"):  # fmt: skip
        assert kpis[key] == fleet["totals"][key], key
    assert kpis["miles"] == sum(r["miles"] for r in table["items"])
    assert fleet["call_outcomes"] == report["body"]["calls"]["outcomes"]
    # The page reads the same words as Slack and the email.
    assert report["title"] == render.title(report["body"])
    assert report["summary"] == render.summary_lines(report["body"])
    assert [(s["heading"], s["lines"]) for s in report["sections"]] == render.sections(
        report["body"]
    )
    at_risk = {d["driver_id"]: d["safety_score"] for d in report["body"]["drivers_at_risk"]}
    assert at_risk == {
        r["driver_id"]: r["safety_score"] for r in table["items"] if r["safety_score"] < 70
    }


def test_xlsx_export_has_the_expected_sheets_and_totals(client, session, auth_headers):
    _generate(session)
    response = client.get(
        "/reports/drivers/export",
        params={"date": YESTERDAY, "format": "xlsx"},
        headers=auth_headers(role="dispatcher"),
    )
    assert response.status_code == 200
    assert "driver-scorecard-2026-03-10.xlsx" in response.headers["content-disposition"]
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == [
        "Drivers",
        "By terminal",
        "HOS violations",
        "Safety events",
        "Totals",
    ]
    drivers = list(workbook["Drivers"].iter_rows(values_only=True))
    header, rows = drivers[0], drivers[1:]
    miles = header.index("miles")
    assert len(rows) == 2 and sum(r[miles] for r in rows) == 500.0
    totals = dict(zip(*workbook["Totals"].iter_rows(values_only=True), strict=True))
    assert (totals["miles"], totals["hos_violations"], totals["drivers"]) == (500.0, 3, 2)
    by_terminal = list(workbook["By terminal"].iter_rows(values_only=True))
    assert by_terminal[1][:3] == ("Memphis", 2, 500.0)
    csv = client.get(
        "/reports/drivers/export",
        params={"date": YESTERDAY, "format": "csv"},
        headers=auth_headers(role="dispatcher"),
    )
    assert csv.text.splitlines()[0].startswith("report_date,driver_id")


def test_png_charts_decode_at_the_expected_size(client, session, auth_headers):
    facts = _generate(session)
    headers = auth_headers(role="dispatcher")
    for path, params in (
        ("/reports/morning/chart.png", {"date": REPORT_DATE.isoformat(), "terminal": "Memphis"}),
        (f"/reports/drivers/{facts.risky.id}/chart.png", {"from": YESTERDAY, "to": YESTERDAY}),
    ):
        response = client.get(path, params=params, headers=headers)
        assert response.headers["content-type"] == "image/png"
        assert image.imread(io.BytesIO(response.content), format="png").shape[:2] == (600, 1200)


def test_recipients_are_administered_through_the_api(client, session, auth_headers):
    writer, reader = auth_headers(role="safety_manager"), auth_headers(role="dispatcher")
    body = {
        "terminal": "Dallas",
        "timezone": "America/Chicago",
        "slack_channels": ["#ops-dallas"],
        "emails": ["dallas@example.com"],
        "send_at": "05:30",
    }
    assert client.put("/reports/recipients", json=body, headers=reader).status_code == 403
    saved = client.put("/reports/recipients", json=body, headers=writer)
    assert saved.status_code == 200, saved.text
    assert saved.json()["send_at"] == "05:30"
    bad = client.put("/reports/recipients", json=body | {"timezone": "Mars/Base"}, headers=writer)
    assert bad.status_code == 422
    listed = client.get("/reports/recipients", headers=reader).json()
    assert [r["terminal"] for r in listed] == ["Dallas"]
    gone = client.delete("/reports/recipients", params={"terminal": "Dallas"}, headers=writer)
    assert gone.status_code == 204
    assert client.get("/reports/recipients", headers=reader).json() == []


def test_generation_needs_the_service_key_or_reports_generate(client, session, auth_headers):
    make_morning_facts(session)
    session.commit()
    refused = client.post("/reports/drivers/generate", params={"date": YESTERDAY},
                          headers=auth_headers(role="dispatcher"))  # fmt: skip
    assert refused.status_code == 403
    built = client.post("/reports/drivers/generate", params={"date": YESTERDAY}, headers=API_KEY)
    assert built.status_code == 200 and built.json()["drivers"] == 2


def test_future_dates_are_refused_with_a_reason(client, auth_headers):
    """A report for a day that has not begun anywhere is a 422 that says so, never an empty
    report built (or listed) for it."""
    headers = auth_headers("admin")
    future = (utc_now() + timedelta(days=2)).date().isoformat()
    for method, path, params in (
        ("post", "/reports/morning/generate", {"date": future, "deliver": "false"}),
        ("get", "/reports/morning", {"date": future}),
        ("get", "/reports/morning/chart.png", {"date": future}),
        ("post", "/reports/drivers/generate", {"date": future}),
        ("get", "/reports/drivers", {"date": future}),
        ("get", "/reports/drivers/export", {"date": future}),
        ("get", "/reports/fleet", {"to": future}),
    ):
        response = client.request(method, path, params=params, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert f"{future} is in the future" in response.json()["detail"], path
    today = utc_now().date().isoformat()
    assert (
        client.get("/reports/drivers", params={"date": today}, headers=headers).status_code == 200
    )


def test_a_driver_day_without_miles_is_not_scored_anywhere(client, session, auth_headers):
    """Issue 21.3: a driver with 10 drive hours and no miles scored 100 on the scorecard, the
    CSV and the morning report; now the day says it has no mileage basis, and sorts last."""
    from models.driver import Driver
    from tests.factories import make_driver, make_hos_log
    from tests.logic.reports.morning_facts import YESTERDAY_START

    make_morning_facts(session)
    ghost = make_driver(session, first_name="Gale", last_name="Ghost", terminal="Memphis")
    make_hos_log(
        session,
        driver=ghost,
        start_at=YESTERDAY_START + timedelta(hours=6),
        end_at=YESTERDAY_START + timedelta(hours=16),
    )
    morning.generate(session, REPORT_DATE, now=NOW)
    session.commit()
    headers = auth_headers(role="safety_manager")

    page = client.get("/reports/drivers", params={"date": YESTERDAY}, headers=headers).json()
    last = page["items"][-1]
    assert (last["driver_id"], last["safety_score"], last["miles"]) == (ghost.id, None, 0.0)
    assert "10 drive hours" in last["score_withheld_reason"]
    worst_last = client.get(
        "/reports/drivers", params={"date": YESTERDAY, "sort": "-safety_score"}, headers=headers
    ).json()
    assert worst_last["items"][-1]["driver_id"] == ghost.id

    csv = client.get(
        "/reports/drivers/export", params={"date": YESTERDAY, "format": "csv"}, headers=headers
    )
    assert csv.status_code == 200, csv.text
    header, *lines = csv.text.splitlines()
    assert "score_withheld_reason" in header.split(",")
    assert any("Gale Ghost" in line and "no mileage basis" in line for line in lines)

    report = client.get(
        "/reports/morning", params={"date": REPORT_DATE.isoformat()}, headers=headers
    ).json()
    body = report.get("body", report)
    assert body["scores_withheld"] == [
        {"driver_id": ghost.id, "driver": "Gale Ghost", "drive_hours": 10.0}
    ]
    assert body["score_bands"].get("not scored") == 1
    assert dict(render.sections(body))["Scores withheld (drove, but no miles recorded)"] == [
        "Gale Ghost: 10 drive hours, no GPS miles for the truck"
    ]
    xlsx = client.get(
        "/reports/drivers/export", params={"date": YESTERDAY, "format": "xlsx"}, headers=headers
    )
    chart = client.get(
        f"/reports/drivers/{ghost.id}/chart.png",
        params={"from": YESTERDAY, "to": YESTERDAY},
        headers=headers,
    )
    assert (xlsx.status_code, chart.status_code) == (200, 200)
    assert session.get(Driver, ghost.id) is not None


def test_the_consoles_scorecard_columns_sort_every_driver(client, session, auth_headers):
    """Driver by full name (case-insensitive), terminal and calls sort the day's whole table
    (pages of one walk the same order); an unknown key is 422 naming the choices."""
    from sqlalchemy import select

    from models.report import DriverReport

    facts = _generate(session)
    reports = {
        r.driver_id: r
        for r in session.scalars(
            select(DriverReport).where(DriverReport.report_date == REPORT_DATE - timedelta(days=1))
        )
    }
    reports[facts.careful.id].terminal = "Amarillo"
    reports[facts.careful.id].calls, reports[facts.risky.id].calls = 1, 3
    session.commit()
    headers = auth_headers(role="safety_manager")

    def order(sort: str) -> list[int]:
        pages = [
            client.get(
                "/reports/drivers",
                params={"date": YESTERDAY, "sort": sort, "limit": 1, "offset": o},
                headers=headers,
            )
            for o in range(2)
        ]
        assert all(p.status_code == 200 for p in pages), pages[0].text
        return [p.json()["items"][0]["driver_id"] for p in pages]

    careful, risky = facts.careful.id, facts.risky.id
    assert order("driver") == [careful, risky]  # Casey Careful, Riley Risky
    assert order("-driver") == [risky, careful]
    assert order("terminal") == [careful, risky]  # Amarillo, Memphis
    assert order("-terminal") == [risky, careful]
    assert order("calls") == [careful, risky]
    assert order("-calls") == [risky, careful]
    refused = client.get(
        "/reports/drivers", params={"date": YESTERDAY, "sort": "name"}, headers=headers
    )
    assert refused.status_code == 422 and refused.json()["error"] == "validation_error"
    assert "calls" in refused.json()["detail"]
