"""Whole evaluation passes: ETA → detectors → filters → outbox → sandbox Slack, severe weather
through the sandbox NWS, and the hook the ingest runner calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from config import Settings
from logic.alerts import detectors, engine
from models.alert import Alert, AlertRule, AlertStatus
from models.trip import TripStatus
from tests.factories import make_driver, make_location, make_trip, make_vehicle
from utils.slack_client import build_slack_client
from utils.weather_api import build_weather_client

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
OKC = (35.4676, -97.5164)  # the sandbox's severe thunderstorm
MEMPHIS = (35.1495, -90.049)  # only a (moderate) wind advisory


@pytest.fixture(autouse=True)
def _fresh_weather_cache():
    detectors._weather_cache.clear()
    yield
    detectors._weather_cache.clear()


def settings_for(sandbox) -> Settings:
    return Settings(**sandbox.settings_env())


def truck_on_trip(session, at, *, recorded_at=NOW - timedelta(minutes=1)):
    truck = make_vehicle(session)
    trip = make_trip(
        session, driver=make_driver(session), vehicle=truck, status=TripStatus.IN_TRANSIT
    )
    make_location(session, vehicle=truck, recorded_at=recorded_at, latitude=at[0], longitude=at[1])
    return trip


def test_severe_weather_at_the_truck_position_through_nws(session, sandbox_clean):
    stormy = truck_on_trip(session, OKC)
    truck_on_trip(session, MEMPHIS)
    weather = build_weather_client(settings_for(sandbox_clean), retry_wait=0.01)

    result = engine.evaluate(session, now=NOW, weather=weather, types=["severe_weather"])

    assert result.by_type == {"severe_weather": 1}
    [alert] = session.scalars(select(Alert)).all()
    assert alert.trip_id == stormy.id and "Thunderstorm" in alert.title
    nws = [r for r in sandbox_clean.requests("nws") if r["path"].endswith("/alerts/active")]
    assert len(nws) == 2 and nws[0]["headers"].get("user-agent")
    engine.evaluate(
        session, now=NOW + timedelta(minutes=1), weather=weather, types=["severe_weather"]
    )
    assert (
        len([r for r in sandbox_clean.requests("nws") if r["path"].endswith("/alerts/active")]) == 2
    )  # cached per grid cell


def test_nws_outage_does_not_auto_resolve_weather_alerts(session, sandbox_clean):
    truck_on_trip(session, OKC)
    weather = build_weather_client(settings_for(sandbox_clean), retry_wait=0.01)
    engine.evaluate(session, now=NOW, weather=weather, types=["severe_weather"])
    detectors._weather_cache.clear()
    sandbox_clean.fault("nws", "5xx", count=10)

    result = engine.evaluate(
        session, now=NOW + timedelta(minutes=5), weather=weather, types=["severe_weather"]
    )
    assert "NWS unavailable" in result.incomplete["severe_weather"]
    assert session.scalars(select(Alert)).one().status == AlertStatus.OPEN


def test_full_pass_posts_once_then_resolves_and_updates_the_message(session, sandbox_clean):
    trip = truck_on_trip(session, MEMPHIS, recorded_at=NOW - timedelta(minutes=45))
    slack = build_slack_client(settings_for(sandbox_clean), sleep=lambda _s: None)

    first = engine.run_evaluation(now=NOW, slack=slack)
    engine.run_evaluation(now=NOW + timedelta(minutes=1), slack=slack)
    assert first.by_type["gps_stale"] == 1 and first.delivery["sent"] == 1
    alert = session.scalars(select(Alert).where(Alert.type == "gps_stale")).one()
    assert alert.trip_id == trip.id and alert.occurrences == 2

    make_location(session, vehicle=trip.vehicle, recorded_at=NOW + timedelta(minutes=2))
    engine.run_evaluation(now=NOW + timedelta(minutes=2), slack=slack)
    session.refresh(alert)
    assert alert.status == AlertStatus.RESOLVED
    messages = httpx.get(f"{sandbox_clean.url}/_sandbox/slack/messages").json()["messages"]
    [message] = [m for m in messages if f"alert #{alert.id}" in str(m["blocks"])]
    assert message["updates"] and "Resolved" in str(message["blocks"])


def test_evaluate_after_ingest_never_raises_and_runs_a_pass(session):
    truck_on_trip(session, MEMPHIS, recorded_at=datetime.now(UTC) - timedelta(hours=1))
    result = engine.evaluate_after_ingest("samsara", "locations")
    assert result is not None and result.by_type["gps_stale"] == 1


def weather_budget(session, max_lookups: int) -> None:
    session.add(
        AlertRule(
            name="weather budget",
            type="severe_weather",
            params={"max_lookups": max_lookups},
            created_at=NOW,
            updated_at=NOW,
        )
    )
    session.flush()


def open_weather_alert(session, trip) -> None:
    session.add(
        Alert(
            type="severe_weather",
            severity="warning",
            status=AlertStatus.OPEN,
            fingerprint=f"severe_weather:trip:{trip.id}",
            trip_id=trip.id,
            title="storm",
            first_seen_at=NOW,
            last_seen_at=NOW,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    session.flush()


def test_partial_weather_pass_neither_duplicates_nor_resolves_what_it_did_not_see(
    session, sandbox_clean
):
    """More trucks than `max_lookups`: the truck it saw in the storm dedupes into its open alert
    (it used to be inserted again → unique violation → the whole pass rolled back); a truck it
    looked up and found clear is resolved; one it did not look up keeps its alert open."""
    cleared = truck_on_trip(session, MEMPHIS)
    stormy = truck_on_trip(session, OKC)
    unseen = truck_on_trip(session, (OKC[0] + 1.0, OKC[1]))
    weather = build_weather_client(settings_for(sandbox_clean), retry_wait=0.01)
    engine.evaluate(session, now=NOW, weather=weather, types=["severe_weather"])
    open_weather_alert(session, cleared)
    open_weather_alert(session, unseen)
    detectors._weather_cache.clear()  # as after a restart
    weather_budget(session, 2)

    result = engine.evaluate(
        session, now=NOW + timedelta(minutes=5), weather=weather, types=["severe_weather"]
    )

    assert result.incomplete == {"severe_weather": "weather lookup budget spent"}
    assert result.failed == {} and result.filters.created == 0
    assert result.filters.decisions == {
        f"severe_weather:trip:{stormy.id}": "same_event",
        f"severe_weather:trip:{cleared.id}": "auto_resolved",
    }
    by_trip = {a.trip_id: a.status for a in session.scalars(select(Alert))}
    assert by_trip == {
        cleared.id: AlertStatus.RESOLVED,
        stormy.id: AlertStatus.OPEN,
        unseen.id: AlertStatus.OPEN,
    }


def test_a_failing_alert_type_keeps_the_other_types_alerts(session, monkeypatch):
    """Noise control that fails for one type is retried type by type and recorded."""
    truck_on_trip(session, MEMPHIS, recorded_at=NOW - timedelta(minutes=45))
    real = engine.apply_filters

    def broken_for_harsh(session, candidates, **kw):
        if "harsh_event" in kw["evaluated_types"]:
            raise RuntimeError("boom")
        return real(session, candidates, **kw)

    monkeypatch.setattr(engine, "apply_filters", broken_for_harsh)
    result = engine.evaluate(session, now=NOW, types=["gps_stale", "harsh_event"])

    assert result.failed == {"filters:harsh_event": "RuntimeError: boom"}
    assert result.filters.created == 1
    assert [a.type for a in session.scalars(select(Alert))] == ["gps_stale"]
