"""Calls over HTTP against the sandbox: the per-driver call endpoints, every refusal, provider
errors, webhooks replayed exactly as the fakes sent them (signed), ordering, duplicates,
events before their call, reconciliation of a dropped webhook, and the Slack thread reply."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from config import get_settings
from helpers.time_utils import format_duration, utc_now
from logic.alerts import outbox
from logic.calls.reconcile import reconcile_calls
from logic.calls.service import after_placement, dial_after_commit
from logic.calls.voice.registry import CallProviders
from models.audit_log import AuditLog
from models.call import Call, CallInsight
from models.webhook_event import WebhookEvent
from services.vendor_deps import current_settings
from tests.calls_support import (
    body_of,
    elevenlabs_headers,
    posted_alert,
    reconcile_until_filled,
    route_webhooks,
    sandbox_settings,
    thread_replies,
    vapi_headers,
    wait_for,
)
from tests.factories import make_driver, make_stop, make_trip
from tests.factories_calls import make_agent_profile, make_call, make_do_not_call
from tests.sandbox.test_webhooks import Receiver

ALWAYS_OPEN = {"CALL_WINDOW_START": "00:00", "CALL_WINDOW_END": "00:00"}


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def calls_api(main_app, sandbox_clean, receiver):
    """The app's settings point at the sandbox; the fakes' webhooks land in `receiver`."""
    settings = sandbox_settings(sandbox_clean, **ALWAYS_OPEN)
    main_app.dependency_overrides[current_settings] = lambda: settings
    route_webhooks(sandbox_clean, receiver.url)
    yield sandbox_clean
    main_app.dependency_overrides.pop(get_settings, None)


@pytest.fixture
def caller(auth_headers):
    return auth_headers("dispatcher")


def _replay(client, receiver, vendor: str, count: int) -> list[dict]:
    """Take `count` webhooks the fake sent and deliver them to the app, bytes and headers as is."""
    answers = []
    for headers, body in receiver.take(count, timeout=10):
        keep = {
            k: v
            for k, v in headers.items()
            if k.lower()
            in (
                "x-vapi-secret",
                "x-signature",
                "x-timestamp",
                "elevenlabs-signature",
                "content-type",
            )
        }
        response = client.post(f"/webhooks/{vendor}", content=body, headers=keep)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


def _posts(sandbox, vendor: str) -> list[dict]:
    return [r for r in sandbox.requests(vendor) if r["method"] == "POST"]


def test_driver_list_places_one_call_each_and_answers_per_driver(
    client, session, calls_api, caller
):
    make_agent_profile(session, provider="elevenlabs", purpose="custom")
    first = make_driver(session, phone="+12015550123")
    second = make_driver(session, phone="+12015550133")
    blocked = make_driver(session, phone="+12015550143")
    make_do_not_call(session, driver_id=blocked.id, reason="opted out by text")
    bad = make_driver(session, phone="555-555-5555")

    response = client.post(
        "/driver_data/call-elevenlabs",
        json={"driver_ids": [first.id, second.id, blocked.id, bad.id, 999_999, first.id]},
        headers=caller,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    results = {r["driver_id"]: r for r in body["results"]}
    assert (body["placed"], body["skipped"], body["failed"]) == (2, 3, 0)
    assert results[first.id]["result"] == results[second.id]["result"] == "placed"
    assert results[blocked.id] == {
        **results[blocked.id],
        "result": "skipped",
        "reason": "do_not_call",
    }
    assert "opted out by text" in results[blocked.id]["detail"]
    assert results[bad.id]["reason"] == "invalid_phone_number"
    assert results[999_999]["reason"] == "driver_not_found"
    sent = [p["json"]["to_number"] for p in _posts(calls_api, "elevenlabs")]
    assert sorted(sent) == ["+12015550123", "+12015550133"]
    audited = session.scalars(select(AuditLog.action).where(AuditLog.action.like("call.%")))
    assert sorted(audited) == ["call.place", "call.place", "call.refused", "call.refused"]


def test_post_calls_refusals_name_the_reason(client, session, main_app, sandbox_clean, caller):
    make_agent_profile(session, provider="vapi", purpose="custom")
    chicago = ZoneInfo("America/Chicago")
    later = (datetime.now(chicago) + timedelta(hours=2)).strftime("%H:00")
    much_later = (datetime.now(chicago) + timedelta(hours=3)).strftime("%H:00")
    closed = sandbox_settings(sandbox_clean, CALL_WINDOW_START=later, CALL_WINDOW_END=much_later)
    open_ = sandbox_settings(sandbox_clean, CALL_MAX_PER_DRIVER_PER_DAY="1", **ALWAYS_OPEN)
    cases = [
        (make_driver(session, phone="911"), open_, 422, "invalid_phone_number"),
        (make_driver(session, do_not_call=True), open_, 409, "do_not_call"),
        (make_driver(session, timezone="America/Chicago"), closed, 409, "outside_calling_window"),
    ]
    try:
        for driver, settings, status, code in cases:
            main_app.dependency_overrides[current_settings] = lambda s=settings: s
            response = client.post(
                "/calls", json={"driver_id": driver.id, "provider": "vapi"}, headers=caller
            )
            assert response.status_code == status, (code, response.text)
            body = response.json()
            # A 409 names the reason in `error`; a 422 is a validation error whose entry does.
            reason = body["error"] if status == 409 else body["errors"][0]["type"]
            assert reason == code
        main_app.dependency_overrides[current_settings] = lambda: open_
        busy = make_driver(session, phone="+12015550153")
        first = client.post(
            "/calls", json={"driver_id": busy.id, "provider": "vapi"}, headers=caller
        )
        assert first.status_code == 201, first.text
        again = client.post(
            "/calls", json={"driver_id": busy.id, "provider": "vapi"}, headers=caller
        )
        assert (again.status_code, again.json()["error"]) == (409, "call_in_progress")
        session.get(Call, first.json()["id"]).status = "ended"
        session.flush()
        limited = client.post(
            "/calls", json={"driver_id": busy.id, "provider": "vapi"}, headers=caller
        )
        assert (limited.status_code, limited.json()["error"]) == (409, "daily_call_limit")
        none = client.post(
            "/calls",
            json={"driver_id": busy.id, "provider": "elevenlabs", "purpose": "hos_check"},
            headers=caller,
        )
        assert none.status_code == 422 and none.json()["error"] == "validation_error"
        assert none.json()["errors"][0]["type"] == "no_agent_profile"
    finally:
        main_app.dependency_overrides.pop(get_settings, None)


def test_provider_errors_show_on_the_queued_call(client, session, calls_api, caller):
    """The batch answers what it queued; the dial follows the commit. A 503 on create may have
    been acted on (`dial_unknown`, reconciled at the vendor); a 400 certainly was not."""
    make_agent_profile(session, provider="vapi", purpose="custom")
    driver = make_driver(session)
    calls_api.fault("vapi", "5xx", count=1)  # a 503 on create is not retried: maybe acted on
    response = client.post(
        "/driver_data/call-vapi", json={"driver_ids": [driver.id]}, headers=caller
    )
    [result] = response.json()["results"]
    assert result["result"] == "placed"
    call = client.get(f"/calls/{result['call_id']}", headers=caller).json()
    assert call["status"] == "dial_unknown" and call["outcome"] is None
    assert "503" in call["error"]

    broken = make_agent_profile(session, provider="vapi", purpose="custom", assistant_id="")
    other = make_driver(session, phone="+12015550133")
    response = client.post(
        "/driver_data/call-vapi",
        json={"driver_ids": [other.id], "agent_profile_id": broken.id},
        headers=caller,
    )
    [result] = response.json()["results"]
    call = client.get(f"/calls/{result['call_id']}", headers=caller).json()
    assert call["status"] == "failed" and call["outcome"] == "failed"


def test_vapi_call_end_to_end_with_slack_thread_reply(client, session, calls_api, receiver, caller):
    make_agent_profile(session, provider="vapi", purpose="custom")
    driver = make_driver(session, first_name="Jo", phone="+12015550123")
    trip = make_trip(session, driver=driver, load_number="L-88231")
    make_stop(session, trip=trip, sequence=1, city="Dallas")
    alert = posted_alert(session, calls_api, driver_id=driver.id)
    # Someone else's queued delivery: the webhook's after-commit drain sends only its own reply.
    unrelated = outbox.enqueue(
        session, channel="#fleet-alerts", kind="digest", now=utc_now(), payload={"alert_ids": []}
    )

    placed = client.post(
        "/driver_data/call-vapi",
        json={"driver_ids": [driver.id], "alert_id": alert.id, "purpose": "late_load_check"},
        headers=caller,
    ).json()
    call_id = placed["results"][0]["call_id"]
    acks = _replay(client, receiver, "vapi", 4)  # ringing, in-progress, ended, report
    session.refresh(unrelated)
    assert unrelated.status == "pending"

    assert all(a["stored"] for a in acks)
    call = client.get(f"/calls/{call_id}", headers=caller).json()
    assert call["status"] == "ended" and call["outcome"] == "completed"
    assert call["summary"] and "minute delay" in call["summary"]
    assert call["transcript"][0]["role"] == "agent"
    assert call["duration_seconds"] is not None and call["cost_usd"] == pytest.approx(0.1342)
    insight = call["insight"]
    assert insight["reported_delay_minutes"] == call["structured_data"]["delay_minutes"]
    assert insight["provenance"]["delay_minutes"]["source"] == "structured"
    assert insight["issues"] == ["traffic"]
    assert [e["event_type"] for e in call["events"]].count("status-update") == 3
    session.refresh(trip)
    assert trip.driver_reported_delay_minutes == insight["reported_delay_minutes"]
    assert trip.late_risk_minutes >= insight["reported_delay_minutes"]
    [reply] = thread_replies(calls_api, alert.slack_ts)
    said = f"Driver reported: {format_duration(insight['reported_delay_minutes'])} late"
    assert "completed" in reply["text"] and said in reply["text"]


def test_elevenlabs_follow_up_opens_an_alert(client, session, calls_api, receiver, caller):
    make_agent_profile(session, provider="elevenlabs", purpose="custom")
    # Second-to-last digit 1: the sandbox driver broke down and asks for a call back.
    driver = make_driver(session, phone="+12015550113")
    trip = make_trip(session, driver=driver)
    make_stop(session, trip=trip, sequence=1, city="Tulsa", state="OK")
    placed = client.post(
        "/driver_data/call-elevenlabs", json={"driver_ids": [driver.id]}, headers=caller
    ).json()
    _replay(client, receiver, "elevenlabs", 1)

    call = client.get(f"/calls/{placed['results'][0]['call_id']}", headers=caller).json()
    insight = call["insight"]
    assert insight["needs_follow_up"] is True
    assert "breakdown" in insight["issues"] and insight["reported_location"] == "Tulsa"
    assert insight["reported_delay_minutes"] == 120
    assert insight["provenance"]["location"]["source"] == "transcript_rule"
    assert call["cost_credits"] == 912
    alerts = client.get("/alerts", params={"type": "call_follow_up"}, headers=caller).json()[
        "items"
    ]
    assert [a["driver_id"] for a in alerts] == [driver.id]
    follow_ups = client.get(
        "/call-insights", params={"needs_follow_up": True}, headers=caller
    ).json()
    assert [i["call_id"] for i in follow_ups["items"]] == [call["id"]]


def test_no_answer_and_busy_outcomes(client, session, calls_api, receiver, caller):
    make_agent_profile(session, provider="elevenlabs", purpose="custom")
    make_agent_profile(session, provider="vapi", purpose="custom")
    missed = make_driver(session, phone="+12015550129")
    busy = make_driver(session, phone="+12015550128")
    client.post("/driver_data/call-elevenlabs", json={"driver_ids": [missed.id]}, headers=caller)
    _replay(client, receiver, "elevenlabs", 1)
    client.post("/driver_data/call-vapi", json={"driver_ids": [busy.id]}, headers=caller)
    _replay(client, receiver, "vapi", 3)  # ringing, ended, report
    calls = client.get("/calls", params={"status": "ended"}, headers=caller).json()["items"]
    outcomes = {c["driver_id"]: c["outcome"] for c in calls}
    assert outcomes == {missed.id: "no_answer", busy.id: "busy"}
    no_insight = client.get("/call-insights", headers=caller).json()
    assert no_insight["total"] == 0


def test_duplicates_and_out_of_order_events_change_nothing(
    client, session, calls_api, receiver, caller
):
    make_agent_profile(session, provider="vapi", purpose="custom")
    driver = make_driver(session)
    placed = client.post("/driver_data/call-vapi", json={"driver_ids": [driver.id]}, headers=caller)
    call_id = placed.json()["results"][0]["call_id"]
    deliveries = receiver.take(4, timeout=10)
    ordered = [deliveries[3], deliveries[2], deliveries[0], deliveries[1], deliveries[3]]
    answers = []
    for headers, body in ordered:
        answers.append(
            client.post(
                "/webhooks/vapi", content=body, headers={"X-Vapi-Secret": headers["X-Vapi-Secret"]}
            ).json()
        )
    assert [a["duplicate"] for a in answers] == [False, False, False, False, True]
    call = client.get(f"/calls/{call_id}", headers=caller).json()
    assert call["status"] == "ended" and call["outcome"] == "completed"
    assert call["started_at"] is not None
    assert len(call["events"]) == 4
    count = session.scalar(select(func.count()).select_from(CallInsight))
    assert count == 1


def test_event_before_its_call_is_matched_later(client, session, calls_api, caller):
    make_agent_profile(session, provider="elevenlabs", purpose="custom")
    driver = make_driver(session)
    placed = client.post(
        "/driver_data/call-elevenlabs", json={"driver_ids": [driver.id]}, headers=caller
    ).json()
    call = session.get(Call, placed["results"][0]["call_id"])
    # As if the webhook had raced the placement's commit: the row did not have its id yet.
    real_id, call.provider_call_id = call.provider_call_id, None
    session.flush()
    payload = {
        "type": "call_initiation_failure",
        "event_timestamp": int(utc_now().timestamp()),
        "data": {
            "agent_id": "a",
            "conversation_id": real_id,
            "failure_reason": "busy",
            "metadata": {"type": "twilio", "body": {"CallStatus": "busy"}},
        },
    }
    body = body_of(payload)
    answer = client.post("/webhooks/elevenlabs", content=body, headers=elevenlabs_headers(body))
    assert answer.json()["stored"] is True
    event = session.scalars(select(WebhookEvent)).one()
    assert event.call_id is None and event.processed_at is None

    call.provider_call_id = real_id
    session.flush()
    after_placement([call.id])

    session.refresh(call)
    assert call.status == "ended" and call.outcome == "busy"
    session.refresh(event)
    assert event.call_id == call.id and event.processed_at is not None


def test_dropped_webhooks_are_filled_by_reconciliation(client, session, calls_api, caller):
    make_agent_profile(session, provider="vapi", purpose="custom", max_duration_seconds=60)
    make_agent_profile(session, provider="elevenlabs", purpose="custom", max_duration_seconds=60)
    route_webhooks(calls_api, None)  # every webhook is lost
    first = make_driver(session, phone="+12015550123")
    second = make_driver(session, phone="+12015550133")
    client.post("/driver_data/call-vapi", json={"driver_ids": [first.id]}, headers=caller)
    client.post("/driver_data/call-elevenlabs", json={"driver_ids": [second.id]}, headers=caller)
    calls = list(session.scalars(select(Call).order_by(Call.id)))
    providers = CallProviders.from_settings(sandbox_settings(calls_api), retry_wait=0)
    try:
        # Not yet overdue: nothing polled.
        assert reconcile_calls(providers, after_minutes=5).checked == 0
        late = max(c.expected_end_at for c in calls) + timedelta(minutes=6)
        assert reconcile_until_filled(providers, 2, late=late)
    finally:
        providers.close()
    for call in calls:
        session.refresh(call)
        assert call.status == "ended" and call.outcome == "completed" and call.reconciled_at
        assert call.transcript and call.summary
        assert CallInsight.for_call(session, call.id) is not None


def test_elevenlabs_no_answer_and_busy_found_by_polling_map_like_the_webhook(
    client, session, calls_api, caller
):
    """With the `call_initiation_failure` webhook lost, the polled conversation (status
    `failed`) still says no-answer or busy: a campaign waits the right delay, not the failure's."""
    make_agent_profile(session, provider="elevenlabs", purpose="custom", max_duration_seconds=60)
    route_webhooks(calls_api, None)  # every webhook is lost
    missed = make_driver(session, phone="+12015550129")
    busy = make_driver(session, phone="+12015550128")
    client.post(
        "/driver_data/call-elevenlabs", json={"driver_ids": [missed.id, busy.id]}, headers=caller
    )
    calls = list(session.scalars(select(Call).order_by(Call.id)))
    late = max(c.expected_end_at for c in calls) + timedelta(minutes=6)
    providers = CallProviders.from_settings(sandbox_settings(calls_api), retry_wait=0)
    try:
        assert reconcile_until_filled(providers, 2, late=late)
    finally:
        providers.close()
    outcomes = {}
    for call in calls:
        session.refresh(call)
        outcomes[call.driver_id] = (call.status, call.outcome)
    assert outcomes == {missed.id: ("ended", "no_answer"), busy.id: ("ended", "busy")}


