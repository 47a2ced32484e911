"""Contact plans (`/contact-plans`: read with calls:read, change with calls:admin, audited), a
driver's contact runs (`POST /drivers/{id}/contact-runs`, calls:place) and one run's state."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Response

from helpers.time_utils import utc_now
from logic.listing import Page
from logic.messaging import plan_admin
from logic.messaging.contact_plans import run_plan_tick, start_run
from models.contact_plan import (
    ContactPlanCreate,
    ContactPlanPublic,
    ContactPlanUpdate,
    ContactRunCreate,
    ContactRunPublic,
)
from services.deps import CallsAdmin, CallsPlace, CallsRead, ClientDep, SessionDep
from services.openapi import error_responses
from services.pagination import PageDep
from services.vendor_deps import SettingsDep

router = APIRouter(prefix="/contact-plans", tags=["contact plans"])
runs_router = APIRouter(tags=["contact plans"])


@router.get("")
def list_contact_plans(session: SessionDep, _: CallsRead, page: PageDep) -> Page[ContactPlanPublic]:
    """Contact plans by name (`sort=purpose`, `sort=id`)."""
    return plan_admin.list_plans(session, page)


@router.post("", status_code=201, responses=error_responses(409))
def create_contact_plan(
    body: ContactPlanCreate, session: SessionDep, user: CallsAdmin, client: ClientDep
) -> ContactPlanPublic:
    """Add a plan: ordered steps (in-cab message, SMS, AI call, page on-call) with their waits."""
    plan = plan_admin.create_plan(session, body, actor=user, client=client)
    return ContactPlanPublic.model_validate(plan)


@router.get("/{plan_id}", responses=error_responses(404))
def get_contact_plan(_: CallsRead, session: SessionDep, plan_id: int) -> ContactPlanPublic:
    """One contact plan."""
    return ContactPlanPublic.model_validate(plan_admin.get_plan(session, plan_id))


@router.patch("/{plan_id}", responses=error_responses(404, 409))
def update_contact_plan(
    user: CallsAdmin,
    session: SessionDep,
    client: ClientDep,
    plan_id: int,
    body: ContactPlanUpdate,
) -> ContactPlanPublic:
    """Change a plan (runs already started keep going with the new steps)."""
    plan = plan_admin.update_plan(session, plan_id, body, actor=user, client=client)
    return ContactPlanPublic.model_validate(plan)


@router.delete("/{plan_id}", status_code=204, responses=error_responses(404))
def delete_contact_plan(
    user: CallsAdmin, session: SessionDep, client: ClientDep, plan_id: int
) -> Response:
    """Delete a plan and its runs."""
    plan_admin.delete_plan(session, plan_id, actor=user, client=client)
    return Response(status_code=204)


@runs_router.post(
    "/drivers/{driver_id}/contact-runs", status_code=201, responses=error_responses(404, 422)
)
def start_contact_run(
    driver_id: int,
    body: ContactRunCreate,
    session: SessionDep,
    _: CallsPlace,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> ContactRunPublic:
    """Start reaching a driver with a plan (default: the purpose's); its first step is taken
    right after the commit, the next ones by the messaging tick."""
    plan = plan_admin.get_plan(session, body.plan_id) if body.plan_id else None
    run = start_run(
        session,
        plan=plan,
        driver_id=driver_id,
        purpose=body.purpose,
        alert_id=body.alert_id,
        trip_id=body.trip_id,
        now=utc_now(),
    )
    background.add_task(run_plan_tick, settings)
    return ContactRunPublic.model_validate(run)


@runs_router.get("/contact-runs/{run_id}", responses=error_responses(404))
def get_contact_run(_: CallsRead, session: SessionDep, run_id: int) -> ContactRunPublic:
    """One run: its step, what each step did, and how it ended."""
    return plan_admin.get_run(session, run_id)
