"""Reading and administering calls: lists, detail, cancel, agent profiles, do-not-call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from helpers.errors import Conflict, NotFound
from logic.auth import audit
from logic.auth.audit import ClientInfo
from logic.listing import (
    PageRequest,
    check_range,
    driver_name_key,
    fetch_page,
    order_by_clause,
)
from models.call import (
    Call,
    CallDetail,
    CallEventPublic,
    CallInsight,
    CallInsightPublic,
    CallInsightsPage,
    CallOutcome,
    CallPublic,
    CallsPage,
    CallStatus,
)
from models.call_agent_profile import (
    CallAgentProfile,
    CallAgentProfileCreate,
    CallAgentProfilePublic,
    CallAgentProfilesPage,
    CallAgentProfileUpdate,
)
from models.do_not_call import (
    DoNotCall,
    DoNotCallCreate,
    DoNotCallPage,
    DoNotCallPublic,
    DoNotCallUpdate,
)
from models.driver import Driver
from models.user import User
from models.webhook_event import WebhookEvent

_CALL_SORTS = {
    "created_at": Call.created_at,
    "ended_at": Call.ended_at,
    "status": Call.status,
    "duration_seconds": Call.duration_seconds,
    # The console's columns.
    "id": Call.id,
    "driver": driver_name_key(Call.driver_id),
    "purpose": Call.purpose,
    "outcome": Call.outcome,
    "dialed_at": Call.dialed_at,
}
_INSIGHT_SORTS = {
    "created_at": CallInsight.created_at,
    "reported_delay_minutes": CallInsight.reported_delay_minutes,
}


@dataclass(frozen=True)
class CallFilters:
    driver_id: int | None = None
    trip_id: int | None = None
    alert_id: int | None = None
    campaign_target_id: int | None = None
    providers: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def list_calls(session: Session, filters: CallFilters, page: PageRequest) -> CallsPage:
    check_range(filters.since, filters.until, what="created_at range", loc=("query", "until"))
    stmt = select(Call)
    for column, value in (
        (Call.driver_id, filters.driver_id),
        (Call.trip_id, filters.trip_id),
        (Call.alert_id, filters.alert_id),
        (Call.campaign_target_id, filters.campaign_target_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    for column, values in (
        (Call.provider, filters.providers),
        (Call.status, filters.statuses),
        (Call.outcome, filters.outcomes),
        (Call.purpose, filters.purposes),
    ):
        if values:
            stmt = stmt.where(column.in_(values))
    if filters.since is not None:
        stmt = stmt.where(Call.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Call.created_at < filters.until)
    order = order_by_clause(page.sort, _CALL_SORTS, default="-created_at", tie_breaker=Call.id)
    rows, total = fetch_page(session, stmt, page, order)
    return CallsPage(
        items=[CallPublic.model_validate(c) for c in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def get_call(session: Session, call_id: int) -> Call:
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound(f"call {call_id} not found")
    return call


def call_detail(session: Session, call_id: int) -> CallDetail:
    """The call with its transcript, insight and the webhook events that shaped it."""
    call = get_call(session, call_id)
    insight = CallInsight.for_call(session, call.id)
    events = WebhookEvent.for_call(session, call.id)
    return CallDetail(
        **CallPublic.model_validate(call).model_dump(),
        variables=call.variables,
        transcript=call.transcript,
        structured_data=call.structured_data,
        insight=CallInsightPublic.model_validate(insight) if insight else None,
        events=[CallEventPublic.model_validate(e) for e in events],
    )


def cancel_call(
    session: Session, call_id: int, *, actor: User, now: datetime, client: ClientInfo | None
) -> Call:
    """Mark an active call canceled; later provider events never revive it.

    Neither vendor's API hangs up a live outbound call for us, so a call already ringing may
    still complete on the phone; its report is kept on the row, the status stays canceled.
    """
    call = session.scalars(select(Call).where(Call.id == call_id).with_for_update()).first()
    if call is None:
        raise NotFound(f"call {call_id} not found")
    if not call.is_active:
        raise Conflict(f"call {call_id} is already {call.status}")
    call.status = CallStatus.CANCELED
    call.outcome = CallOutcome.CANCELED
    call.ended_at = now
    call.updated_at = now
    audit.record(
        session,
        "call.cancel",
        actor=actor,
        resource_type="call",
        resource_id=call.id,
        client=client,
    )
    session.flush()
    return call


@dataclass(frozen=True)
class InsightFilters:
    driver_id: int | None = None
    trip_id: int | None = None
    needs_follow_up: bool | None = None
    issue: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_insights(session: Session, filters: InsightFilters, page: PageRequest) -> CallInsightsPage:
    check_range(filters.since, filters.until, what="created_at range", loc=("query", "until"))
    stmt = select(CallInsight)
    if filters.driver_id is not None:
        stmt = stmt.where(CallInsight.driver_id == filters.driver_id)
    if filters.trip_id is not None:
        stmt = stmt.where(CallInsight.trip_id == filters.trip_id)
    if filters.needs_follow_up is not None:
        stmt = stmt.where(CallInsight.needs_follow_up.is_(filters.needs_follow_up))
    if filters.since is not None:
        stmt = stmt.where(CallInsight.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(CallInsight.created_at < filters.until)
    order = order_by_clause(
        page.sort, _INSIGHT_SORTS, default="-created_at", tie_breaker=CallInsight.id
    )
    if filters.issue is not None:
        # Issues are a short JSON list; filtering them in Python keeps one portable query.
        rows = [
            r for r in session.scalars(stmt.order_by(*order)) if filters.issue in (r.issues or [])
        ]
        total = len(rows)
        rows = rows[page.offset : page.offset + page.limit]
    else:
        rows, total = fetch_page(session, stmt, page, order)
    return CallInsightsPage(
        items=[CallInsightPublic.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


# ---- agent profiles ----------------------------------------------------------------------


def list_profiles(session: Session, page: PageRequest) -> CallAgentProfilesPage:
    order = order_by_clause(
        page.sort,
        {"name": CallAgentProfile.name, "provider": CallAgentProfile.provider},
        default="name",
        tie_breaker=CallAgentProfile.id,
    )
    rows, total = fetch_page(session, select(CallAgentProfile), page, order)
    return CallAgentProfilesPage(
        items=[CallAgentProfilePublic.model_validate(p) for p in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def get_profile(session: Session, profile_id: int) -> CallAgentProfile:
    profile = session.get(CallAgentProfile, profile_id)
    if profile is None:
        raise NotFound(f"agent profile {profile_id} not found")
    return profile


def _save(session: Session, row: Any, what: str) -> None:
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict(f"{what} already exists") from None


def create_profile(
    session: Session, data: CallAgentProfileCreate, *, actor: User, client: ClientInfo | None
) -> CallAgentProfile:
    profile = CallAgentProfile(**data.model_dump())
    _save(session, profile, f"an agent profile named {data.name!r}")
    audit.record(
        session,
        "call_agent_profile.create",
        actor=actor,
        resource_type="call_agent_profile",
        resource_id=profile.id,
        details=data.model_dump(mode="json"),
        client=client,
    )
    return profile


def update_profile(
    session: Session,
    profile_id: int,
    data: CallAgentProfileUpdate,
    *,
    actor: User,
    client: ClientInfo | None,
) -> CallAgentProfile:
    profile = get_profile(session, profile_id)
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        setattr(profile, name, value)
    _save(session, profile, f"an agent profile named {profile.name!r}")
    audit.record(
        session,
        "call_agent_profile.update",
        actor=actor,
        resource_type="call_agent_profile",
        resource_id=profile.id,
        details={k: v for k, v in data.model_dump(mode="json", exclude_unset=True).items()},
        client=client,
    )
    return profile


def delete_profile(
    session: Session, profile_id: int, *, actor: User, client: ClientInfo | None
) -> None:
    """Deleting keeps past calls (their profile link is cleared by the foreign key)."""
    profile = get_profile(session, profile_id)
    session.delete(profile)
    session.flush()
    audit.record(
        session,
        "call_agent_profile.delete",
        actor=actor,
        resource_type="call_agent_profile",
        resource_id=profile_id,
        client=client,
    )


# ---- do-not-call -------------------------------------------------------------------------


def list_do_not_call(
    session: Session, page: PageRequest, *, driver_id: int | None = None
) -> DoNotCallPage:
    stmt = select(DoNotCall)
    if driver_id is not None:
        stmt = stmt.where(DoNotCall.driver_id == driver_id)
    order = order_by_clause(
        page.sort,
        {"created_at": DoNotCall.created_at},
        default="-created_at",
        tie_breaker=DoNotCall.id,
    )
    rows, total = fetch_page(session, stmt, page, order)
    return DoNotCallPage(
        items=[DoNotCallPublic.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def get_do_not_call(session: Session, entry_id: int) -> DoNotCall:
    entry = session.get(DoNotCall, entry_id)
    if entry is None:
        raise NotFound(f"do-not-call entry {entry_id} not found")
    return entry


def add_do_not_call(
    session: Session, data: DoNotCallCreate, *, actor: User, client: ClientInfo | None
) -> DoNotCall:
    if data.driver_id is not None and session.get(Driver, data.driver_id) is None:
        raise NotFound(f"driver {data.driver_id} not found")
    entry = DoNotCall(**data.model_dump(), added_by_id=actor.id)
    session.add(entry)
    session.flush()
    audit.record(
        session,
        "do_not_call.add",
        actor=actor,
        resource_type="do_not_call",
        resource_id=entry.id,
        details=data.model_dump(mode="json"),
        client=client,
    )
    return entry


def update_do_not_call(
    session: Session,
    entry_id: int,
    data: DoNotCallUpdate,
    *,
    actor: User,
    client: ClientInfo | None,
) -> DoNotCall:
    entry = get_do_not_call(session, entry_id)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(entry, name, value)
    session.flush()
    audit.record(
        session,
        "do_not_call.update",
        actor=actor,
        resource_type="do_not_call",
        resource_id=entry.id,
        details=data.model_dump(mode="json", exclude_unset=True),
        client=client,
    )
    return entry


def remove_do_not_call(
    session: Session, entry_id: int, *, actor: User, client: ClientInfo | None
) -> None:
    entry = get_do_not_call(session, entry_id)
    session.delete(entry)
    session.flush()
    audit.record(
        session,
        "do_not_call.remove",
        actor=actor,
        resource_type="do_not_call",
        resource_id=entry_id,
        client=client,
    )