def test_reconciliation_waits_for_vapis_analysis_of_an_ended_call(
    client, session, calls_api, caller
):
    from sandbox import vapi as sandbox_vapi

    make_agent_profile(session, provider="vapi", purpose="custom", max_duration_seconds=60)
    route_webhooks(calls_api, None)  # every webhook is lost
    driver = make_driver(session, phone="+12015550123")
    client.post("/driver_data/call-vapi", json={"driver_ids": [driver.id]}, headers=caller)
    call = session.scalars(select(Call)).one()
    ended = wait_for(
        lambda: sandbox_vapi._calls.get(call.provider_call_id, {}).get("analysis") is not None,
        timeout=10,
    )
    assert ended
    # VAPI's record between "ended" and the analysis: no end time, no analysis yet.
    with sandbox_vapi._lock:
        record = sandbox_vapi._calls[call.provider_call_id]
        record.pop("analysis"), record.pop("endedAt")
    providers = CallProviders.from_settings(sandbox_settings(calls_api), retry_wait=0)
    try:
        soon = call.expected_end_at + timedelta(minutes=6)
        assert reconcile_calls(providers, after_minutes=5, now=soon).still_running == 1
        session.refresh(call)
        assert call.report_received_at is None
        later = call.expected_end_at + timedelta(minutes=11)
        assert reconcile_calls(providers, after_minutes=5, now=later).filled == 1
    finally:
        providers.close()
    session.refresh(call)
    assert call.report_received_at is not None and call.status == "ended"


