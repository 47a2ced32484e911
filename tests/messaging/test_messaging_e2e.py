"""Reaching drivers over real HTTP: the API under uvicorn, the sandbox's Twilio and Samsara
sending, reporting statuses and posting signed texts back. Each channel's send, status and reply;
the reply in the conversation, the alert's Slack thread and the trip; signatures (missing, bad,
replayed onto another body) refused and never stored; identical concurrent deliveries stored
once; STOP confirmed once, then no more texts until START."""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from config import get_settings
from db.database import session_scope
from logic.messaging.consent import CONFIRMATION
from models.audit_log import AuditLog
from models.driver_message import DriverMessage, SmsOptOut
from models.trip import Trip
from models.webhook_event import WebhookEvent
from sandbox.credentials import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER
from services.vendor_deps import current_settings
from tests.calls_support import (
    posted_alert,
    route_webhooks,
    sandbox_settings,
    serve_main_app,
    thread_replies,
    wait_for,
)
from tests.factories import make_driver, make_stop, make_trip
from tests.factories_auth import bearer_for, make_user

PHONE = "+12015550123"


@pytest.fixture
def live(committed_db, sandbox_clean):
    """(api url, sandbox, settings) with the app pointed at the sandbox and Twilio posting back."""
    from main import app as main_app

    url, stop = serve_main_app()
    settings = sandbox_settings(
        sandbox_clean,
        MESSAGE_WINDOW_START="00:00",
        MESSAGE_WINDOW_END="00:00",
        TWILIO_WEBHOOK_BASE_URL=url,
    )
    main_app.dependency_overrides[current_settings] = lambda: settings
    route_webhooks(sandbox_clean, f"{url}/webhooks/twilio", vendors=("twilio",))
    yield url, sandbox_clean
    stop()
    main_app.dependency_overrides.pop(current_settings, None)
    main_app.dependency_overrides.pop(get_settings, None)


