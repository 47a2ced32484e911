"""Alerts API: list/filter/sort/paginate, detail with decisions, actions (audited, permission-
checked), bulk ack, the scheduled evaluate endpoint delivering to the sandbox Slack, rules and
the outbox."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from config import Settings, get_settings
from helpers.time_utils import utc_now
from logic.alerts.candidate import Candidate
from logic.alerts.filters import ChannelLimit, apply_filters
from logic.alerts.rules import load_rules
from models.alert import Alert, AlertDelivery, AlertRule
from models.audit_log import AuditLog
from models.trip import TripStatus
from services.vendor_deps import current_settings
from tests.factories import make_driver, make_location, make_trip, make_vehicle


def raise_alerts(session, specs):
    now = utc_now()
    cands = [
        Candidate(type=t, subject=s, title=f"{t} {s}", message="m", severity=sev)
        for t, s, sev in specs
    ]
    types = sorted({t for t, _, _ in specs})
    apply_filters(
        session,
        cands,
        rules=load_rules(session),
        evaluated_types=types,
        now=now,
        limit=ChannelLimit(max_posts=100),
    )
    session.flush()
    return {a.fingerprint: a for a in session.scalars(select(Alert))}


@pytest.fixture
def sandbox_settings(main_app, sandbox_clean):
    settings = Settings(**{**sandbox_clean.settings_env(), "ENVIRONMENT": "test"})
    main_app.dependency_overrides[current_settings] = lambda: settings
    yield settings
    main_app.dependency_overrides.pop(get_settings, None)


def test_list_filters_sorts_and_paginates(client, session, auth_headers):
    raise_alerts(
        session,
        [
            ("gps_stale", "trip:1", "warning"),
            ("gps_stale", "trip:2", "critical"),
            ("harsh_event", "vehicle:3", "warning"),
        ],
    )
    headers = auth_headers("viewer")

    body = client.get(
        "/alerts", params={"type": "gps_stale", "sort": "severity"}, headers=headers
    ).json()
    assert body["total"] == 2
    assert [a["severity"] for a in body["items"]] == ["critical", "warning"]

    page = client.get(
        "/alerts", params={"limit": 1, "offset": 1, "sort": "id"}, headers=headers
    ).json()
    assert page["total"] == 3 and len(page["items"]) == 1
    assert (
        client.get("/alerts", params={"severity": "critical"}, headers=headers).json()["total"] == 1
    )
    assert client.get("/alerts", params={"sort": "nope"}, headers=headers).status_code == 422
    assert client.get("/alerts").status_code == 401


def test_the_consoles_columns_sort_the_whole_list(client, session, auth_headers):
    """Severity ranks (critical, warning, info), driver and truck sort by name and unit, NULLs
    last both ways, the id breaking ties; pages of one walk the same order."""
    ann = make_driver(session, first_name="ann", last_name="Zed")
    bob = make_driver(session, first_name="Bob", last_name="Able")
    truck = make_vehicle(session, unit_number="U-7")
    specs = [("info", ann, None), ("critical", None, truck), ("warning", bob, None)]
    apply_filters(
        session,
        [
            Candidate(
                type="gps_stale",
                subject=f"s:{i}",
                title=f"alert {i}",
                severity=sev,
                driver_id=driver.id if driver else None,
                vehicle_id=vehicle.id if vehicle else None,
            )
            for i, (sev, driver, vehicle) in enumerate(specs)
        ],
        rules=load_rules(session),
        evaluated_types=["gps_stale"],
        now=utc_now(),
        limit=ChannelLimit(max_posts=100),
    )
    session.flush()
    headers = auth_headers("viewer")

    def titles(sort: str) -> list[str]:
        pages = [
            client.get("/alerts", params={"sort": sort, "limit": 1, "offset": o}, headers=headers)
            for o in range(3)
        ]
        assert all(p.status_code == 200 for p in pages), pages[0].text
        return [p.json()["items"][0]["title"] for p in pages]

    assert titles("severity") == ["alert 1", "alert 2", "alert 0"]
    assert titles("-severity") == ["alert 0", "alert 2", "alert 1"]
    assert titles("driver") == ["alert 0", "alert 2", "alert 1"]  # ann Zed, Bob Able, none
    assert titles("-driver") == ["alert 2", "alert 0", "alert 1"]
    assert titles("truck")[0] == "alert 1" and titles("-truck")[0] == "alert 1"
    assert titles("-title") == ["alert 2", "alert 1", "alert 0"]
    refused = client.get("/alerts", params={"sort": "driver_name"}, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"] == "validation_error"
    assert "truck" in refused.json()["detail"]


def test_list_filters_by_the_trip_or_driver_terminal(client, session, auth_headers):
    dallas_driver = make_driver(session, terminal="Dallas")
    trip = make_trip(session, terminal="Dallas", driver=make_driver(session, terminal="Memphis"))
    memphis = make_driver(session, terminal="Memphis")
    apply_filters(
        session,
        [
            Candidate(type="gps_stale", subject=f"trip:{trip.id}", title="t", trip_id=trip.id),
            Candidate(
                type="hos_drive_time_low",
                subject=f"driver:{dallas_driver.id}",
                title="d",
                driver_id=dallas_driver.id,
            ),
            Candidate(
                type="hos_drive_time_low",
                subject=f"driver:{memphis.id}",
                title="m",
                driver_id=memphis.id,
            ),
        ],
        rules=load_rules(session),
        evaluated_types=["gps_stale", "hos_drive_time_low"],
        now=utc_now(),
        limit=ChannelLimit(max_posts=100),
    )
    session.flush()
    headers = auth_headers("viewer")

    body = client.get("/alerts", params={"terminal": "Dallas", "sort": "id"}, headers=headers)
    assert body.status_code == 200, body.text
    assert [a["title"] for a in body.json()["items"]] == ["t", "d"]
    assert client.get("/alerts", params={"terminal": "Reno"}, headers=headers).json()["total"] == 0


def test_detail_explains_the_decisions(client, session, auth_headers):
    alerts = raise_alerts(session, [("gps_stale", "trip:1", None)])
    alert = alerts["gps_stale:trip:1"]
    body = client.get(f"/alerts/{alert.id}", headers=auth_headers("viewer")).json()
    assert [d["decision"] for d in body["decisions"]] == ["detected", "notified"]
    assert body["deliveries"][0]["kind"] == "post"
    assert client.get("/alerts/999999", headers=auth_headers("viewer")).status_code == 404


def test_ack_snooze_resolve_are_audited_and_need_alerts_write(client, session, auth_headers):
    alerts = raise_alerts(session, [("gps_stale", "trip:1", None), ("gps_stale", "trip:2", None)])
    one, two = alerts["gps_stale:trip:1"], alerts["gps_stale:trip:2"]
    assert client.post(f"/alerts/{one.id}/ack", headers=auth_headers("viewer")).status_code == 403

    headers = auth_headers("dispatcher")
    acked = client.post(f"/alerts/{one.id}/ack", headers=headers).json()
    assert acked["status"] == "acknowledged" and acked["acknowledged_by_id"] is not None
    snoozed = client.post(f"/alerts/{two.id}/snooze", json={"minutes": 30}, headers=headers)
    assert snoozed.json()["status"] == "snoozed"
    resolved = client.post(
        f"/alerts/{one.id}/resolve", json={"note": "driver called"}, headers=headers
    ).json()
    assert resolved["status"] == "resolved" and resolved["resolution"] == "driver called"
    again = client.post(f"/alerts/{one.id}/ack", headers=headers)
    assert again.status_code == 409 and again.json()["error"] == "conflict"

    actions = list(
        session.scalars(
            select(AuditLog.action).where(AuditLog.resource_type == "alert").order_by(AuditLog.id)
        )
    )
    assert actions == ["alert.acknowledge", "alert.snooze", "alert.resolve"]
    updates = session.scalars(select(AlertDelivery).where(AlertDelivery.kind == "update")).all()
    assert len(updates) == 3


def test_bulk_acknowledge_reports_what_it_did(client, session, auth_headers):
    alerts = raise_alerts(session, [("gps_stale", f"trip:{i}", None) for i in range(3)])
    ids = sorted(a.id for a in alerts.values())
    headers = auth_headers("dispatcher")
    client.post(f"/alerts/{ids[0]}/ack", headers=headers)

    body = client.post("/alerts/ack", json={"ids": [*ids, 999999]}, headers=headers).json()
    assert body == {"acknowledged": ids[1:], "skipped": ids[:1], "not_found": [999999]}


def test_evaluate_with_the_service_key_raises_alerts_and_posts_them_to_slack(
    client, session, sandbox_settings, sandbox_clean
):
    driver, truck = make_driver(session), make_vehicle(session)
    trip = make_trip(
        session,
        driver=driver,
        vehicle=truck,
        status=TripStatus.IN_TRANSIT,
        stops=[
            {
                "latitude": 32.7767,
                "longitude": -96.797,
                "appointment_end": utc_now() + timedelta(hours=2),
            }
        ],
    )
    make_location(
        session,
        vehicle=truck,
        recorded_at=utc_now() - timedelta(minutes=1),
        latitude=35.1495,
        longitude=-90.049,
    )
    session.commit()

    assert client.post("/alerts/evaluate").status_code == 401
    assert client.post("/alerts/evaluate", headers={"X-API-Key": "wrong"}).status_code == 401
    response = client.post("/alerts/evaluate", headers={"X-API-Key": "test-service-api-key"})

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["by_type"]["late_for_appointment"] == 1
    assert result["filters"]["posts_enqueued"] >= 1
    late = session.scalars(select(Alert).where(Alert.type == "late_for_appointment")).one()
    assert late.trip_id == trip.id
    posted = httpx.get(f"{sandbox_clean.url}/_sandbox/slack/messages").json()["messages"]
    assert any(f"alert #{late.id}" in str(m["blocks"]) for m in posted)
    session.refresh(late)
    assert late.slack_ts is not None  # delivered by the background drain after the commit


def test_trips_api_exposes_eta_and_late_risk(client, session, auth_headers):
    driver, truck = make_driver(session), make_vehicle(session)
    trip = make_trip(
        session,
        driver=driver,
        vehicle=truck,
        status=TripStatus.IN_TRANSIT,
        stops=[{"appointment_end": utc_now() + timedelta(hours=1)}],
    )
    make_location(session, vehicle=truck, recorded_at=utc_now())
    client.post(
        "/alerts/evaluate", params={"deliver": False}, headers={"X-API-Key": "test-service-api-key"}
    )
    body = client.get(f"/trips/{trip.id}", headers=auth_headers("viewer")).json()
    assert body["eta_next_stop"] is not None and body["late_risk_minutes"] > 0


def test_rules_crud_and_dry_run(client, session, auth_headers):
    headers = auth_headers("safety_manager")
    assert (
        client.post(
            "/alert-rules",
            json={"name": "x", "type": "gps_stale"},
            headers=auth_headers("dispatcher"),
        ).status_code
        == 403
    )
    bad = client.post(
        "/alert-rules",
        headers=headers,
        json={
            "name": "q",
            "type": "gps_stale",
            "quiet_hours_start": "22:00",
            "quiet_hours_end": "06:00",
            "quiet_hours_timezone": "Mars/Olympus",
        },
    )
    assert bad.status_code == 422

    created = client.post(
        "/alert-rules",
        headers=headers,
        json={
            "name": "GPS 10 min",
            "type": "gps_stale",
            "params": {"minutes": 10},
            "quiet_hours_start": "22:00",
            "quiet_hours_end": "06:00",
        },
    ).json()
    rule_id = created["id"]
    truck = make_vehicle(session)
    make_trip(session, vehicle=truck, status=TripStatus.IN_TRANSIT)
    make_location(session, vehicle=truck, recorded_at=utc_now() - timedelta(minutes=20))

    dry = client.post(f"/alert-rules/{rule_id}/dry-run", headers=headers).json()
    assert dry["matches"] == 1 and dry["candidates"][0]["already_active_alert_id"] is None
    stricter = client.patch(
        f"/alert-rules/{rule_id}", headers=headers, json={"params": {"minutes": 30}}
    ).json()
    assert stricter["params"] == {"minutes": 30}
    assert client.post(f"/alert-rules/{rule_id}/dry-run", headers=headers).json()["matches"] == 0
    unsaved = client.post(
        "/alert-rules/dry-run",
        headers=headers,
        json={"name": "t", "type": "gps_stale", "params": {"minutes": 5}},
    )
    assert unsaved.json()["matches"] == 1
    assert session.scalars(select(Alert)).all() == []  # dry runs write nothing

    assert client.delete(f"/alert-rules/{rule_id}", headers=headers).status_code == 204
    assert session.get(AlertRule, rule_id) is None


def test_deliveries_list_and_retry_failed(client, session, auth_headers):
    raise_alerts(session, [("gps_stale", "trip:1", None)])
    row = session.scalars(select(AlertDelivery)).one()
    row.status, row.attempts = "failed", 12
    session.flush()

    listing = client.get(
        "/alert-deliveries", params={"status": "failed"}, headers=auth_headers("viewer")
    ).json()
    assert listing["total"] == 1 and listing["counts"] == {"failed": 1}
    retried = client.post("/alert-deliveries/retry", json={}, headers=auth_headers("dispatcher"))
    assert retried.json() == {"requeued": 1}
    session.refresh(row)
    assert row.status == "pending" and row.attempts == 0
