"""Campaign lifecycle — create (audience resolved into targets), start, pause, resume, cancel —
and the read side (list, detail with progress, targets), every change audited.

All of it works in the caller's transaction. Pausing or canceling never touches calls already
placed: in-flight calls finish and the tick records their outcomes; nothing new is dialed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, literal, select, update
from sqlmodel import Session

from config import get_settings
from db.types import UTCDateTime
from helpers.errors import Conflict, NotFound, Unprocessable
from helpers.time_utils import utc_now
from logic.auth import audit
from logic.auth.audit import ClientInfo
from logic.calls.audience import audience_query
from logic.calls.placement import CallingPolicy
from logic.calls.waiting import waiting_reasons
from logic.listing import PageRequest, driver_name_key, fetch_page, order_by_clause
from models.call_agent_profile import CallAgentProfile
from models.campaign import (
    FINAL_STATES,
    IN_FLIGHT_STATES,
    CallCampaign,
    CampaignCreate,
    CampaignDetail,
    CampaignProgress,
    CampaignPublic,
    CampaignsPage,
    CampaignStatus,
    CampaignTarget,
    CampaignTargetPublic,
    CampaignTargetsPage,
    TargetState,
)
from models.contact_plan import ContactPlan
from models.driver import Driver
from models.user import User

CANCELED_REASON = "campaign canceled"


def get_campaign(session: Session, campaign_id: int, *, for_update: bool = False) -> CallCampaign:
    query = select(CallCampaign).where(CallCampaign.id == campaign_id)
    if for_update:
        query = query.with_for_update()
    campaign = session.scalars(query).first()
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


def create_campaign(
    session: Session, body: CampaignCreate, actor: User | None, now: datetime, client: ClientInfo
) -> CallCampaign:
    """A draft campaign with one pending target per audience driver (one INSERT … SELECT)."""
    if body.agent_profile_id is not None:
        profile = session.get(CallAgentProfile, body.agent_profile_id)
        if profile is None:
            raise Unprocessable(
                f"agent profile {body.agent_profile_id} not found",
                loc=("body", "agent_profile_id"),
                input=body.agent_profile_id,
            )
        if profile.provider != body.provider:
            raise Unprocessable(
                f"agent profile {profile.id} is a {profile.provider} profile, not {body.provider}",
                loc=("body", "agent_profile_id"),
                input=body.agent_profile_id,
            )
    if body.contact_plan_id is not None and session.get(ContactPlan, body.contact_plan_id) is None:
        raise Unprocessable(
            f"contact plan {body.contact_plan_id} not found",
            loc=("body", "contact_plan_id"),
            input=body.contact_plan_id,
        )
    fields = body.model_dump(exclude={"audience"})
    campaign = CallCampaign(
        **fields,
        audience=body.audience.model_dump(mode="json"),
        status=CampaignStatus.DRAFT,
        created_by_id=actor.id if actor else None,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    session.flush()
    rows = audience_query(session, body.audience, now).subquery("audience")
    stmt = insert(CampaignTarget).from_select(
        ["campaign_id", "driver_id", "trip_id", "alert_id", "state", "attempts",
         "next_attempt_at", "created_at", "updated_at"],
        select(
            literal(campaign.id), rows.c.driver_id, rows.c.trip_id, rows.c.alert_id,
            literal(TargetState.PENDING.value), literal(0), literal(now, UTCDateTime()),
            literal(now, UTCDateTime()), literal(now, UTCDateTime()),
        ),
    )  # fmt: skip
    added = session.execute(stmt).rowcount or 0
    if added == 0:
        raise Unprocessable(
            "the audience matches no drivers; nothing to call", loc=("body", "audience")
        )
    campaign.target_count = added
    _audit(session, "campaign.create", campaign, actor, client, targets=added, **body.model_dump(
        mode="json", include={"name", "purpose", "provider", "audience"}
    ))  # fmt: skip
    return campaign


def start_campaign(
    session: Session, campaign: CallCampaign, actor: User | None, now: datetime, client: ClientInfo
) -> CallCampaign:
    """Draft → running (or scheduled until `schedule_start_at`); the next tick dials."""
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(f"campaign {campaign.id} is {campaign.status}; only a draft can be started")
    if campaign.schedule_end_at is not None and campaign.schedule_end_at <= now:
        raise Conflict(f"campaign {campaign.id}'s schedule ended at {campaign.schedule_end_at}")
    campaign.status = _live_status(campaign, now)
    campaign.started_at = now
    campaign.updated_at = now
    _audit(session, "campaign.start", campaign, actor, client, status=campaign.status)
    return campaign


def pause_campaign(
    session: Session, campaign: CallCampaign, actor: User | None, now: datetime, client: ClientInfo
) -> CallCampaign:
    """Stop dialing; calls in flight finish and their outcomes are still recorded."""
    if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED):
        raise Conflict(f"campaign {campaign.id} is {campaign.status}; it cannot be paused")
    campaign.status = CampaignStatus.PAUSED
    campaign.paused_at = now
    campaign.updated_at = now
    _audit(session, "campaign.pause", campaign, actor, client)
    return campaign


def resume_campaign(
    session: Session, campaign: CallCampaign, actor: User | None, now: datetime, client: ClientInfo
) -> CallCampaign:
    if campaign.status != CampaignStatus.PAUSED:
        raise Conflict(f"campaign {campaign.id} is {campaign.status}; only a paused one resumes")
    campaign.status = _live_status(campaign, now)
    campaign.status_reason = None
    campaign.paused_at = None
    campaign.updated_at = now
    _audit(session, "campaign.resume", campaign, actor, client, status=campaign.status)
    return campaign


def cancel_campaign(
    session: Session, campaign: CallCampaign, actor: User | None, now: datetime, client: ClientInfo
) -> CallCampaign:
    """Cancel: pending targets are skipped at once; calls in flight finish, none is retried."""
    if campaign.status in (CampaignStatus.COMPLETED, CampaignStatus.CANCELED):
        raise Conflict(f"campaign {campaign.id} is already {campaign.status}")
    campaign.status = CampaignStatus.CANCELED
    campaign.canceled_at = now
    campaign.updated_at = now
    skipped = session.execute(
        update(CampaignTarget)
        .where(CampaignTarget.campaign_id == campaign.id)
        .where(CampaignTarget.state == TargetState.PENDING)
        .values(
            state=TargetState.SKIPPED, skip_reason=CANCELED_REASON, finished_at=now, updated_at=now
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    _audit(session, "campaign.cancel", campaign, actor, client, skipped=skipped or 0)
    return campaign


def _live_status(campaign: CallCampaign, now: datetime) -> CampaignStatus:
    if campaign.schedule_start_at is not None and campaign.schedule_start_at > now:
        return CampaignStatus.SCHEDULED
    return CampaignStatus.RUNNING


def _audit(
    session: Session,
    action: str,
    campaign: CallCampaign,
    actor: User | None,
    client: ClientInfo,
    **details: object,
) -> None:
    audit.record(
        session,
        action,
        actor=actor,
        actor_label=None if actor else "service",
        resource_type="campaign",
        resource_id=campaign.id,
        details=details,
        client=client,
    )


# ---- read side -----------------------------------------------------------------------------

# Share of the targets finished (what the console's progress bar shows), 0 with no targets.
_FINISHED_SHARE = func.coalesce(
    select(func.count())
    .where(
        CampaignTarget.campaign_id == CallCampaign.id,
        CampaignTarget.state.in_([s.value for s in FINAL_STATES]),
    )
    .correlate(CallCampaign)
    .scalar_subquery()
    * 1.0
    / func.nullif(CallCampaign.target_count, 0),
    0.0,
)
_CAMPAIGN_SORTS = {
    "created_at": CallCampaign.created_at,
    "name": CallCampaign.name,
    "status": CallCampaign.status,
    "id": CallCampaign.id,
    "purpose": CallCampaign.purpose,
    "started_at": CallCampaign.started_at,
    "progress": _FINISHED_SHARE,
}
_TARGET_SORTS = {
    "next_attempt_at": CampaignTarget.next_attempt_at,
    "updated_at": CampaignTarget.updated_at,
    "attempts": CampaignTarget.attempts,
    "state": CampaignTarget.state,
    "id": CampaignTarget.id,
    "driver": driver_name_key(CampaignTarget.driver_id),
    "last_outcome": CampaignTarget.last_outcome,
    "finished_at": CampaignTarget.finished_at,
    # The stored reason: why a target was skipped, else why it waits; none sorts last.
    "reason": func.coalesce(CampaignTarget.skip_reason, CampaignTarget.defer_reason),
}


@dataclass(frozen=True)
class CampaignFilters:
    statuses: tuple[str, ...] = ()
    purpose: str | None = None


@dataclass(frozen=True)
class TargetFilters:
    states: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    driver_id: int | None = None


def list_campaigns(session: Session, filters: CampaignFilters, page: PageRequest) -> CampaignsPage:
    stmt = select(CallCampaign)
    if filters.statuses:
        stmt = stmt.where(CallCampaign.status.in_(filters.statuses))
    if filters.purpose:
        stmt = stmt.where(CallCampaign.purpose == filters.purpose)
    order = order_by_clause(
        page.sort, _CAMPAIGN_SORTS, default="-created_at", tie_breaker=CallCampaign.id
    )
    rows, total = fetch_page(session, stmt, page, order)
    finished = dict(
        session.execute(
            select(CampaignTarget.campaign_id, func.count())
            .where(
                CampaignTarget.campaign_id.in_([c.id for c in rows]),
                CampaignTarget.state.in_([s.value for s in FINAL_STATES]),
            )
            .group_by(CampaignTarget.campaign_id)
        ).all()
    )
    return CampaignsPage(
        items=[
            CampaignPublic.model_validate(c).model_copy(
                update={"targets_finished": finished.get(c.id, 0)}
            )
            for c in rows
        ],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def campaign_detail(
    session: Session,
    campaign: CallCampaign,
    *,
    now: datetime | None = None,
    policy: CallingPolicy | None = None,
) -> CampaignDetail:
    by_state, by_outcome = CampaignTarget.counts(session, campaign.id)
    in_flight = sum(by_state.get(s, 0) for s in IN_FLIGHT_STATES)
    finished = sum(by_state.get(s, 0) for s in ("done", "failed", "skipped"))
    total = sum(by_state.values())
    progress = CampaignProgress(
        by_state={s.value: by_state.get(s.value, 0) for s in TargetState},
        by_outcome=by_outcome,
        in_flight=in_flight,
        finished=finished,
        percent_finished=round(100.0 * finished / total, 1) if total else 0.0,
        waiting=waiting_reasons(
            session,
            campaign,
            now=now or utc_now(),
            policy=policy or CallingPolicy.from_settings(get_settings()),
        ),
    )
    public = CampaignPublic.model_validate(campaign).model_dump() | {"targets_finished": finished}
    return CampaignDetail(**public, progress=progress)


def list_targets(
    session: Session, campaign: CallCampaign, filters: TargetFilters, page: PageRequest
) -> CampaignTargetsPage:
    stmt = select(CampaignTarget).where(CampaignTarget.campaign_id == campaign.id)
    if filters.states:
        stmt = stmt.where(CampaignTarget.state.in_(filters.states))
    if filters.outcomes:
        stmt = stmt.where(CampaignTarget.last_outcome.in_(filters.outcomes))
    if filters.driver_id is not None:
        stmt = stmt.where(CampaignTarget.driver_id == filters.driver_id)
    order = order_by_clause(page.sort, _TARGET_SORTS, default="id", tie_breaker=CampaignTarget.id)
    rows, total = fetch_page(session, stmt, page, order)
    names = dict(
        session.execute(
            select(Driver.id, Driver.first_name + " " + Driver.last_name).where(
                Driver.id.in_([t.driver_id for t in rows])
            )
        ).all()
    )
    return CampaignTargetsPage(
        items=[
            CampaignTargetPublic.model_validate(t).model_copy(
                update={"driver_name": (names.get(t.driver_id) or "").strip() or None}
            )
            for t in rows
        ],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