def _conversation(api: httpx.Client, driver_id: int, **params) -> list[dict]:
    response = api.get(f"/drivers/{driver_id}/conversation", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _inbound(sandbox, body: str, number: str = PHONE) -> dict:
    response = httpx.post(
        f"{sandbox.url}/_sandbox/twilio/inbound", json={"from": number, "body": body}
    )
    return response.raise_for_status().json()


def _texts_to(sandbox, number: str) -> list[str]:
    posts = [
        r
        for r in sandbox.requests("twilio")
        if r["method"] == "POST" and r["path"].endswith("/Messages.json")
    ]
    forms = [dict(httpx.QueryParams(r["body"])) for r in posts]
    return [f["Body"] for f in forms if f.get("To") == number]


def test_sms_send_status_and_reply_reach_the_conversation_the_thread_and_the_trip(live):
    url, sandbox = live
    with session_scope() as session:
        headers = bearer_for(session, make_user(session, roles=["dispatcher"]))
        driver = make_driver(session, phone=PHONE, first_name="Sam", last_name="Reyes")
        trip = make_trip(session, driver=driver)
        make_stop(session, trip=trip, sequence=1, city="Dallas")
        alert = posted_alert(session, sandbox, driver_id=driver.id)
        alert.trip_id = trip.id
        driver_id, trip_id, alert_id, thread = driver.id, trip.id, alert.id, alert.slack_ts

    with httpx.Client(base_url=url, headers=headers, timeout=15) as api:
        sent = api.post(
            f"/drivers/{driver_id}/messages",
            json={"channel": "sms", "body": "Where are you?", "alert_id": alert_id},
        )
        assert sent.status_code == 202, sent.text
        assert wait_for(lambda: sandbox.requests("twilio"))
        form = dict(httpx.QueryParams(sandbox.requests("twilio")[0]["body"]))
        assert form["StatusCallback"] == f"{url}/webhooks/twilio"
        assert form["From"] == TWILIO_FROM_NUMBER and form["To"] == PHONE

        def delivered():
            items = _conversation(api, driver_id)
            return items if items and items[0]["delivery_status"] == "delivered" else None

        items = wait_for(delivered)
        assert items, _conversation(api, driver_id)
        assert items[0]["alert_id"] == alert_id and items[0]["delivered_at"]

        _inbound(sandbox, "stuck at the shipper, 2 hours")

        def replied():
            items = _conversation(api, driver_id)
            return items if len(items) == 2 and items[0]["insight"] else None

        items = wait_for(replied)
        assert items, _conversation(api, driver_id)
        reply = items[0]
        assert reply["direction"] == "inbound" and reply["channel"] == "sms"
        assert reply["text"] == "stuck at the shipper, 2 hours"
        assert reply["alert_id"] == alert_id and reply["trip_id"] == trip_id
        assert reply["insight"]["reported_delay_minutes"] == 120
        oldest_first = _conversation(api, driver_id, sort="at")
        assert [i["direction"] for i in oldest_first] == ["outbound", "inbound"]

    posted = wait_for(
        lambda: [m for m in thread_replies(sandbox, thread) if "stuck at the shipper" in m["text"]]
    )
    assert posted and "Sam Reyes replied by text" in posted[0]["text"]
    assert "2 h late" in posted[0]["text"]
    with session_scope() as session:
        assert session.get(Trip, trip_id).driver_reported_delay_minutes == 120


def test_in_cab_message_read_and_reply_come_back_by_polling(live):
    url, sandbox = live
    samsara_id = sandbox.simulator.drivers[0].samsara_id
    with session_scope() as session:
        headers = bearer_for(session, make_user(session, roles=["dispatcher"]))
        service = bearer_for(session, make_user(session, roles=["admin"]))
        driver = make_driver(session, phone=None, samsara_id=samsara_id)
        driver_id = driver.id
    with httpx.Client(base_url=url, headers=headers, timeout=15) as api:
        sent = api.post(
            f"/drivers/{driver_id}/messages",
            json={"channel": "samsara_message", "body": "Please confirm your ETA"},
        )
        assert sent.status_code == 202, sent.text
        assert wait_for(lambda: _conversation(api, driver_id)[0]["delivery_status"] == "sent")
        recorded = [r for r in sandbox.requests("samsara") if r["method"] == "POST"]
        assert recorded[0]["json"] == {"driverIds": [int(samsara_id)], "text": sent_text()}

        tick = api.post("/messages/tick", headers=service)
        assert tick.status_code == 200, tick.text
        assert _conversation(api, driver_id)[0]["delivery_status"] == "sent"  # not read yet

        httpx.post(
            f"{sandbox.url}/_sandbox/samsara/messages/read", json={"driverId": int(samsara_id)}
        ).raise_for_status()
        httpx.post(
            f"{sandbox.url}/_sandbox/samsara/messages",
            json={"driverId": int(samsara_id), "text": "ETA 14:30"},
        ).raise_for_status()
        assert (
            api.post("/messages/tick", headers=service).json()["polled"]["samsara_message"][
                "replies"
            ]
            == 1
        )
        items = _conversation(api, driver_id)
        assert [i["direction"] for i in items] == ["inbound", "outbound"]
        assert items[1]["delivery_status"] == "read" and items[1]["read_at"]
        assert items[0]["text"] == "ETA 14:30"
        assert items[0]["insight"]["reported_eta_text"] == "14:30"
        # A second pass over the same window stores nothing twice.
        api.post("/messages/tick", headers=service).raise_for_status()
        assert len(_conversation(api, driver_id)) == 2


def sent_text() -> str:
    return "Please confirm your ETA"


def _signed(url: str, form: dict[str, str]) -> dict[str, str]:
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, form)
    return {
        "X-Twilio-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def _inbound_form(sid: str, body: str, number: str = PHONE) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": TWILIO_ACCOUNT_SID,
        "From": number,
        "To": TWILIO_FROM_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }


def _stored() -> tuple[int, int]:
    with session_scope() as session:
        events = session.scalar(select(func.count()).where(WebhookEvent.provider == "twilio"))
        messages = session.scalar(select(func.count()).select_from(DriverMessage))
    return events, messages


def test_missing_bad_and_replayed_signatures_are_refused_and_never_stored(live):
    url, _ = live
    hook = f"{url}/webhooks/twilio"
    form = _inbound_form("SM" + "1" * 32, "running late")
    body = urlencode(form)
    good = _signed(hook, form)
    with httpx.Client(timeout=10) as http:
        missing = http.post(hook, content=body, headers={"Content-Type": good["Content-Type"]})
        assert missing.status_code == 400 and missing.json()["error"] == "missing_signature"
        bad = http.post(hook, content=body, headers={**good, "X-Twilio-Signature": "AAAA"})
        assert bad.status_code == 401 and bad.json()["error"] == "invalid_signature"
        forged = urlencode({**form, "Body": "STOP"})
        replayed = http.post(hook, content=forged, headers=good)
        assert replayed.status_code == 401
        other_url = http.post(f"{hook}?to=elsewhere", content=body, headers=good)
        assert other_url.status_code == 401
        assert _stored() == (0, 0)
        assert http.post(hook, content=body, headers=good).json()["stored"] is True
        again = http.post(hook, content=body, headers=good).json()
        assert again["duplicate"] is True and again["stored"] is False
    assert wait_for(lambda: _stored() == (1, 1))


