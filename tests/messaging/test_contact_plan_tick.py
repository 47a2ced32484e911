"""The contact-plan tick over many due runs at once: each started message step gets its own
message, named by the run (`current_message_id`), its history entry and its audit row, though
the tick adds them all and flushes once; refused steps pass over as before; and the number of
statements does not grow with the number of due runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from logic.calls.placement import CallingPolicy
from logic.messaging.checks import MessagingPolicy
from logic.messaging.contact_plans import Policies, start_run, tick_runs
from models.audit_log import AuditLog
from models.contact_plan import ContactPlan, ContactRun
from models.driver_message import DriverMessage, SmsOptOut
from tests.factories import make_driver, make_trip
from tests.factories_reports import make_alert

# 10:00 in Chicago, the drivers' zone: inside the default texting window.
NOW = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
POLICIES = Policies(MessagingPolicy(), CallingPolicy(), "S0ONCALL")


def _plan(session, name: str, steps: list[dict]) -> ContactPlan:
    plan = ContactPlan(name=name, steps=steps, created_at=NOW, updated_at=NOW)
    session.add(plan)
    session.flush()
    return plan


def _driver(session, n: int):
    return make_driver(session, phone=f"+1201555{n:04d}", samsara_id=str(9000 + n))


def _runs(session, ids: list[int]) -> dict[int, ContactRun]:
    session.expire_all()
    return {
        run.id: run for run in session.scalars(select(ContactRun).where(ContactRun.id.in_(ids)))
    }


def test_due_runs_start_their_steps_together(session):
    plan = _plan(
        session,
        "text, in-cab, page",
        [
            {"kind": "sms", "wait_minutes": 10},
            {"kind": "in_cab_message", "wait_minutes": 15},
            {"kind": "page_oncall"},
        ],
    )
    texted, also_texted, opted_out, about_trip, wrong_alert = (
        _driver(session, n) for n in range(120, 125)
    )
    session.add(
        SmsOptOut(phone_number=opted_out.phone, driver_id=opted_out.id, keyword="STOP",
                  opted_out_at=NOW - timedelta(days=1))
    )  # fmt: skip
    trip = make_trip(session, driver=about_trip)
    alert = make_alert(session, first_seen_at=NOW, driver_id=about_trip.id, trip_id=trip.id)
    others = make_alert(session, first_seen_at=NOW, driver_id=texted.id, type="late")
    runs = {
        name: start_run(
            session, plan=plan, driver_id=driver.id, purpose="late_load_check", now=NOW, **subject
        ).id
        for name, driver, subject in [
            ("texted", texted, {}),
            ("also_texted", also_texted, {}),
            ("opted_out", opted_out, {}),
            ("about_trip", about_trip, {"alert_id": alert.id}),
            ("wrong_alert", wrong_alert, {"alert_id": others.id}),
        ]
    }

    result = tick_runs(POLICIES, now=NOW)

    assert result.due == 5
    assert result.steps == {"sms": 5, "in_cab_message": 2, "page_oncall": 1}
    assert result.refused == {"sms_opted_out": 1, "call_subject_mismatch": 2, "no_alert_thread": 1}
    assert result.ended == {"exhausted": 1}
    by_id = _runs(session, list(runs.values()))
    run = {name: by_id[run_id] for name, run_id in runs.items()}
    messages = {
        m.contact_run_id: m
        for m in session.scalars(
            select(DriverMessage).where(DriverMessage.contact_run_id.in_(list(runs.values())))
        )
    }
    assert sorted(result.message_ids) == sorted(m.id for m in messages.values())
    started = ["texted", "also_texted", "opted_out", "about_trip"]
    assert set(messages) == {runs[name] for name in started}
    for name in started:
        message = messages[runs[name]]
        assert run[name].current_message_id == message.id
        assert run[name].current_call_id is None
        assert run[name].history[-1]["message_id"] == message.id
        assert run[name].history[-1]["result"] == "started"
        assert run[name].status == "active"
        assert message.driver_id == run[name].driver_id
        assert message.delivery_status == "pending"
    assert len({m.id for m in messages.values()}) == 4
    for name in ("texted", "also_texted", "about_trip"):
        assert messages[runs[name]].channel == "sms"
        assert run[name].step_index == 0
        assert run[name].next_check_at == NOW + timedelta(minutes=10)
    # STOP: the text is refused and the in-cab message goes instead, in the same tick.
    assert messages[runs["opted_out"]].channel == "samsara_message"
    assert [h["result"] for h in run["opted_out"].history] == ["refused", "started"]
    assert run["opted_out"].history[0]["reason"] == "sms_opted_out"
    assert run["opted_out"].step_index == 1
    assert run["opted_out"].next_check_at == NOW + timedelta(minutes=15)
    # The run's alert gives the message its trip, as a manual message's does.
    assert messages[runs["about_trip"]].alert_id == alert.id
    assert messages[runs["about_trip"]].trip_id == trip.id
    # Another driver's alert: every message step refused, no thread to page in: exhausted.
    assert run["wrong_alert"].status == "ended" and run["wrong_alert"].outcome == "exhausted"
    assert [h.get("reason") for h in run["wrong_alert"].history] == [
        "call_subject_mismatch",
        "call_subject_mismatch",
        "no_alert_thread",
    ]
    assert run["wrong_alert"].current_message_id is None
    audits = session.scalars(
        select(AuditLog).where(AuditLog.action.in_(["message.queue", "message.refused"]))
    ).all()
    queued = {a.details["message_id"]: a for a in audits if a.action == "message.queue"}
    assert set(queued) == {m.id for m in messages.values()}
    for message in messages.values():
        audit = queued[message.id]
        assert audit.resource_id == str(message.driver_id)
        assert audit.actor_username == f"contact-run:{message.contact_run_id}"
        assert audit.details["channel"] == message.channel
    refused = [a for a in audits if a.action == "message.refused"]
    assert [a.details["reason"] for a in refused] == ["sms_opted_out"]


def test_statements_do_not_grow_with_due_runs(session, query_counter, is_postgres):
    plan = _plan(session, "text", [{"kind": "sms", "wait_minutes": 10}, {"kind": "page_oncall"}])
    counts = []
    for tick, due in enumerate((2, 8)):
        now = NOW + timedelta(seconds=tick)
        drivers = [_driver(session, 200 + 10 * tick + n) for n in range(due)]
        ids = [
            start_run(session, plan=plan, driver_id=d.id, purpose="late_load_check", now=now).id
            for d in drivers
        ]
        session.flush()
        query_counter.reset()
        result = tick_runs(POLICIES, now=now)
        # SQLite (in-process) inserts the rows of a flush one statement each; PostgreSQL sends
        # them as one batch: there, every statement counts.
        counts.append(
            [s for s in query_counter.statements if is_postgres or not s.startswith("INSERT")]
        )
        assert result.due == due and result.steps == {"sms": due}
        runs = _runs(session, ids)
        assert all(run.current_message_id for run in runs.values())
        assert len({run.current_message_id for run in runs.values()}) == due
    assert len(counts[0]) == len(counts[1]), counts
