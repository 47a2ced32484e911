"""Alert rules: list, create, update, delete (audited) and dry-run against current data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from helpers.time_utils import utc_now
from logic.alerts import rule_ops
from logic.calls.voice.registry import require_provider
from models.alert import (
    AlertRule,
    AlertRuleCreate,
    AlertRuleDryRun,
    AlertRulePublic,
    AlertRuleUpdate,
    AlertType,
)
from models.alert_ladder import LadderStep
from services.deps import AlertRulesRead, AlertRulesWrite, ClientDep, SessionDep

router = APIRouter(prefix="/alert-rules", tags=["alert rules"])


class DryRunFinding(BaseModel):
    fingerprint: str
    title: str
    message: str
    severity: str
    already_active_alert_id: int | None


class DryRunResult(BaseModel):
    """What a rule finds right now (at most 200 findings listed; `matches` counts them all)."""

    type: AlertType
    params: dict[str, Any]
    matches: int
    incomplete: str | None
    candidates: list[DryRunFinding]


@router.get("")
def list_rules(session: SessionDep, _: AlertRulesRead) -> list[AlertRulePublic]:
    """Every stored rule; types without one run with built-in defaults."""
    return [AlertRulePublic.model_validate(r) for r in AlertRule.all_rules(session)]


def _require_step_providers(steps: list[LadderStep] | None) -> None:
    for index, step in enumerate(steps or []):
        require_provider(step.provider, loc=("body", "escalation_steps", index, "provider"))


@router.post("", status_code=201)
def create_rule(
    body: AlertRuleCreate, session: SessionDep, user: AlertRulesWrite, client: ClientDep
) -> AlertRulePublic:
    """Create a rule (unscoped: thresholds and routing for its type; scoped: routing only);
    with `ai_call` steps it answers `arming` (they reach only alerts opened from now on unless
    `apply_to_open`)."""
    _require_step_providers(body.escalation_steps)
    rule, arming = rule_ops.create_rule(session, body, user, utc_now(), client)
    return AlertRulePublic.model_validate(rule).model_copy(update={"arming": arming})


@router.post("/dry-run")
def dry_run_new_rule(body: AlertRuleDryRun, session: SessionDep, _: AlertRulesRead) -> DryRunResult:
    """What an unsaved rule would find right now (writes nothing)."""
    return rule_ops.dry_run(session, AlertRule(**body.model_dump()), utc_now())


@router.get("/{rule_id}")
def get_rule(rule_id: int, session: SessionDep, _: AlertRulesRead) -> AlertRulePublic:
    """One rule."""
    return AlertRulePublic.model_validate(rule_ops.get_rule(session, rule_id))


@router.patch("/{rule_id}")
def update_rule(
    rule_id: int,
    body: AlertRuleUpdate,
    session: SessionDep,
    user: AlertRulesWrite,
    client: ClientDep,
) -> AlertRulePublic:
    """Change a rule; the next evaluation pass uses it. Arming AI check calls answers with
    `arming` (how many open alerts would climb now; only new alerts unless `apply_to_open`)."""
    _require_step_providers(body.escalation_steps)
    rule = rule_ops.get_rule(session, rule_id)
    rule, arming = rule_ops.update_rule(session, rule, body, user, utc_now(), client)
    return AlertRulePublic.model_validate(rule).model_copy(update={"arming": arming})


@router.delete("/{rule_id}", status_code=204)
def delete_rule(
    rule_id: int, session: SessionDep, user: AlertRulesWrite, client: ClientDep
) -> Response:
    """Delete a rule; its type falls back to the defaults (or the unscoped rule)."""
    rule_ops.delete_rule(session, rule_ops.get_rule(session, rule_id), user, client)
    return Response(status_code=204)


@router.post("/{rule_id}/dry-run")
def dry_run_rule(rule_id: int, session: SessionDep, _: AlertRulesRead) -> DryRunResult:
    """What a stored rule finds right now, and which findings are already active alerts."""
    return rule_ops.dry_run(session, rule_ops.get_rule(session, rule_id), utc_now())
