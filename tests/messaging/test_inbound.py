"""`apply_received` over one batch: what each reply answers (the active run, else the latest text
we sent, else the latest call, within the reply window), what it says written on the trip, STOP
kept out of the contact plan, and statuses moving messages forward only — by provider id, or for
in-cab messages by driver and text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from logic.messaging.channel import Received
from logic.messaging.consent import CONFIRMATION
from logic.messaging.inbound import apply_received
from models.contact_plan import ContactPlan, ContactRun
from models.driver_message import DriverMessage
from models.trip import Trip
from tests.factories import make_driver, make_trip
from tests.factories_reports import make_alert, make_call

NOW = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
LATE = "on my way, 20 minutes late"


def _sent(session, driver, at, *, channel="sms", sid=None, body="Where are you?", **context):
    message = DriverMessage(
        driver_id=driver.id,
        channel=channel,
        direction="outbound",
        body=body,
        phone_number=driver.phone,
        samsara_driver_id=driver.samsara_id,
        provider_message_id=sid,
        delivery_status="queued",
        status="sent",
        created_at=at,
        updated_at=at,
        **context,
    )
    session.add(message)
    session.flush()
    return message


def _text(sid: str, number: str, body: str = LATE) -> Received:
    return Received("sms", "message", NOW, provider_message_id=sid, body=body, phone_number=number)


def _inbound(session, sid: str) -> DriverMessage:
    session.expire_all()
    return session.scalars(
        select(DriverMessage).where(DriverMessage.provider_message_id == sid)
    ).one()


def _run(session, driver, **context) -> ContactRun:
    plan = ContactPlan(name=f"plan {driver.id}", steps=[], created_at=NOW, updated_at=NOW)
    session.add(plan)
    session.flush()
    run = ContactRun(plan_id=plan.id, driver_id=driver.id, next_check_at=NOW, **context)
    session.add(run)
    session.flush()
    return run


def test_each_reply_answers_the_run_else_the_latest_text_or_call(session):
    texted, called, planned, stale = (
        make_driver(session, phone=f"+1201555{n:04d}") for n in range(310, 314)
    )
    trip, call_trip, run_trip = (make_trip(session) for _ in range(3))
    alert = make_alert(session, first_seen_at=NOW - timedelta(hours=3), trip_id=trip.id)
    alert.notified_at, alert.slack_channel = NOW - timedelta(hours=3), "C1"
    asked = _sent(
        session, texted, NOW - timedelta(hours=1), alert_id=alert.id, trip_id=trip.id,
        purpose="late_load_check",
    )  # fmt: skip
    make_call(session, driver_id=texted.id, created_at=NOW - timedelta(hours=2))
    _sent(session, called, NOW - timedelta(hours=3), trip_id=trip.id, purpose="eta_check")
    make_call(session, driver_id=called.id, created_at=NOW - timedelta(hours=2),
              trip_id=call_trip.id, purpose="hos_check")  # fmt: skip
    earlier = _sent(session, planned, NOW - timedelta(hours=1), alert_id=alert.id)
    run = _run(session, planned, trip_id=run_trip.id, purpose="custom")
    _sent(session, stale, NOW - timedelta(hours=49), trip_id=trip.id)

    result, waiting = apply_received(
        session,
        [
            _text("SMr1", texted.phone),
            _text("SMr2", called.phone),
            _text("SMr3", planned.phone),
            _text("SMr4", stale.phone),
            _text("SMr5", "+12015550999"),
            _text("SMr1", texted.phone),  # the same text twice in one batch: stored once
        ],
        now=NOW,
    )

    assert (result.replies, waiting) == (5, [])
    reply = _inbound(session, "SMr1")
    assert (reply.driver_id, reply.reply_to_id, reply.alert_id, reply.trip_id, reply.purpose) == (
        texted.id, asked.id, alert.id, trip.id, "late_load_check",
    )  # fmt: skip
    assert reply.insight["reported_delay_minutes"] == 20
    assert session.get(Trip, trip.id).driver_reported_delay_minutes == 20
    assert len(result.alert_deliveries) == 2  # both replies about the alert, in its thread
    by_call = _inbound(session, "SMr2")
    assert (by_call.reply_to_id, by_call.trip_id, by_call.purpose) == (
        None,
        call_trip.id,
        "hos_check",
    )
    by_run = _inbound(session, "SMr3")
    assert (by_run.contact_run_id, by_run.reply_to_id, by_run.alert_id, by_run.trip_id) == (
        run.id, earlier.id, alert.id, run_trip.id,
    )  # fmt: skip
    assert by_run.purpose == "custom"
    assert session.get(Trip, run_trip.id).driver_reported_delay_minutes == 20
    too_late = _inbound(session, "SMr4")
    assert (too_late.driver_id, too_late.trip_id, too_late.reply_to_id) == (stale.id, None, None)
    unknown = _inbound(session, "SMr5")
    assert (unknown.driver_id, unknown.insight, unknown.phone_number) == (None, {}, "+12015550999")
    again, _ = apply_received(session, [_text("SMr1", texted.phone)], now=NOW)
    assert again.replies == 0


def test_stop_leaves_the_run_and_is_confirmed_in_reply(session):
    driver = make_driver(session, phone="+12015550320")
    run = _run(session, driver, purpose="custom")

    result, _ = apply_received(session, [_text("SMstop", driver.phone, "Stop.")], now=NOW)

    stop = _inbound(session, "SMstop")
    assert (result.opted_out, stop.contact_run_id, stop.insight) == (1, None, {})
    assert run.id is not None
    confirmation = session.get(DriverMessage, result.messages[0])
    assert (confirmation.body, confirmation.reply_to_id) == (CONFIRMATION, stop.id)


def test_statuses_move_messages_forward_only(session):
    driver = make_driver(session, phone="+12015550330", samsara_id="8330")
    text = _sent(session, driver, NOW - timedelta(minutes=5), sid="SMs1")
    failed = _sent(session, driver, NOW - timedelta(minutes=5), sid="SMs2")
    first, second = (
        _sent(session, driver, NOW - timedelta(minutes=m), channel="samsara_message", body="Hi")
        for m in (9, 8)
    )

    def status(sid, value, channel="sms", error=None, at=NOW):
        return Received(channel, "status", at, provider_message_id=sid, status=value,
                        samsara_driver_id=driver.samsara_id, body="Hi", error=error)  # fmt: skip

    later = NOW + timedelta(minutes=1)
    result, waiting = apply_received(
        session,
        [
            status("SMs1", "delivered"),
            status("SMs1", "sent"),  # out of order: never moves it back
            status("SMs2", "undelivered", error="Twilio error 30003"),
            status("SMnone", "delivered"),
            status("cab1", "read", "samsara_message"),
            status("cab2", "read", "samsara_message", at=later),
        ],
        now=NOW,
    )

    assert (result.statuses, result.unmatched, waiting) == (4, 1, [3])
    session.expire_all()
    assert (text.delivery_status, text.delivered_at, text.updated_at) == ("delivered", NOW, NOW)
    assert (failed.delivery_status, failed.error) == ("undelivered", "Twilio error 30003")
    assert (first.provider_message_id, second.provider_message_id) == ("cab1", "cab2")
    assert (first.read_at, first.delivered_at, first.delivery_status) == (NOW, NOW, "read")
    result, _ = apply_received(session, [status("SMs1", "read")], now=later)
    session.expire_all()
    assert (result.statuses, text.read_at, text.delivered_at) == (1, later, NOW)