def test_list_filters_and_cancel(client, session, calls_api, caller):
    make_agent_profile(session, provider="vapi", purpose="custom")
    route_webhooks(calls_api, None)
    driver = make_driver(session)
    placed = client.post(
        "/calls",
        json={"driver_id": driver.id, "provider": "vapi", "purpose": "hos_check"},
        headers=caller,
    ).json()
    listed = client.get(
        "/calls",
        params={"driver_id": driver.id, "purpose": "hos_check", "provider": "vapi"},
        headers=caller,
    ).json()
    assert [c["id"] for c in listed["items"]] == [placed["id"]]
    assert (
        client.get("/calls", params={"purpose": "violation_coaching"}, headers=caller).json()[
            "total"
        ]
        == 0
    )
    canceled = client.post(f"/calls/{placed['id']}/cancel", headers=caller)
    assert canceled.json()["status"] == "canceled"
    assert client.post(f"/calls/{placed['id']}/cancel", headers=caller).status_code == 409


def test_preview_renders_without_dialing(client, session, calls_api, caller):
    make_agent_profile(session, provider="vapi", purpose="late_load_check")
    driver = make_driver(session, first_name="Jo")
    make_trip(session, driver=driver, load_number="L-77")
    preview = client.get(
        "/calls/preview", params={"driver_id": driver.id, "provider": "vapi"}, headers=caller
    ).json()
    assert preview["prompt_version"] == "late_load_check.v1"
    assert "Jo" in preview["first_message"] and "L-77" in preview["first_message"]
    assert preview["variables"]["load_id"] == "L-77"
    assert "{{" not in preview["system_prompt"]
    assert preview["refusal"] is None
    assert _posts(calls_api, "vapi") == []


