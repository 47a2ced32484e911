"""Alert rule management (create, update, delete — audited) and the dry run of a rule.

A dry run executes the rule's detector with the rule's thresholds against current data and
reports what would fire and whether each finding is already an active alert. It writes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlmodel import Session

from helpers.errors import NotFound, Unprocessable
from logic.alerts import (
    ladder,
    legal_detector,  # noqa: F401 (registers its detector)
)
from logic.alerts.detectors import DETECTORS, DetectorContext, IncompleteDetection
from logic.alerts.rules import default_rule, effective, load_rules
from logic.auth import audit
from logic.auth.audit import ClientInfo
from models.alert import Alert, AlertRule, AlertRuleCreate, AlertRuleUpdate, LadderArming
from models.alert_ladder import LadderStepKind
from models.user import User


def get_rule(session: Session, rule_id: int) -> AlertRule:
    rule = session.get(AlertRule, rule_id)
    if rule is None:
        raise NotFound(f"alert rule {rule_id} not found")
    return rule


def _check(rule: AlertRule) -> None:
    if bool(rule.quiet_hours_start) != bool(rule.quiet_hours_end):
        raise Unprocessable(
            "quiet hours need both quiet_hours_start and quiet_hours_end",
            loc=("body", "quiet_hours_end" if rule.quiet_hours_start else "quiet_hours_start"),
        )


def _has_calls(rule: AlertRule) -> bool:
    return rule.enabled and any(
        (step or {}).get("kind") == LadderStepKind.AI_CALL for step in rule.escalation_steps or ()
    )


def arm(session: Session, rule: AlertRule, *, apply_to_open: bool, now: datetime) -> LadderArming:
    """The rule's `ai_call` steps were just armed: they climb only alerts first seen from now
    on unless `apply_to_open`; either way, say how many open alerts would climb right now."""
    rule.ladder_from = None if apply_to_open else now
    session.flush()
    due = ladder.due_steps(session, now, rules=load_rules(session), type=rule.type)
    calls = {d.alert_id for d in due if d.step.kind == LadderStepKind.AI_CALL}
    if not apply_to_open:  # what `apply_to_open` would have climbed, for the preview
        rule.ladder_from = None
        session.flush()
        would = ladder.due_steps(session, now, rules=load_rules(session), type=rule.type)
        calls = {d.alert_id for d in would if d.step.kind == LadderStepKind.AI_CALL}
        rule.ladder_from = now
        session.flush()
    return LadderArming(
        open_alerts_would_climb=len(calls),
        applies_to="open_alerts_too" if apply_to_open else "new_alerts",
        ladder_from=rule.ladder_from,
    )


def create_rule(
    session: Session, body: AlertRuleCreate, actor: User, now: datetime, client: ClientInfo
) -> tuple[AlertRule, LadderArming | None]:
    rule = AlertRule(**body.model_dump(exclude={"apply_to_open"}), created_at=now, updated_at=now)
    _check(rule)
    session.add(rule)
    session.flush()
    arming = (
        arm(session, rule, apply_to_open=body.apply_to_open, now=now) if _has_calls(rule) else None
    )
    audit.record(
        session,
        "alert_rule.create",
        actor=actor,
        resource_type="alert_rule",
        resource_id=rule.id,
        details=body.model_dump(mode="json"),
        client=client,
    )
    return rule, arming


def update_rule(
    session: Session,
    rule: AlertRule,
    body: AlertRuleUpdate,
    actor: User,
    now: datetime,
    client: ClientInfo,
) -> tuple[AlertRule, LadderArming | None]:
    had_calls = _has_calls(rule)
    old_calls = [s for s in rule.escalation_steps or () if s.get("kind") == LadderStepKind.AI_CALL]
    changes = body.model_dump(exclude_unset=True, exclude={"apply_to_open"})
    for key, value in changes.items():
        setattr(rule, key, value)
    _check(rule)
    rule.updated_at = now
    session.flush()
    new_calls = [s for s in rule.escalation_steps or () if s.get("kind") == LadderStepKind.AI_CALL]
    armed = _has_calls(rule) and (not had_calls or new_calls != old_calls)
    arming = arm(session, rule, apply_to_open=bool(body.apply_to_open), now=now) if armed else None
    audit.record(
        session,
        "alert_rule.update",
        actor=actor,
        resource_type="alert_rule",
        resource_id=rule.id,
        details=body.model_dump(mode="json", exclude_unset=True),
        client=client,
    )
    return rule, arming


def delete_rule(session: Session, rule: AlertRule, actor: User, client: ClientInfo) -> None:
    audit.record(
        session,
        "alert_rule.delete",
        actor=actor,
        resource_type="alert_rule",
        resource_id=rule.id,
        details={"type": rule.type, "name": rule.name},
        client=client,
    )
    session.delete(rule)
    session.flush()


def dry_run(
    session: Session, rule: AlertRule, now: datetime, weather: Any | None = None
) -> dict[str, Any]:
    """What the rule's detector finds right now, with the rule's thresholds; a type no detector
    finds (opened elsewhere, like `call_follow_up`) is a 422."""
    detector = DETECTORS.get(rule.type)
    if detector is None:
        raise Unprocessable(
            f"{rule.type} alerts are opened by other parts of the hub, not by a detector, so "
            f"they cannot be dry-run; dry-run one of: {', '.join(DETECTORS)}",
            loc=("path", "rule_id") if rule.id else ("body", "type"),
            input=rule.type,
        )
    base = load_rules(session).for_type(rule.type)
    candidate_rule = replace(effective(rule, base if rule.id else default_rule(rule.type)))
    note = None
    try:
        found = detector(session, candidate_rule, now, DetectorContext(weather=weather))
    except IncompleteDetection as exc:
        found, note = exc.candidates, str(exc)
    if rule.terminal or rule.fleet_manager:
        found = [
            c
            for c in found
            if (not rule.terminal or c.terminal == rule.terminal)
            and (not rule.fleet_manager or c.fleet_manager == rule.fleet_manager)
        ]
    active = Alert.active_by_fingerprint(session, types=[rule.type])
    return {
        "type": rule.type,
        "params": candidate_rule.params,
        "matches": len(found),
        "incomplete": note,
        "candidates": [
            {
                "fingerprint": c.fingerprint,
                "title": c.title,
                "message": c.message,
                "severity": c.severity or candidate_rule.severity,
                "already_active_alert_id": active[c.fingerprint].id
                if c.fingerprint in active
                else None,
            }
            for c in found[:200]
        ],
    }