def test_three_identical_concurrent_deliveries_are_one_message(live):
    url, _ = live
    with session_scope() as session:
        make_driver(session, phone=PHONE)
    hook = f"{url}/webhooks/twilio"
    form = _inbound_form("SM" + "2" * 32, "on my way")
    body, headers = urlencode(form), _signed(hook, form)
    answers: list[dict] = []
    start = threading.Barrier(3)

    def post() -> None:
        start.wait()
        answers.append(httpx.post(hook, content=body, headers=headers, timeout=10).json())

    threads = [threading.Thread(target=post) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a["stored"] for a in answers) == [False, False, True]
    assert wait_for(lambda: _stored() == (1, 1))


def test_deliveries_are_answered_while_earlier_ones_are_still_being_applied(live, monkeypatch):
    """Applying a delivery is handed off: the request is over once it is answered. (As a
    request's background task it stayed admitted until applied, so while processing lagged,
    admission control queued every further delivery.)"""
    import services.messaging_webhooks as hooks
    from services.http.metrics import _traffic

    url, _ = live
    with session_scope() as session:
        make_driver(session, phone=PHONE)
    applying, release = threading.Event(), threading.Event()
    real = hooks.process_twilio_events

    def held_processing(event_ids, settings=None):
        applying.set()
        release.wait(20)
        return real(event_ids, settings)

    monkeypatch.setattr(hooks, "process_twilio_events", held_processing)
    hook = f"{url}/webhooks/twilio"
    answers: list[int] = []

    def deliver(n: int) -> None:
        form = _inbound_form(f"SM{n:032d}", f"text {n}")
        try:
            answer = httpx.post(
                hook, content=urlencode(form), headers=_signed(hook, form), timeout=5
            )
            answers.append(answer.status_code)
        except httpx.TimeoutException:
            answers.append(0)

    deliver(0)
    assert applying.wait(5)  # the first is being applied, and stays so
    deliveries = _traffic("Fleet Intelligence Hub").admission_limit + 5
    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(1, deliveries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * deliveries
    assert _stored() == (deliveries, 0)
    release.set()
    assert wait_for(lambda: _stored() == (deliveries, deliveries))


def test_stop_is_confirmed_once_blocks_texts_and_start_lifts_it(live):
    url, sandbox = live
    with session_scope() as session:
        headers = bearer_for(session, make_user(session, roles=["dispatcher"]))
        driver_id = make_driver(session, phone=PHONE).id

    def opted_out() -> bool:
        with session_scope() as session:
            return bool(SmsOptOut.blocked_numbers(session, [PHONE]))

    _inbound(sandbox, "STOP")
    assert wait_for(opted_out)
    assert wait_for(lambda: _texts_to(sandbox, PHONE) == [CONFIRMATION])
    _inbound(sandbox, "stop")
    assert wait_for(lambda: _stored()[1] == 3)  # two STOPs and one confirmation
    assert _texts_to(sandbox, PHONE) == [CONFIRMATION]
    with httpx.Client(base_url=url, headers=headers, timeout=15) as api:
        refused = api.post(f"/drivers/{driver_id}/messages", json={"channel": "sms", "body": "hi"})
        assert refused.status_code == 409 and refused.json()["error"] == "sms_opted_out"
        _inbound(sandbox, "START")
        assert wait_for(lambda: not opted_out())
        again = api.post(f"/drivers/{driver_id}/messages", json={"channel": "sms", "body": "hi"})
        assert again.status_code == 202, again.text
    assert wait_for(lambda: _texts_to(sandbox, PHONE) == [CONFIRMATION, "hi"])
    with session_scope() as session:
        actions = session.scalars(
            select(AuditLog.action).where(AuditLog.action.like("sms.%")).order_by(AuditLog.id)
        ).all()
    assert actions == ["sms.opt_out", "sms.opt_out", "sms.opt_in"]