def test_admin_crud_needs_calls_admin(client, session, calls_api, auth_headers):
    admin = auth_headers("admin")
    dispatcher = auth_headers("dispatcher")
    body = {
        "name": "VAPI late loads",
        "provider": "vapi",
        "purpose": "late_load_check",
        "assistant_id": "asst-1",
        "phone_number_id": "num-1",
    }
    assert client.post("/call-agent-profiles", json=body, headers=dispatcher).status_code == 403
    created = client.post("/call-agent-profiles", json=body, headers=admin)
    assert created.status_code == 201
    assert client.post("/call-agent-profiles", json=body, headers=admin).status_code == 409
    profile_id = created.json()["id"]
    patched = client.patch(
        f"/call-agent-profiles/{profile_id}", json={"enabled": False}, headers=admin
    )
    assert patched.json()["enabled"] is False
    listed = client.get("/call-agent-profiles", headers=dispatcher).json()
    assert [p["name"] for p in listed["items"]] == ["VAPI late loads"]
    entry = client.post(
        "/do-not-call",
        json={"phone_number": "(201) 555-0123", "reason": "asked to stop"},
        headers=admin,
    )
    assert entry.status_code == 201 and entry.json()["phone_number"] == "+12015550123"
    bad = client.post("/do-not-call", json={"reason": "nobody"}, headers=admin)
    assert bad.status_code == 422
    assert client.delete(f"/do-not-call/{entry.json()['id']}", headers=admin).status_code == 204
    assert client.delete(f"/call-agent-profiles/{profile_id}", headers=admin).status_code == 204


