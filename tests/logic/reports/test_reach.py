"""Reach in the driver report and the morning report: per channel (in-cab read or answered,
texts answered, calls answered, voicemails left, transfers) and per contact-plan step."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from logic.reports import morning
from logic.reports.driver_reports import build_driver_reports, compute_metrics
from logic.reports.render import summary_lines
from models.contact_plan import ContactPlan, ContactRun
from models.driver_message import DriverMessage
from models.report import DriverReport
from tests.factories import _flushed, make_driver
from tests.factories_reports import make_call

DAY = date(2026, 3, 10)
START = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)  # local midnight in Chicago
NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)


def _message(session, driver, channel, direction="outbound", at=None, **fields):
    at = at or START + timedelta(hours=9)
    return _flushed(
        session,
        DriverMessage(
            driver_id=driver.id,
            channel=channel,
            direction=direction,
            body="Where are you?",
            status="sent" if direction == "outbound" else "received",
            delivery_status=fields.pop("delivery_status", "sent"),
            created_at=at,
            updated_at=at,
            **fields,
        ),
    )


def _run(session, driver, plan, outcome, kinds, at):
    history = [
        {"step": n, "kind": kind, "at": at.isoformat(), "result": "started"}
        for n, kind in enumerate(kinds)
    ]
    return _flushed(
        session,
        ContactRun(
            plan_id=plan.id,
            driver_id=driver.id,
            purpose="late_load_check",
            status="ended",
            outcome=outcome,
            step_index=len(kinds) - 1,
            next_check_at=at,
            history=history,
            ended_at=at,
            created_at=at,
            updated_at=at,
        ),
    )


def _facts(session, *, terminal="Memphis"):
    driver = make_driver(session, terminal=terminal)
    at = START + timedelta(hours=9)
    _message(session, driver, "samsara_message", read_at=at, delivery_status="read")
    _message(session, driver, "samsara_message")
    _message(session, driver, "sms", delivered_at=at, delivery_status="delivered")
    _message(session, driver, "sms", delivery_status="undelivered")
    _message(session, driver, "sms", direction="inbound", delivery_status="received")
    make_call(session, driver_id=driver.id, created_at=at)
    voicemail = make_call(session, driver_id=driver.id, created_at=at, outcome="voicemail_left")
    make_call(session, driver_id=driver.id, created_at=at, outcome="no_answer")
    voicemail.transferred_to = "+12015550142"
    plan = _flushed(session, ContactPlan(name=f"p-{driver.id}", steps=[{"kind": "sms"}]))
    _run(session, driver, plan, "read", ["in_cab_message"], at)
    _run(session, driver, plan, "replied", ["in_cab_message", "ai_call", "sms"], at)
    _run(session, driver, plan, "paged", ["in_cab_message", "ai_call", "sms", "page_oncall"], at)
    # The day before is not counted.
    _message(session, driver, "sms", at=START - timedelta(hours=1))
    return driver


def test_the_driver_report_counts_reach_per_channel_and_per_step(session):
    driver = _facts(session)
    reach = {r["driver_id"]: r for r in compute_metrics(session, DAY, now=NOW)}[driver.id]["reach"]
    assert reach["in_cab"] == {"sent": 2, "read": 1, "replied": 0, "reach_rate": 50.0}
    assert reach["sms"] == {
        "sent": 2, "delivered": 1, "replied": 1, "failed": 1, "reach_rate": 50.0
    }  # fmt: skip
    assert reach["call"] == {
        "placed": 3,
        "answered": 1,
        "voicemail_left": 1,
        "transferred": 1,
        "reach_rate": 33.3,
    }
    steps = reach["steps"]
    assert steps["in_cab_message"] == {"taken": 3, "reached": 1, "reach_rate": 33.3}
    assert steps["sms"] == {"taken": 2, "reached": 1, "reach_rate": 50.0}
    assert steps["ai_call"]["reached"] == 0 and steps["page_oncall"]["taken"] == 1
    build_driver_reports(session, DAY, now=NOW)
    stored = session.scalars(select(DriverReport).where(DriverReport.driver_id == driver.id)).one()
    session.refresh(stored)
    assert stored.reach == reach


def test_the_morning_report_sums_reach_for_its_terminal(session):
    _facts(session, terminal="Memphis")
    _facts(session, terminal="Memphis")
    _facts(session, terminal="Dallas")
    [report] = morning.generate(session, DAY + timedelta(days=1), terminal="Memphis", now=NOW)
    reach = report.body["reach"]
    assert reach["sms"]["sent"] == 4 and reach["sms"]["reach_rate"] == 50.0
    assert reach["call"]["voicemail_left"] == 2 and reach["call"]["transferred"] == 2
    assert reach["steps"]["in_cab_message"]["taken"] == 6
    line = summary_lines(report.body)[-1]
    assert line.startswith("Reach: in-cab 50% of 4 · texts 50% of 4 · calls 33.3% of 6")
    assert "plan steps:" in line and "sms 50%" in line


def test_no_messages_no_reach_line(session):
    driver = make_driver(session, terminal="Memphis")
    make_call(session, driver_id=driver.id, created_at=START + timedelta(hours=9))
    [report] = morning.generate(session, DAY + timedelta(days=1), terminal="Memphis", now=NOW)
    assert not any(line.startswith("Reach") for line in summary_lines(report.body))
