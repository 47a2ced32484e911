"""Contact plans, administered: list, read, create, change, delete — every change audited.

A plan's purpose must be a call purpose (its AI-call steps place calls for it); at most one
enabled plan per purpose is its default (`ContactPlan.for_purpose` takes the oldest).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from helpers.errors import Conflict, Unprocessable
from logic.auth import audit
from logic.auth.audit import ClientInfo
from logic.listing import Page, PageRequest, fetch_page, order_by_clause
from logic.messaging.contact_plans import PlanNotFound
from models.call import CallPurpose
from models.contact_plan import (
    ContactPlan,
    ContactPlanCreate,
    ContactPlanPublic,
    ContactPlanUpdate,
    ContactRun,
    ContactRunPublic,
)
from models.user import User


def _check_purpose(purpose: str | None) -> None:
    if purpose is not None and purpose not in {p.value for p in CallPurpose}:
        choices = ", ".join(p.value for p in CallPurpose)
        raise Unprocessable(
            f"purpose must be one of {choices}", loc=("body", "purpose"), input=purpose
        )


def _save(session: Session, plan: ContactPlan) -> None:
    try:
        with session.begin_nested():
            session.add(plan)
            session.flush()
    except IntegrityError:
        raise Conflict(f"a contact plan named {plan.name!r} already exists") from None


def _audit(session, action, plan, actor, client, details: dict[str, Any]) -> None:
    audit.record(
        session,
        action,
        actor=actor,
        resource_type="contact_plan",
        resource_id=plan.id,
        details=details,
        client=client,
    )


def list_plans(session: Session, page: PageRequest) -> Page[ContactPlanPublic]:
    order = order_by_clause(
        page.sort,
        {"name": ContactPlan.name, "purpose": ContactPlan.purpose, "id": ContactPlan.id},
        default="name",
        tie_breaker=ContactPlan.id,
    )
    rows, total = fetch_page(session, select(ContactPlan), page, order)
    return Page(
        items=[ContactPlanPublic.model_validate(p) for p in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def get_plan(session: Session, plan_id: int) -> ContactPlan:
    plan = session.get(ContactPlan, plan_id)
    if plan is None:
        raise PlanNotFound(f"contact plan {plan_id} not found")
    return plan


def create_plan(
    session: Session, data: ContactPlanCreate, *, actor: User, client: ClientInfo | None
) -> ContactPlan:
    _check_purpose(data.purpose)
    dumped = data.model_dump(mode="json", exclude_none=False)
    plan = ContactPlan(
        name=data.name,
        purpose=data.purpose,
        enabled=data.enabled,
        steps=[{k: v for k, v in s.items() if v is not None} for s in dumped["steps"]],
    )
    _save(session, plan)
    _audit(session, "contact_plan.create", plan, actor, client, dumped)
    return plan


def update_plan(
    session: Session,
    plan_id: int,
    data: ContactPlanUpdate,
    *,
    actor: User,
    client: ClientInfo | None,
) -> ContactPlan:
    plan = get_plan(session, plan_id)
    changes = data.model_dump(mode="json", exclude_unset=True)
    if "purpose" in changes:
        _check_purpose(changes["purpose"])
    for name, value in changes.items():
        if name == "steps":
            value = [{k: v for k, v in s.items() if v is not None} for s in value]
        setattr(plan, name, value)
    _save(session, plan)
    _audit(session, "contact_plan.update", plan, actor, client, changes)
    return plan


def delete_plan(session: Session, plan_id: int, *, actor: User, client: ClientInfo | None) -> None:
    """Delete a plan and its runs (disable it instead to keep its history)."""
    plan = get_plan(session, plan_id)
    _audit(session, "contact_plan.delete", plan, actor, client, {"name": plan.name})
    session.delete(plan)
    session.flush()


def get_run(session: Session, run_id: int) -> ContactRunPublic:
    run = session.get(ContactRun, run_id)
    if run is None:
        raise PlanNotFound(f"contact run {run_id} not found")
    return ContactRunPublic.model_validate(run)