# ---- webhook authentication ---------------------------------------------------------------


def _stored(session) -> int:
    return session.scalar(select(func.count()).select_from(WebhookEvent))


VAPI_STATUS = {
    "message": {
        "type": "status-update",
        "status": "ringing",
        "timestamp": 1767225600123,
        "call": {"id": "c0ffee00-0000-4000-8000-000000000001", "status": "ringing"},
    }
}


@pytest.mark.parametrize("scheme", ["secret", "hmac"])
def test_vapi_signature_valid_tampered_missing(client, session, calls_api, scheme):
    body = body_of(VAPI_STATUS)
    headers = vapi_headers(body, hmac=scheme == "hmac")
    ok = client.post("/webhooks/vapi", content=body, headers=headers)
    assert ok.status_code == 200 and ok.json()["stored"] is True
    tampered = body.replace(b"ringing", b"ended")
    bad_headers = headers if scheme == "hmac" else vapi_headers(body, secret="wrong-secret")
    assert client.post("/webhooks/vapi", content=tampered, headers=bad_headers).status_code == 401
    assert client.post("/webhooks/vapi", content=body).status_code == 400
    assert _stored(session) == 1


def test_ids_no_column_can_hold_are_a_400_or_not_ours(client, session, calls_api):
    long_id = {"message": {**VAPI_STATUS["message"], "call": {"id": "c" * 101}}}
    body = body_of(long_id)
    refused = client.post("/webhooks/vapi", content=body, headers=vapi_headers(body))
    assert refused.status_code == 400 and "longer than 100" in refused.json()["detail"]
    huge_hub = {
        "message": {
            **VAPI_STATUS["message"],
            "call": {"id": "c0ffee", "assistantOverrides": {"metadata": {"hub_call_id": 2**40}}},
        }
    }
    body = body_of(huge_hub)
    kept = client.post("/webhooks/vapi", content=body, headers=vapi_headers(body))
    assert kept.status_code == 200 and kept.json()["stored"] is True
    event = session.scalars(select(WebhookEvent)).one()
    assert event.hub_call_id is None and event.call_id is None


def test_vapi_hmac_stale_timestamp_is_refused(client, session, calls_api):
    from utils.vapi_client import sign_vapi_hmac

    body = body_of(VAPI_STATUS)
    stale = str(int((utc_now() - timedelta(minutes=10)).timestamp() * 1000))
    headers = {
        "x-signature": sign_vapi_hmac("sandbox-vapi-webhook-secret", stale, body),
        "x-timestamp": stale,
    }
    assert client.post("/webhooks/vapi", content=body, headers=headers).status_code == 401
    assert _stored(session) == 0


