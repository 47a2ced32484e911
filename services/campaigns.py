"""Call campaigns: preview an audience, create, start / pause / resume / cancel, watch progress
and targets, and `POST /campaigns/tick` for the scheduled dialing pass."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from helpers.time_utils import utc_now
from logic.calls import audience, campaign_ops, campaigns
from logic.calls.voice.registry import require_provider
from logic.messaging.contact_plans import campaign_plan_step
from models.call import CallOutcome, CallPurpose
from models.campaign import (
    AudiencePreview,
    AudiencePreviewRequest,
    CampaignCreate,
    CampaignDetail,
    CampaignsPage,
    CampaignStatus,
    CampaignTargetsPage,
    CampaignTickSummary,
    TargetState,
)
from services.deps import (
    CampaignsRead,
    CampaignsWrite,
    CampaignsWriteCaller,
    ClientDep,
    SessionDep,
)
from services.pagination import PageDep
from services.vendor_deps import SettingsDep

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


def campaign_filters(
    status: Annotated[list[CampaignStatus] | None, Query(description="repeatable")] = None,
    purpose: CallPurpose | None = None,
) -> campaign_ops.CampaignFilters:
    return campaign_ops.CampaignFilters(statuses=tuple(status or ()), purpose=purpose)


def target_filters(
    state: Annotated[list[TargetState] | None, Query(description="repeatable")] = None,
    outcome: Annotated[list[CallOutcome] | None, Query(description="repeatable")] = None,
    driver_id: int | None = None,
) -> campaign_ops.TargetFilters:
    return campaign_ops.TargetFilters(
        states=tuple(state or ()), outcomes=tuple(outcome or ()), driver_id=driver_id
    )


@router.get("")
def list_campaigns(
    session: SessionDep,
    _: CampaignsRead,
    page: PageDep,
    filters: Annotated[campaign_ops.CampaignFilters, Depends(campaign_filters)],
) -> CampaignsPage:
    """Campaigns, newest first; filter by status and purpose."""
    return campaign_ops.list_campaigns(session, filters, page)


@router.post("", status_code=201)
def create_campaign(
    body: CampaignCreate, session: SessionDep, user: CampaignsWrite, client: ClientDep
) -> CampaignDetail:
    """Create a draft campaign; its audience is resolved into targets now."""
    require_provider(body.provider, loc=("body", "provider"))
    campaign = campaign_ops.create_campaign(session, body, user, utc_now(), client)
    return campaign_ops.campaign_detail(session, campaign)


@router.post("/preview")
def preview_audience(
    body: AudiencePreviewRequest, session: SessionDep, _: CampaignsRead
) -> AudiencePreview:
    """How many drivers an audience holds and the first of them; creates nothing."""
    return audience.preview(session, body.audience, utc_now(), limit=body.limit)


@router.post("/tick")
def tick_campaigns(_: CampaignsWriteCaller, settings: SettingsDep) -> CampaignTickSummary:
    """Run one campaign tick now: move targets on from their calls, claim due ones, dial."""
    # Its own units of work (claim, then one per call), never the request's transaction.
    result = campaigns.run_tick(settings, plan_step=campaign_plan_step)
    return CampaignTickSummary.model_validate(result.as_dict())


@router.get("/{campaign_id}")
def get_campaign(campaign_id: int, session: SessionDep, _: CampaignsRead) -> CampaignDetail:
    """One campaign with its progress: targets by state and by last call outcome."""
    campaign = campaign_ops.get_campaign(session, campaign_id)
    return campaign_ops.campaign_detail(session, campaign)


@router.get("/{campaign_id}/targets")
def list_targets(
    campaign_id: int,
    session: SessionDep,
    _: CampaignsRead,
    page: PageDep,
    filters: Annotated[campaign_ops.TargetFilters, Depends(target_filters)],
) -> CampaignTargetsPage:
    """A campaign's targets; filter by state, last outcome, driver."""
    campaign = campaign_ops.get_campaign(session, campaign_id)
    return campaign_ops.list_targets(session, campaign, filters, page)


def _transition(session, campaign_id: int, user, client, operation) -> CampaignDetail:
    """Lock the campaign, apply one lifecycle operation (audited there), return its detail."""
    campaign = campaign_ops.get_campaign(session, campaign_id, for_update=True)
    operation(session, campaign, user, utc_now(), client)
    return campaign_ops.campaign_detail(session, campaign)


@router.post("/{campaign_id}/start")
def start_campaign(
    campaign_id: int, session: SessionDep, user: CampaignsWrite, client: ClientDep
) -> CampaignDetail:
    """Start a draft: running now, or scheduled until its start time."""
    return _transition(session, campaign_id, user, client, campaign_ops.start_campaign)


@router.post("/{campaign_id}/pause")
def pause_campaign(
    campaign_id: int, session: SessionDep, user: CampaignsWrite, client: ClientDep
) -> CampaignDetail:
    """Stop dialing; calls in flight finish and their outcomes are recorded."""
    return _transition(session, campaign_id, user, client, campaign_ops.pause_campaign)


@router.post("/{campaign_id}/resume")
def resume_campaign(
    campaign_id: int, session: SessionDep, user: CampaignsWrite, client: ClientDep
) -> CampaignDetail:
    """Resume a paused campaign."""
    return _transition(session, campaign_id, user, client, campaign_ops.resume_campaign)


@router.post("/{campaign_id}/cancel")
def cancel_campaign(
    campaign_id: int, session: SessionDep, user: CampaignsWrite, client: ClientDep
) -> CampaignDetail:
    """Cancel: nothing new is dialed, pending targets are skipped, calls in flight finish."""
    return _transition(session, campaign_id, user, client, campaign_ops.cancel_campaign)
