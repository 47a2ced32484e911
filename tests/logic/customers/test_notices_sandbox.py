"""End to end on the sandbox fleet: ingest, the evaluation pass (ETAs, stop visits), the demo's
customer contacts, then the notice pass mails the sandbox mailbox — each notice once, and no
driver's name or phone in any of them."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from config import get_settings
from logic.alerts.engine import run_evaluation
from logic.customers import jobs
from logic.customers.demo import add_demo_contacts
from logic.ingest.jobs import run_all
from models.customer_notice import CustomerNotice
from models.driver import Driver
from tests.ingest_support import fleet_fixture  # noqa: F401 (the sandbox fleet)


def test_sandbox_loads_mail_their_customers_once_without_the_driver(session, fleet):
    for source in ("samsara", "ditat"):
        run_all(source, trigger="cli", triggered_by="notice-tests")
    now = datetime.fromisoformat(httpx.get(f"{fleet.url}/_sandbox/clock").json()["now"])
    run_evaluation(now=now)
    assert add_demo_contacts(session) > 0
    session.commit()

    mailer = jobs.mailer_or_none(get_settings())
    first = jobs.run_notice_pass(now=now, mailer=mailer)
    again = jobs.run_notice_pass(now=now, mailer=mailer)

    notices = session.scalars(select(CustomerNotice)).all()
    assert first.queued == len(notices) > 0 and again.queued == 0
    assert {n.status for n in notices} == {"sent"}
    mails = fleet.mail()
    assert len(mails) == len(notices)
    assert len({dict(m["headers"])["Message-ID"] for m in mails}) == len(mails)
    people = session.execute(select(Driver.first_name, Driver.last_name, Driver.phone)).all()
    text = repr(mails)
    for first_name, last_name, phone in people:
        for secret in (first_name, last_name, (phone or "")[-7:]):
            assert not secret or secret not in text, secret
    print(f"\nsandbox notices: {first.events} → {len(mails)} emails at {now.astimezone(UTC)}")