def test_elevenlabs_signature_valid_tampered_stale_missing(client, session, calls_api):
    payload = {
        "type": "call_initiation_failure",
        "event_timestamp": 1767225660,
        "data": {
            "agent_id": "a",
            "conversation_id": "conv_x",
            "failure_reason": "no-answer",
            "metadata": {"type": "twilio", "body": {}},
        },
    }
    body = body_of(payload)
    assert client.post(
        "/webhooks/elevenlabs", content=body, headers=elevenlabs_headers(body)
    ).json()["stored"]
    tampered = body.replace(b"no-answer", b"busy")
    assert (
        client.post(
            "/webhooks/elevenlabs", content=tampered, headers=elevenlabs_headers(body)
        ).status_code
        == 401
    )
    old = int((utc_now() - timedelta(minutes=31)).timestamp())
    assert (
        client.post(
            "/webhooks/elevenlabs", content=body, headers=elevenlabs_headers(body, at=old)
        ).status_code
        == 401
    )
    assert client.post("/webhooks/elevenlabs", content=body).status_code == 400
    assert _stored(session) == 1


def test_malformed_json_is_400_and_ignored_types_are_200(client, session, calls_api):
    bad = b'{"message": {"type": '
    assert client.post("/webhooks/vapi", content=bad, headers=vapi_headers(bad)).status_code == 400
    assert (
        client.post(
            "/webhooks/elevenlabs", content=bad, headers=elevenlabs_headers(bad)
        ).status_code
        == 400
    )
    hang = body_of({"message": {"type": "hang", "call": {"id": "c1"}}})
    answer = client.post("/webhooks/vapi", content=hang, headers=vapi_headers(hang))
    assert answer.status_code == 200 and answer.json()["ignored"] is True
    audio = body_of(
        {
            "type": "post_call_audio",
            "event_timestamp": 1,
            "data": {"agent_id": "a", "conversation_id": "c", "full_audio": "SUQz"},
        }
    )
    answer = client.post("/webhooks/elevenlabs", content=audio, headers=elevenlabs_headers(audio))
    assert answer.status_code == 200 and answer.json()["ignored"] is True
    assert _stored(session) == 0


def test_webhook_without_a_configured_secret_is_refused(client, session, main_app, sandbox_clean):
    settings = sandbox_settings(sandbox_clean, VAPI_WEBHOOK_SECRET="")
    main_app.dependency_overrides[current_settings] = lambda: settings
    try:
        body = body_of(VAPI_STATUS)
        response = client.post("/webhooks/vapi", content=body, headers=vapi_headers(body))
    finally:
        main_app.dependency_overrides.pop(get_settings, None)
    assert response.status_code == 503
    assert _stored(session) == 0


# ---- the example payloads of the vendor notes, as inline copies ---------------------------

