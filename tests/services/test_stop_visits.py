"""`/stop-visits`, `/reports/detention` (JSON, CSV, XLSX) and the visits on `GET /trips/{id}`."""

from __future__ import annotations

import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from helpers.time_utils import utc_now
from logic.trips.stop_visits import close_visit, new_visit
from models.stop_visit import VisitSource
from models.trip import TripStatus
from tests.factories import make_driver, make_trip, make_vehicle

CHICAGO = ZoneInfo("America/Chicago")


@pytest.fixture
def dispatcher(auth_headers):
    return auth_headers(role="dispatcher")


@pytest.fixture
def reporter(auth_headers):
    return auth_headers(role="dispatcher")


def _visit(session, trip, stop, source, arrived, departed=None):
    visit = new_visit(stop, trip.customer, source, arrived)
    if departed is not None:
        close_visit(visit, departed)
    session.add(visit)
    session.flush()
    return visit


@pytest.fixture
def fleet(session):
    """A truck held 3 h 40 min at a receiver (free time 2 h from arrival), a truck that left
    after 1 h (no detention), and a TMS visit beside the held truck's GPS one."""
    now = utc_now().replace(microsecond=0)
    arrived = now - timedelta(minutes=220)
    held = make_trip(
        session,
        driver=make_driver(session, first_name="Ann", last_name="Lee"),
        vehicle=make_vehicle(session, unit_number="101"),
        status=TripStatus.IN_TRANSIT,
        customer="Acme Foods",
        stops=[{"name": "Walmart DC 6094", "stop_type": "delivery"}],
    )
    quick = make_trip(
        session,
        vehicle=make_vehicle(session, unit_number="102"),
        status=TripStatus.IN_TRANSIT,
        customer="Bolt Co",
        stops=[{"name": "Kroger DC", "stop_type": "pickup"}],
    )
    gps = _visit(session, held, held.stops[0], VisitSource.GPS, arrived)
    held.stops[0].visit_arrived_at = arrived
    _visit(session, held, held.stops[0], VisitSource.TMS, arrived + timedelta(minutes=25))
    _visit(session, quick, quick.stops[0], VisitSource.GPS, arrived, arrived + timedelta(hours=1))
    session.flush()
    return {"now": now, "arrived": arrived, "held": held, "quick": quick, "gps": gps}


def test_trip_detail_shows_the_held_truck_and_each_stops_visits(client, fleet, dispatcher):
    body = client.get(f"/trips/{fleet['held'].id}", headers=dispatcher).json()
    stop = body["stops"][0]
    assert [v["source"] for v in stop["visits"]] == ["gps", "tms"]
    gps = stop["visits"][0]
    assert gps["departed_at"] is None and 220 <= gps["dwell_minutes"] <= 221
    assert 100 <= gps["detention_minutes"] <= 101
    assert body["current_stop"]["id"] == stop["id"]
    assert body["at_stop"].startswith("at delivery Walmart DC 6094, held 3 h 40 min")
    assert "detained 1 h 40 min" in body["at_stop"]


@pytest.mark.parametrize(
    ("query", "loads"),
    [
        ("", {"101", "102"}),
        ("?detention_only=true", {"101"}),
        ("?customer=Bolt%20Co", {"102"}),
        ("?facility=Walmart%20DC%206094&source=tms", {"101"}),
        ("?open_only=true&source=gps", {"101"}),
    ],
)
def test_stop_visits_filters(client, session, fleet, dispatcher, query, loads):
    body = client.get(f"/stop-visits{query}", headers=dispatcher).json()
    trips = {fleet["held"].id: "101", fleet["quick"].id: "102"}
    assert {trips[i["trip_id"]] for i in body["items"]} == loads
    assert body["total"] == len(body["items"])


def test_detention_report_needs_reports_read(client, fleet, auth_headers):
    day = fleet["arrived"].astimezone(CHICAGO).date().isoformat()
    viewer = auth_headers(role="viewer")  # sees trips and visits, not reports
    assert client.get(f"/reports/detention?date={day}", headers=viewer).status_code == 403
    assert client.get("/stop-visits", headers=viewer).status_code == 200


def test_detention_report_json_csv_xlsx(client, fleet, reporter):
    day = fleet["arrived"].astimezone(CHICAGO).date().isoformat()
    body = client.get(f"/reports/detention?date={day}", headers=reporter).json()
    assert [v["load_number"] for v in body["visits"]] == [fleet["held"].load_number]
    [acme] = [c for c in body["by_customer"] if c["customer"] == "Acme Foods"]
    assert acme["detained_visits"] == 1 and 100 <= acme["billable_minutes"] <= 101
    [kroger] = [f for f in body["by_facility"] if f["facility"] == "Kroger DC"]
    assert kroger["average_dwell_minutes"] == 60 and kroger["billable_minutes"] == 0

    csv = client.get(f"/reports/detention?date={day}&format=csv", headers=reporter)
    assert csv.headers["content-type"].startswith("text/csv")
    header, row = csv.text.strip().splitlines()
    assert header.startswith("visit_id,load_number,customer,facility")
    assert "Acme Foods,Walmart DC 6094" in row

    xlsx = client.get(f"/reports/detention?date={day}&format=xlsx", headers=reporter)
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Detention", "By customer", "By facility"]
    assert book["Detention"].max_row == 2


def test_detention_report_refuses_a_bad_zone(client, fleet, reporter):
    day = fleet["arrived"].astimezone(CHICAGO).date().isoformat()
    response = client.get(f"/reports/detention?date={day}&timezone=Mars/Base", headers=reporter)
    assert response.status_code == 422
