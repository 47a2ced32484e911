"""Slack interactivity: `POST /slack/interactions` (signed by Slack, not by a user token)."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from helpers.time_utils import utc_now
from logic.alerts import interactions, outbox
from logic.customers import jobs as customer_jobs
from logic.customers import notice_outbox
from services.alerts import AlertClientsDep
from services.deps import ClientDep
from services.openapi import error_responses
from services.vendor_deps import SettingsDep

router = APIRouter(prefix="/slack", tags=["slack"])


class SlackReply(BaseModel):
    """The ephemeral message Slack shows the person who pressed the button."""

    response_type: str
    replace_original: bool
    text: str


@router.post("/interactions", responses=error_responses(409))
async def slack_interactions(
    request: Request,
    client: ClientDep,
    clients: AlertClientsDep,
    background: BackgroundTasks,
    settings: SettingsDep,
) -> SlackReply:
    """Alert buttons (Acknowledge / Snooze 1h / Resolve / Notify customer), verified by the
    Slack signature."""
    raw = await request.body()  # the exact bytes Slack signed, before any form parsing
    result = await run_in_threadpool(
        interactions.handle_interaction_unit,
        raw,
        timestamp=request.headers.get("x-slack-request-timestamp"),
        signature=request.headers.get("x-slack-signature"),
        now=utc_now(),
        signing_secret=settings.SLACK_SIGNING_SECRET.get_secret_value(),
        client=client,
    )
    if result.deliveries and clients.slack is not None:
        # Slack wants an answer within 3 s: the message update goes out after the response
        # (the unit of work above has already committed it to the outbox).
        background.add_task(outbox.drain, clients.slack, ids=list(result.deliveries))
    if result.notices:
        # "Notify customer": the ETA email goes out after the response, like the update above.
        background.add_task(
            notice_outbox.drain, customer_jobs.mailer_or_none(settings), ids=list(result.notices)
        )
    return result.as_slack_response()