COMMS_VAPI = [
    {
        "message": {
            "type": "status-update",
            "status": "ringing",
            "timestamp": 1767225600123,
            "call": {
                "id": "c0ffee00-aaaa",
                "orgId": "org",
                "type": "outboundPhoneCall",
                "status": "ringing",
                "customer": {"number": "+12015550123"},
                "assistantOverrides": {"metadata": {"hub_call_id": "HUB"}},
                "createdAt": "2026-01-01T00:00:00.000Z",
                "updatedAt": "2026-01-01T00:00:01.000Z",
            },
        }
    },
    {
        "message": {
            "type": "end-of-call-report",
            "timestamp": 1767225720456,
            "endedReason": "customer-ended-call",
            "startedAt": "2026-01-01T00:00:05.000Z",
            "endedAt": "2026-01-01T00:01:58.000Z",
            "cost": 0.1342,
            "costs": [{"type": "transport", "cost": 0.01}],
            "call": {
                "id": "c0ffee00-aaaa",
                "status": "ended",
                "endedReason": "customer-ended-call",
                "assistantOverrides": {
                    "variableValues": {"load_id": "L-88231"},
                    "metadata": {"hub_call_id": "HUB"},
                },
            },
            "customer": {"number": "+12015550123"},
            "artifact": {
                "transcript": "AI: Hi Jo, this is dispatch…\nUser: Yeah, running about "
                "40 minutes late…\n",
                "messages": [
                    {
                        "role": "system",
                        "message": "You are…",
                        "time": 1767225603000,
                        "secondsFromStart": 0,
                    },
                    {
                        "role": "bot",
                        "message": "Hi Jo, this is dispatch…",
                        "time": 1767225606000,
                        "endTime": 1767225609000,
                        "secondsFromStart": 1.2,
                        "duration": 3000,
                    },
                    {
                        "role": "user",
                        "message": "Yeah, running about 40 minutes late…",
                        "time": 1767225610000,
                        "endTime": 1767225613000,
                        "secondsFromStart": 5.1,
                        "duration": 3000,
                    },
                ],
                "recordingUrl": "https://storage.vapi.ai/x-mono.wav",
            },
            "analysis": {
                "summary": "Driver reports a 40 minute delay due to traffic.",
                "structuredData": {"delay_minutes": 40, "needs_dispatch_callback": False},
                "successEvaluation": "true",
            },
        }
    },
    {
        "message": {
            "type": "status-update",
            "status": "ended",
            "endedReason": "customer-did-not-answer",
            "call": {"id": "c0ffee00-aaaa"},
        }
    },
    {
        "message": {
            "type": "transcript",
            "role": "user",
            "transcriptType": "final",
            "transcript": "running about forty minutes late",
            "call": {"id": "c0ffee00-aaaa"},
        }
    },
    {"message": {"type": "hang", "timestamp": 1767225650000, "call": {"id": "c0ffee00-aaaa"}}},
    {
        "message": {
            "type": "conversation-update",
            "messages": [],
            "messagesOpenAIFormatted": [],
            "call": {"id": "c0ffee00-aaaa"},
        }
    },
]
COMMS_ELEVENLABS = [
    {
        "type": "post_call_transcription",
        "event_timestamp": 1767225800,
        "data": {
            "agent_id": "agent_01jxxxx",
            "conversation_id": "conv_01jzzzz",
            "status": "done",
            "user_id": "driver-4411",
            "has_audio": True,
            "has_user_audio": True,
            "has_response_audio": True,
            "transcript": [
                {
                    "role": "agent",
                    "message": "Hi Jo, this is dispatch.",
                    "time_in_call_secs": 0,
                    "tool_calls": [],
                    "tool_results": [],
                    "interrupted": False,
                },
                {
                    "role": "user",
                    "message": "Running about forty minutes late.",
                    "time_in_call_secs": 3,
                    "tool_calls": [],
                    "tool_results": [],
                    "interrupted": False,
                },
            ],
            "metadata": {
                "start_time_unix_secs": 1767225600,
                "accepted_time_unix_secs": 1767225604,
                "call_duration_secs": 118,
                "cost": 912,
                "termination_reason": "Call ended by remote party",
                "phone_call": {
                    "type": "twilio",
                    "direction": "outbound",
                    "phone_number_id": "phnum_01jyyyy",
                    "agent_number": "+13125550100",
                    "external_number": "+12015550123",
                    "stream_sid": "MZ1",
                    "call_sid": "CA0123",
                },
            },
            "analysis": {
                "call_successful": "success",
                "transcript_summary": "Driver reports 40 min delay.",
                "evaluation_criteria_results": {
                    "got_eta": {"criteria_id": "got_eta", "result": "success", "rationale": "…"}
                },
                "data_collection_results": {
                    "delay_minutes": {
                        "data_collection_id": "delay_minutes",
                        "value": 40,
                        "rationale": "…",
                    }
                },
            },
            "conversation_initiation_client_data": {
                "dynamic_variables": {"driver_first_name": "Jo", "hub_call_id": "HUB"},
                "conversation_config_override": {
                    "agent": {"first_message": None, "language": "en", "prompt": None},
                    "tts": {"voice_id": None},
                },
            },
        },
    },
    {
        "type": "post_call_audio",
        "event_timestamp": 1767225805,
        "data": {
            "agent_id": "agent_01jxxxx",
            "conversation_id": "conv_01jzzzz",
            "full_audio": "SUQzBAAAAA",
        },
    },
    {
        "type": "call_initiation_failure",
        "event_timestamp": 1767225660,
        "data": {
            "agent_id": "agent_01jxxxx",
            "conversation_id": "conv_01jzzzz",
            "failure_reason": "no-answer",
            "metadata": {
                "type": "twilio",
                "body": {"CallSid": "CA0123", "CallStatus": "no-answer", "To": "+12015550123"},
            },
        },
    },
]


def test_comms_examples_are_accepted_and_applied(client, session, calls_api, caller):
    from tests.factories_calls import make_call

    driver = make_driver(session)
    vapi_call = make_call(
        session, driver_id=driver.id, provider="vapi", provider_call_id="c0ffee00-aaaa"
    )
    el_call = make_call(
        session, driver_id=driver.id, provider="elevenlabs", provider_call_id="conv_01jzzzz"
    )
    for payload in COMMS_VAPI:
        body = body_of(payload).replace(b'"HUB"', json.dumps(str(vapi_call.id)).encode())
        assert (
            client.post("/webhooks/vapi", content=body, headers=vapi_headers(body)).status_code
            == 200
        )
    for payload in COMMS_ELEVENLABS:
        body = body_of(payload).replace(b'"HUB"', json.dumps(str(el_call.id)).encode())
        assert (
            client.post(
                "/webhooks/elevenlabs", content=body, headers=elevenlabs_headers(body)
            ).status_code
            == 200
        )
    vapi = client.get(f"/calls/{vapi_call.id}", headers=caller).json()
    assert (vapi["status"], vapi["outcome"]) == ("ended", "completed")
    assert vapi["insight"]["reported_delay_minutes"] == 40
    assert vapi["duration_seconds"] == 113
    eleven = client.get(f"/calls/{el_call.id}", headers=caller).json()
    # The transcription came first: a later initiation failure does not rewrite the outcome.
    assert (eleven["status"], eleven["outcome"]) == ("ended", "completed")
    assert eleven["insight"]["reported_delay_minutes"] == 40
    assert eleven["cost_credits"] == 912 and eleven["duration_seconds"] == 118


