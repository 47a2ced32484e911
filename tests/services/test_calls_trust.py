"""Calls the hub places on its own, over HTTP against the sandbox: a manual call to a driving or
resting driver is refused with the reason unless a supervisor overrides; the escalation ladder
defers its call while the truck moves (the alert's ladder says why) and places it once stopped;
a create that timed out or answered 5xx but was placed is reconciled to the real call, never
dialed again; a call the vendor never finishes is given up and releases its driver."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from config import get_settings
from db.database import session_scope
from helpers.time_utils import utc_now
from logic.calls.campaigns import run_tick
from models.call import Call, CallProvider, CallPurpose
from models.hos import DutyStatus
from sandbox.credentials import VAPI_API_KEY
from services.vendor_deps import current_settings
from tests.calls_support import (
    posted_alert,
    route_webhooks,
    sandbox_settings,
    serve_main_app,
    wait_for,
)
from tests.factories import (
    make_driver,
    make_hos_clock,
    make_hos_log,
    make_location,
    make_stop,
    make_trip,
    make_vehicle,
)
from tests.factories_auth import bearer_for, make_user
from tests.factories_calls import make_agent_profile

ALWAYS_OPEN = {"CALL_WINDOW_START": "00:00", "CALL_WINDOW_END": "00:00"}


@pytest.fixture
def calls_api(main_app, sandbox_clean):
    """The app dials the sandbox with a short client timeout (its `slow` fault outlasts it);
    the vendor's webhooks go nowhere, so only reconciliation moves a call on."""
    settings = sandbox_settings(sandbox_clean, VENDOR_TIMEOUT_SECONDS="0.5", **ALWAYS_OPEN)
    main_app.dependency_overrides[current_settings] = lambda: settings
    route_webhooks(sandbox_clean, None)
    yield sandbox_clean
    main_app.dependency_overrides.pop(current_settings, None)


def _moving_driver(session, *, at, mph: float = 62.0):
    driver = make_driver(session)
    truck = make_vehicle(session)
    trip = make_trip(session, driver=driver, vehicle=truck, status="in_transit")
    make_hos_clock(session, driver=driver, vehicle=truck, duty_status=DutyStatus.ON_DUTY, as_of=at)
    make_location(session, vehicle=truck, recorded_at=at - timedelta(minutes=1), speed_mph=mph)
    return driver, truck, trip


def _sleeping_driver(session, *, at):
    driver = make_driver(session, phone="+12015550143")
    rest_began = at - timedelta(hours=3)
    make_hos_log(session, driver=driver, start_at=rest_began - timedelta(hours=8))
    make_hos_log(session, driver=driver, start_at=rest_began, duty_status=DutyStatus.SLEEPER_BERTH)
    make_hos_clock(session, driver=driver, duty_status=DutyStatus.SLEEPER_BERTH, as_of=at)
    return driver


def _vapi_creates(sandbox) -> list[dict]:
    return [
        r for r in sandbox.requests("vapi") if r["method"] == "POST" and r["path"] == "/vapi/call"
    ]


def _vendor_calls(sandbox) -> list[dict]:
    with httpx.Client(base_url=sandbox.url) as http:
        answer = http.get("/vapi/call", headers={"Authorization": f"Bearer {VAPI_API_KEY}"})
        return answer.raise_for_status().json()


def test_manual_calls_to_a_driving_or_resting_driver_need_a_supervisors_override(
    client, session, calls_api, auth_headers
):
    make_agent_profile(session, provider="vapi", purpose="custom")
    now = utc_now()
    driving, _, _ = _moving_driver(session, at=now)
    sleeping = _sleeping_driver(session, at=now)
    dispatcher, supervisor = auth_headers("dispatcher"), auth_headers("admin")

    for driver, code, why in (
        (driving, "driver_driving", "62 mph"),
        (sleeping, "driver_resting", "sleeper"),
    ):
        refused = client.post(
            "/calls", json={"driver_id": driver.id, "provider": "vapi"}, headers=dispatcher
        )
        assert refused.status_code == 409 and refused.json()["error"] == code
        assert why in refused.json()["detail"].lower()
    overriding = {"driver_id": driving.id, "provider": "vapi", "safety_override": True}
    forbidden = client.post("/calls", json=overriding, headers=dispatcher)
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"
    assert "calls:admin" in forbidden.json()["detail"]
    assert _vapi_creates(calls_api) == []

    placed = client.post("/calls", json=overriding, headers=supervisor)

    assert placed.status_code == 201 and placed.json()["status"] == "queued"
    call = client.get(f"/calls/{placed.json()['id']}", headers=supervisor).json()
    assert call["status"] == "dialing" and call["provider_call_id"]
    [create] = _vapi_creates(calls_api)
    assert create["json"]["customer"]["number"] == driving.phone


