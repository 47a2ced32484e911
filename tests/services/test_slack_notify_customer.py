"""The "Notify customer" button on a late load's Slack card: shown (and accepted by the sandbox
Slack as Block Kit) on late alerts only; a signed press by a user who may write trips emails the
load's current ETA to its customer contacts once, audited."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import httpx
from sqlalchemy import select

from helpers.time_utils import utc_now
from logic.alerts import outbox
from logic.alerts.candidate import Candidate
from logic.alerts.filters import ChannelLimit, apply_filters
from logic.alerts.rules import load_rules
from models.alert import Alert
from models.audit_log import AuditLog
from models.customer import Customer, CustomerContact
from models.customer_notice import CustomerNotice
from tests.factories import make_driver, make_trip
from tests.services.test_slack_interactions import (  # noqa: F401 (fixtures)
    body_for,
    link,
    signed,
    slack_settings,
)
from utils.slack_client import build_slack_client


def _late_trip(session):
    now = utc_now()
    customer = Customer(name="Acme Foods", key="acme foods")
    session.add(customer)
    session.flush()
    session.add(
        CustomerContact(customer_id=customer.id, name="Ops", email="ops@acme.test", notices=["eta"])
    )
    return make_trip(
        session,
        driver=make_driver(session, first_name="Zebulon", last_name="Quarrington"),
        status="in_transit",
        load_number="LD-7",
        customer_id=customer.id,
        stops=[
            {"departed_at": now - timedelta(hours=4)},
            {
                "name": "Receiver",
                "city": "Memphis",
                "state": "TN",
                "appointment_start": now + timedelta(hours=1),
                "appointment_end": now + timedelta(hours=2),
            },
        ],
        eta_next_stop=now + timedelta(hours=3),
        eta_next_stop_legal=now + timedelta(hours=13),
        hos_binding_clock="drive",
    )


def _post(session, slack_settings, candidate: Candidate) -> Alert:  # noqa: F811
    apply_filters(
        session,
        [candidate],
        rules=load_rules(session),
        evaluated_types=[candidate.type],
        now=utc_now(),
        limit=ChannelLimit(max_posts=100),
    )
    drained = outbox.drain(build_slack_client(slack_settings, sleep=lambda _s: None), now=utc_now())
    assert drained.failed == 0 and drained.sent >= 1  # the sandbox accepted the blocks
    return session.scalars(select(Alert).where(Alert.type == candidate.type)).one()


def _buttons(sandbox, alert: Alert) -> dict[str, dict]:
    messages = httpx.get(f"{sandbox.url}/_sandbox/slack/messages").json()["messages"]
    [message] = [m for m in messages if m["ts"] == alert.slack_ts]
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    return {e["action_id"]: e for block in actions for e in block["elements"]}


def test_a_late_alert_offers_notify_customer_and_a_press_mails_the_eta_once(
    client,
    session,
    sandbox_clean,
    slack_settings,  # noqa: F811
):
    trip = _late_trip(session)
    alert = _post(
        session,
        slack_settings,
        Candidate(
            type="late_for_appointment", subject=f"trip:{trip.id}", title="Late", trip_id=trip.id
        ),
    )
    button = _buttons(sandbox_clean, alert)["notify_customer"]
    assert button["text"]["text"] == "Notify customer" and button["confirm"]["confirm"]
    user = link(session, role="dispatcher")
    session.commit()

    body = body_for(alert.id, "notify_customer")
    response = client.post("/slack/interactions", content=body, headers=signed(body))
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "ETA notice queued for 1 customer contact(s)."
    [mail] = sandbox_clean.mail()
    assert mail["subject"] == "Load LD-7: new estimated arrival at Receiver (Memphis, TN)"
    assert "includes a required 10-hour rest" in mail["text"]
    assert "Zebulon" not in json.dumps(mail)
    [notice] = session.scalars(select(CustomerNotice)).all()
    assert (notice.requested_by, notice.status) == ("slack:amy", "sent")
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "trip.customer_notify")).one()
    assert audit.actor_user_id == user.id and audit.resource_id == str(trip.id)

    again = body_for(alert.id, "notify_customer")
    repeat = client.post(
        "/slack/interactions", content=again, headers=signed(again, ts=int(time.time()) - 7)
    )
    assert repeat.status_code == 200, repeat.text
    assert "already told" in repeat.json()["text"]
    assert len(sandbox_clean.mail()) == 1


def test_other_alerts_have_no_notify_button_and_viewers_may_not_press_it(
    client,
    session,
    sandbox_clean,
    slack_settings,  # noqa: F811
):
    trip = _late_trip(session)
    stale = _post(
        session, slack_settings, Candidate(type="gps_stale", subject="trip:1", title="GPS lost")
    )
    assert "notify_customer" not in _buttons(sandbox_clean, stale)
    late = _post(
        session,
        slack_settings,
        Candidate(
            type="late_for_appointment", subject=f"trip:{trip.id}", title="Late", trip_id=trip.id
        ),
    )
    link(session, role="viewer")
    session.commit()
    body = body_for(late.id, "notify_customer")
    response = client.post("/slack/interactions", content=body, headers=signed(body))
    assert "may not notify customers" in response.json()["text"]
    assert session.scalars(select(CustomerNotice)).all() == []