def test_elevenlabs_example_is_dated_from_its_unix_seconds(client, session, calls_api, caller):
    """Issue 21.1: `start_time_unix_secs` and `event_timestamp` are seconds, not milliseconds
    (read as ms, the comms example's call started on 1970-01-21)."""
    from tests.factories_calls import make_call

    call = make_call(
        session,
        driver_id=make_driver(session).id,
        provider="elevenlabs",
        provider_call_id="conv_01jzzzz",
    )
    body = body_of(COMMS_ELEVENLABS[0]).replace(b'"HUB"', json.dumps(str(call.id)).encode())
    response = client.post("/webhooks/elevenlabs", content=body, headers=elevenlabs_headers(body))
    assert response.status_code == 200

    shown = client.get(f"/calls/{call.id}", headers=caller).json()
    started = datetime.fromisoformat(shown["started_at"])
    ended = datetime.fromisoformat(shown["ended_at"])
    assert started == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)  # 1767225600
    assert ended == started + timedelta(seconds=118)
    event = session.scalars(select(WebhookEvent).where(WebhookEvent.provider == "elevenlabs")).one()
    assert event.occurred_at == datetime(2026, 1, 1, 0, 3, 20, tzinfo=UTC)  # 1767225800


def test_database_outage_after_a_call_is_placed_is_a_warning(
    client, session, db_connection, calls_api, caller, monkeypatch, caplog, tmp_path
):
    """Issue 21.25: the 201 is sent; the after-placement pass then meets a dead database. That
    is an expected outage (reconciliation links the call's events later): one warning, no ERROR
    with a traceback (a Sentry event)."""
    from sqlalchemy import create_engine
    from sqlmodel import Session

    import services.vendor_deps
    from db import database

    make_agent_profile(session, provider="vapi", purpose="custom")
    route_webhooks(calls_api, None)
    driver = make_driver(session)
    if db_connection.dialect.name == "postgresql":
        # The test server's driver and host on a port nothing listens on.
        dead = create_engine(db_connection.engine.url.set(port=1, database="gone"))
    else:
        dead = create_engine(f"sqlite:///{tmp_path}/no-such-dir/gone.db")

    def dial_during_outage(call_ids, settings):
        database.configure_sessions(lambda: Session(dead, expire_on_commit=False))
        try:
            dial_after_commit(call_ids, settings)
        finally:
            database.configure_sessions(
                lambda: Session(
                    bind=db_connection,
                    join_transaction_mode="create_savepoint",
                    expire_on_commit=False,
                )
            )

    monkeypatch.setattr(services.vendor_deps, "dial_after_commit", dial_during_outage)
    caplog.set_level("WARNING")
    import services.http.error_boundary as boundary

    sentry_events = []
    monkeypatch.setattr(boundary.sentry_sdk, "capture_exception", sentry_events.append)

    placed = client.post(
        "/calls", json={"driver_id": driver.id, "provider": "vapi"}, headers=caller
    )

    assert placed.status_code == 201, placed.text
    assert session.get(Call, placed.json()["id"]) is not None
    assert [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
    (outage,) = [r for r in caplog.records if "database unavailable after the response" in r.msg]
    assert outage.levelname == "WARNING" and outage.exc_info is None
    assert "/calls" in outage.getMessage()
    assert sentry_events == []
    dead.dispose()


def test_the_consoles_columns_sort_every_call(client, session, auth_headers):
    """Driver by full name (case-insensitive), purpose, outcome, dialed time and id sort the
    whole list, NULLs last both ways; pages of one walk the same order; an unknown key is 422."""
    at = datetime(2021, 3, 4, 12, 0, tzinfo=UTC)  # a window no other test's calls fall in
    ann = make_driver(session, first_name="ann", last_name="Zed")
    bob = make_driver(session, first_name="Bob", last_name="Able")
    spec = [
        (ann.id, "violation_coaching", "no_answer", 1),
        (None, "hos_check", None, 2),
        (bob.id, "late_load_check", "completed", 0),
    ]
    calls = [
        make_call(
            session,
            driver_id=driver_id,
            purpose=purpose,
            outcome=outcome,
            dialed=driver_id is not None,
            created_at=at + timedelta(minutes=minutes),
        )
        for driver_id, purpose, outcome, minutes in spec
    ]
    index = {c.id: i for i, c in enumerate(calls)}
    headers = auth_headers("dispatcher")
    window = {"since": at.isoformat(), "until": (at + timedelta(hours=1)).isoformat()}

    def order(sort: str) -> list[int]:
        pages = [
            client.get(
                "/calls", params={**window, "sort": sort, "limit": 1, "offset": o}, headers=headers
            )
            for o in range(3)
        ]
        assert all(p.status_code == 200 for p in pages), pages[0].text
        return [index[p.json()["items"][0]["id"]] for p in pages]

    assert order("driver") == [0, 2, 1]  # ann Zed, Bob Able, no driver
    assert order("-driver") == [2, 0, 1]
    assert order("purpose") == [1, 2, 0]
    assert order("outcome") == [2, 0, 1]
    assert order("-outcome") == [0, 2, 1]
    assert order("dialed_at") == [2, 0, 1]  # the undialed call last both ways
    assert order("-dialed_at") == [0, 2, 1]
    assert order("-id") == [2, 1, 0]
    assert order("id") == [0, 1, 2]
    refused = client.get("/calls", params={"sort": "driver_name"}, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"] == "validation_error"
    assert "dialed_at" in refused.json()["detail"]