@pytest.mark.parametrize(
    ("fault", "params"), [("slow", {"delay": 1.5}), ("5xx_after", {"status": 500})]
)
def test_a_create_that_failed_but_was_placed_is_reconciled_never_redialed(
    client, session, calls_api, auth_headers, fault, params
):
    make_agent_profile(session, provider="vapi", purpose="custom")
    driver = make_driver(session)
    dispatcher, admin = auth_headers("dispatcher"), auth_headers("admin")
    calls_api.fault("vapi", fault, count=1, **params)

    placed = client.post(
        "/calls", json={"driver_id": driver.id, "provider": "vapi"}, headers=dispatcher
    )

    call_id = placed.json()["id"]
    unknown = client.get(f"/calls/{call_id}", headers=dispatcher).json()
    assert unknown["status"] == "dial_unknown" and unknown["provider_call_id"] is None
    # While unknown, the driver counts as on a call: nothing dials them again.
    again = client.post(
        "/calls", json={"driver_id": driver.id, "provider": "vapi"}, headers=dispatcher
    )
    assert (again.status_code, again.json()["error"]) == (409, "call_in_progress")
    [at_vendor] = wait_for(lambda: _vendor_calls(calls_api), timeout=5)  # it was placed

    reconciled = client.post("/calls/reconcile", headers=admin)

    assert reconciled.status_code == 200, reconciled.text
    assert reconciled.json()["found_at_vendor"] == 1 and reconciled.json()["dialed"] == 0
    found = client.get(f"/calls/{call_id}", headers=dispatcher).json()
    assert found["status"] == "dialing" and found["provider_call_id"] == at_vendor["id"]
    assert len(_vapi_creates(calls_api)) == 1 and len(_vendor_calls(calls_api)) == 1


def test_a_call_the_vendor_never_finishes_is_released_after_the_deadline(
    client, session, calls_api, auth_headers
):
    # The vendor's call does not get past `queued` during the test (its first step is a minute off).
    route_webhooks(calls_api, None, vendors=("vapi",), delay=60)
    make_agent_profile(session, provider="vapi", purpose="custom")
    driver = make_driver(session)
    dispatcher, admin = auth_headers("dispatcher"), auth_headers("admin")
    placed = client.post(
        "/calls", json={"driver_id": driver.id, "provider": "vapi"}, headers=dispatcher
    )
    call_id = placed.json()["id"]
    assert client.post("/calls/reconcile", headers=admin).json()["given_up"] == 0
    blocked = client.post(
        "/calls", json={"driver_id": driver.id, "provider": "vapi"}, headers=dispatcher
    )
    assert blocked.json()["error"] == "call_in_progress"

    # An hour and more goes by (CALL_GIVE_UP_AFTER_MINUTES is 60).
    call = session.get(Call, call_id)
    past = utc_now() - timedelta(minutes=61)
    call.created_at = call.dial_started_at = call.dialed_at = past
    session.flush()
    released = client.post("/calls/reconcile", headers=admin).json()

    assert released["given_up"] == 1
    gone = client.get(f"/calls/{call_id}", headers=dispatcher).json()
    assert (gone["status"], gone["outcome"]) == ("unknown", "unknown")
    assert "given up" in gone["error"]
    again = client.post(
        "/calls", json={"driver_id": driver.id, "provider": "vapi"}, headers=dispatcher
    )
    assert again.status_code == 201, again.text
    assert len(_vapi_creates(calls_api)) == 2


@pytest.fixture
def live(committed_db, sandbox_clean):
    from main import app as main_app

    settings = sandbox_settings(sandbox_clean, **ALWAYS_OPEN)
    main_app.dependency_overrides[current_settings] = lambda: settings
    url, stop = serve_main_app()
    route_webhooks(sandbox_clean, f"{url}/webhooks/vapi", vendors=("vapi",))
    yield url, sandbox_clean, settings
    stop()
    main_app.dependency_overrides.pop(get_settings, None)


def test_the_ladder_defers_its_call_while_the_truck_moves_and_places_it_once_stopped(live):
    url, sandbox, settings = live
    first_tick = utc_now() + timedelta(minutes=21)  # the built-in ladder calls after 20 min
    with session_scope() as session:
        make_agent_profile(session, provider=CallProvider.VAPI, purpose=CallPurpose.LATE_LOAD_CHECK)
        driver, truck, trip = _moving_driver(session, at=first_tick)
        make_stop(session, trip=trip, sequence=1, city="Dallas", state="TX")
        alert = posted_alert(session, sandbox, driver_id=driver.id)
        alert.trip_id = trip.id
        alert_id, truck_id = alert.id, truck.id
        headers = bearer_for(session, make_user(session, roles=["dispatcher"]))

    deferred = run_tick(settings, now=first_tick)

    assert deferred.ladder["deferred"] == {"driver_driving": 1} and deferred.ladder["placed"] == 0
    shown = httpx.get(f"{url}/alerts/{alert_id}", headers=headers).json()
    [step] = shown["ladder"]
    assert step["status"] == "deferred" and step["call_id"] is None
    assert step["reason"].startswith("driver_driving: ") and "62 mph" in step["reason"]
    assert shown["decisions"][-1]["decision"] == "ladder_step_deferred"
    assert _vapi_creates(sandbox) == []
    # Still moving a minute later: still deferred, the alert's history says it once.
    run_tick(settings, now=first_tick + timedelta(minutes=1))
    shown = httpx.get(f"{url}/alerts/{alert_id}", headers=headers).json()
    assert [d["decision"] for d in shown["decisions"]].count("ladder_step_deferred") == 1

    # The truck stops at a fuel stop: the next pass places the call.
    stopped = first_tick + timedelta(minutes=3)
    with session_scope() as session:
        from models.vehicle import Vehicle

        make_location(
            session, vehicle=session.get(Vehicle, truck_id), recorded_at=stopped, speed_mph=0
        )
    placed = run_tick(settings, now=stopped + timedelta(seconds=30))

    assert placed.ladder["placed"] == 1
    [step] = httpx.get(f"{url}/alerts/{alert_id}", headers=headers).json()["ladder"]
    assert step["status"] == "placed" and step["call_id"] is not None
    with session_scope() as session:
        call = session.scalars(select(Call).where(Call.alert_id == alert_id)).one()
        assert call.id == step["call_id"] and call.driver_id == driver.id
    [create] = _vapi_creates(sandbox)
    assert create["json"]["customer"]["number"] == driver.phone
