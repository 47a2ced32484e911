"""Calls: place one, list and read them (transcript, insights, webhook events), preview the
prompt without dialing, cancel, and `POST /calls/reconcile` for the scheduled reconciliation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import Session

from helpers.errors import Forbidden, NotFound
from helpers.time_utils import utc_now
from logic.auth.permissions import Permission
from logic.calls import queries
from logic.calls.placement import CallRefused, CallRequest, prepare_call, preview_call
from logic.calls.reconcile import reconcile_calls
from logic.calls.service import calling_policy, dialer_for
from logic.calls.voice.registry import require_provider
from logic.listing import as_utc
from models.api_fields import ApiDateTime
from models.call import (
    CallCreate,
    CallDetail,
    CallOutcome,
    CallPreview,
    CallPublic,
    CallPurpose,
    CallsPage,
    CallStatus,
)
from models.driver import Driver
from services.deps import (
    CallsAdminCaller,
    CallsPlace,
    CallsRead,
    ClientDep,
    PrincipalDep,
    SessionDep,
)
from services.openapi import error_responses
from services.pagination import PageDep
from services.vendor_deps import CallProvidersDep, DialingDep, SettingsDep

router = APIRouter(prefix="/calls", tags=["calls"])


class ReconcileResponse(BaseModel):
    checked: int
    filled: int
    still_running: int
    linked_events: int
    errors: list[str]
    dialed: int
    found_at_vendor: int
    not_placed: int
    still_unknown: int
    given_up: int


def _get(session: Session, model: Any, row_id: int | None, what: str) -> Any:
    if row_id is None:
        return None
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{what} {row_id} not found")
    return row


@router.post("", status_code=201, responses=error_responses(403, 404, 409, 422))
def create_call(
    body: CallCreate,
    session: SessionDep,
    user: CallsPlace,
    principal: PrincipalDep,
    client: ClientDep,
    dialing: DialingDep,
) -> CallPublic:
    """Queue one call to a driver (answered `queued`; dialed right after the commit); a failed
    check is a 409/422 naming the reason (`driver_driving` / `driver_resting` included, which
    `safety_override` lifts for a caller with `calls:admin`)."""
    require_provider(body.provider, loc=("body", "provider"))
    if body.safety_override and not principal.allows(Permission.CALLS_ADMIN):
        raise Forbidden("safety_override requires permission calls:admin")
    request = CallRequest(
        driver_id=_get(session, Driver, body.driver_id, "driver").id,
        purpose=body.purpose,
        provider=body.provider,
        agent_profile_id=body.agent_profile_id,
        trip_id=body.trip_id,
        alert_id=body.alert_id,
        placed_by=user,
        idempotency_key=body.idempotency_key,
        client=client,
        safety_override=body.safety_override,
    )
    try:
        call = prepare_call(session, request, policy=dialing.policy)
    except CallRefused as refused:
        raise refused.refusal.error() from None
    if call.status == CallStatus.QUEUED:
        dialing.after_commit([call.id])
    return CallPublic.model_validate(call)


@router.get("")
def list_calls(
    session: SessionDep,
    _: CallsRead,
    page: PageDep,
    driver_id: int | None = None,
    trip_id: int | None = None,
    alert_id: int | None = None,
    campaign_target_id: int | None = None,
    provider: Annotated[list[str] | None, Query(description="repeatable")] = None,
    status: Annotated[list[CallStatus] | None, Query(description="repeatable")] = None,
    outcome: Annotated[list[CallOutcome] | None, Query(description="repeatable")] = None,
    purpose: Annotated[list[CallPurpose] | None, Query(description="repeatable")] = None,
    since: Annotated[ApiDateTime | None, Query(description="created at or after; UTC")] = None,
    until: Annotated[ApiDateTime | None, Query(description="created before; UTC")] = None,
) -> CallsPage:
    """Calls, newest first, filtered by driver, trip, provider, status, outcome, purpose, dates."""
    filters = queries.CallFilters(
        driver_id=driver_id,
        trip_id=trip_id,
        alert_id=alert_id,
        campaign_target_id=campaign_target_id,
        providers=tuple(provider or ()),
        statuses=tuple(status or ()),
        outcomes=tuple(outcome or ()),
        purposes=tuple(purpose or ()),
        since=as_utc(since),
        until=as_utc(until),
    )
    return queries.list_calls(session, filters, page)


class PreviewQuery(BaseModel):
    driver_id: int
    purpose: CallPurpose = CallPurpose.LATE_LOAD_CHECK
    provider: str | None = None
    agent_profile_id: int | None = None


@router.get("/preview", responses=error_responses(404))
def preview(
    session: SessionDep,
    _: CallsRead,
    settings: SettingsDep,
    query: Annotated[PreviewQuery, Query()],
) -> CallPreview:
    """The prompt, first message and variables a call would carry; nothing is dialed."""
    require_provider(query.provider, loc=("query", "provider"))
    request = CallRequest(**query.model_dump())
    return CallPreview(**preview_call(session, request, policy=calling_policy(settings)))


@router.post("/reconcile")
def reconcile(
    _: CallsAdminCaller, providers: CallProvidersDep, settings: SettingsDep
) -> ReconcileResponse:
    """Recover interrupted and unknown dials (found at the vendor before any re-dial), give up
    on calls that never finished, and poll calls whose final webhook never came (scheduled)."""
    result = reconcile_calls(
        providers,
        after_minutes=settings.CALL_RECONCILE_AFTER_MINUTES,
        dialer=dialer_for(providers, settings),
    )
    return ReconcileResponse(**result.__dict__)


@router.get("/{call_id}")
def get_call(_: CallsRead, session: SessionDep, call_id: int) -> CallDetail:
    """One call with transcript, summary, insights and the webhook events received for it."""
    return queries.call_detail(session, call_id)


@router.post("/{call_id}/cancel")
def cancel_call(
    user: CallsPlace, session: SessionDep, client: ClientDep, call_id: int
) -> CallPublic:
    """Cancel a queued or live call; later provider events never revive it."""
    call = queries.cancel_call(session, call_id, actor=user, now=utc_now(), client=client)
    return CallPublic.model_validate(call)
