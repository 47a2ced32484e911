"""GET /dashboard: the dispatch board's KPIs computed from stored state."""

from __future__ import annotations

from datetime import timedelta

from helpers.time_utils import utc_now
from logic.alerts.candidate import Candidate
from logic.alerts.filters import ChannelLimit, apply_filters
from logic.alerts.rules import load_rules
from models.ingest import IngestRun, IngestStatus
from models.trip import TripStatus
from tests.factories import make_driver, make_hos_clock, make_location, make_trip, make_vehicle


def test_dashboard_kpis(client, session, auth_headers):
    now = utc_now()
    late_driver, ok_driver = make_driver(session), make_driver(session)
    moving, stopped, silent = make_vehicle(session), make_vehicle(session), make_vehicle(session)
    make_trip(
        session,
        driver=late_driver,
        vehicle=moving,
        status=TripStatus.IN_TRANSIT,
        late_risk_minutes=40,
    )
    make_trip(
        session,
        driver=ok_driver,
        vehicle=stopped,
        status=TripStatus.IN_TRANSIT,
        late_risk_minutes=-15,
    )
    make_trip(session, vehicle=silent, status=TripStatus.DISPATCHED)
    make_trip(session, status=TripStatus.DELIVERED, late_risk_minutes=90)
    make_location(session, vehicle=moving, recorded_at=now - timedelta(minutes=2), speed_mph=61)
    make_location(session, vehicle=stopped, recorded_at=now - timedelta(minutes=2), speed_mph=0)
    make_location(session, vehicle=silent, recorded_at=now - timedelta(hours=3), speed_mph=50)
    make_hos_clock(session, driver=late_driver, drive_remaining_minutes=20)
    make_hos_clock(session, driver=ok_driver, drive_remaining_minutes=300)
    apply_filters(
        session,
        [
            Candidate(type="gps_stale", subject="trip:9", title="t", severity="critical"),
            Candidate(type="gps_stale", subject="trip:8", title="t"),
        ],
        rules=load_rules(session),
        evaluated_types=["gps_stale"],
        now=now,
        limit=ChannelLimit(max_posts=100),
    )
    session.add(
        IngestRun(
            source="samsara",
            entity="locations",
            status=IngestStatus.SUCCEEDED,
            started_at=now - timedelta(minutes=6),
            finished_at=now - timedelta(minutes=5),
        )
    )
    session.flush()

    assert client.get("/dashboard").status_code == 401
    body = client.get("/dashboard", headers=auth_headers("viewer")).json()

    assert body["trips"] == {"active": 3, "late": 1, "on_time": 1, "eta_unknown": 1}
    assert body["trucks"]["moving"] == 1 and body["trucks"]["stopped"] == 1
    assert body["trucks"]["no_recent_gps"] == body["trucks"]["active"] - 2
    assert body["gps_fresh_minutes"] == 30  # the board marks a position older than this stale
    assert body["drivers_low_on_hours"] == 1
    assert body["open_alerts_by_severity"] == {"critical": 1, "warning": 1}
    [fresh] = body["ingest_freshness"]
    assert (fresh["source"], fresh["entity"], fresh["minutes_ago"]) == ("samsara", "locations", 5)
