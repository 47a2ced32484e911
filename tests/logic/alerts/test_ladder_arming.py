"""Arming a ladder is a choice: saving or enabling a rule with `ai_call` steps previews how many
open alerts would climb now, and its calls reach only alerts opened afterwards unless
`apply_to_open`."""

from __future__ import annotations

from datetime import timedelta

from logic.alerts import ladder, rule_ops
from logic.auth.audit import ClientInfo
from models.alert import AlertRuleCreate, AlertRuleUpdate, AlertType
from tests.factories import make_driver
from tests.factories_auth import make_user
from tests.logic.alerts.test_ladder import T0, posted_alert

CLIENT = ClientInfo(ip="127.0.0.1", user_agent="test")
STEPS = [{"kind": "ai_call", "after_minutes": 5}]


def _rule(**extra):
    return AlertRuleCreate(
        name="late calls", type=AlertType.SPEEDING, escalation_steps=STEPS, **extra
    )


def _calls_due(session, now):
    return {d.alert_id for d in ladder.due_steps(session, now) if d.step.kind == "ai_call"}


def test_saving_a_rule_with_calls_previews_and_spares_open_alerts(session):
    user = make_user(session, roles=["admin"])
    old = [posted_alert(session, make_driver(session), type=AlertType.SPEEDING) for _ in range(3)]
    now = T0 + timedelta(minutes=30)

    rule, arming = rule_ops.create_rule(session, _rule(), user, now, CLIENT)

    assert arming.open_alerts_would_climb == 3 and arming.applies_to == "new_alerts"
    assert rule.ladder_from == now
    assert _calls_due(session, now + timedelta(minutes=1)) == set()
    newer = posted_alert(session, make_driver(session), type=AlertType.SPEEDING)
    newer.first_seen_at = newer.notified_at = now + timedelta(minutes=1)
    session.flush()
    assert _calls_due(session, now + timedelta(minutes=10)) == {newer.id}

    # Asked for explicitly: the open alerts climb too.
    rule, arming = rule_ops.update_rule(
        session,
        rule,
        AlertRuleUpdate(
            escalation_steps=[{"kind": "ai_call", "after_minutes": 6}], apply_to_open=True
        ),
        user,
        now,
        CLIENT,
    )
    assert arming.applies_to == "open_alerts_too" and rule.ladder_from is None
    assert _calls_due(session, now + timedelta(minutes=10)) == {a.id for a in old} | {newer.id}


def test_enabling_a_disabled_rule_arms_it(session):
    user = make_user(session, roles=["admin"])
    posted_alert(session, make_driver(session), type=AlertType.SPEEDING)
    now = T0 + timedelta(minutes=30)
    rule, arming = rule_ops.create_rule(session, _rule(enabled=False), user, now, CLIENT)
    assert arming is None
    later = now + timedelta(hours=1)
    rule, arming = rule_ops.update_rule(
        session, rule, AlertRuleUpdate(enabled=True), user, later, CLIENT
    )
    assert arming.open_alerts_would_climb == 1 and rule.ladder_from == later
    # A save that does not touch the calls arms nothing.
    rule, arming = rule_ops.update_rule(
        session, rule, AlertRuleUpdate(name="renamed"), user, later, CLIENT
    )
    assert arming is None and rule.ladder_from == later
