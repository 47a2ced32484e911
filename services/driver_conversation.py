"""A driver's conversation (`GET /drivers/{id}/conversation`) and sending them a message."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, BackgroundTasks
from pydantic import BaseModel, Field

from logic.listing import Page
from logic.messaging.checks import MessagingPolicy
from logic.messaging.conversation import conversation
from logic.messaging.sending import MessageRequest, queue_message, send_queued
from models.driver_message import ConversationItem, MessageChannel
from services.deps import CallsPlace, CallsRead, ClientDep, DriversRead, SessionDep
from services.openapi import error_responses
from services.pagination import PageDep
from services.vendor_deps import SettingsDep

router = APIRouter(prefix="/drivers", tags=["drivers"])


class MessageCreate(BaseModel):
    channel: MessageChannel
    body: str = Field(min_length=1, max_length=1600)
    alert_id: int | None = None
    trip_id: int | None = None
    purpose: str | None = Field(default=None, max_length=40)


class MessageQueued(BaseModel):
    id: int
    driver_id: int
    channel: MessageChannel
    status: Literal["pending"] = "pending"


@router.get("/{driver_id}/conversation", responses=error_responses(404))
def get_conversation(
    driver_id: int, session: SessionDep, _: DriversRead, __: CallsRead, page: PageDep
) -> Page[ConversationItem]:
    """Every message and call to or from the driver, newest first (`sort=at`: oldest first),
    with delivery/read status and the alert, trip, campaign or contact run behind each."""
    return conversation(session, driver_id, page)


@router.post("/{driver_id}/messages", status_code=202, responses=error_responses(404, 409, 422))
def send_message(
    driver_id: int,
    body: MessageCreate,
    session: SessionDep,
    user: CallsPlace,
    client: ClientDep,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> MessageQueued:
    """Queue an in-cab message or a text to the driver (sent right after the commit); a failed
    pre-contact check is a 409 naming it (`sms_opted_out`, `outside_texting_window`, …)."""
    message = queue_message(
        session,
        MessageRequest(
            driver_id=driver_id,
            channel=body.channel,
            body=body.body,
            purpose=body.purpose,
            alert_id=body.alert_id,
            trip_id=body.trip_id,
            created_by=user,
            client=client,
        ),
        policy=MessagingPolicy.from_settings(settings),
    )
    background.add_task(send_queued, [message.id], settings)
    return MessageQueued(id=message.id, driver_id=driver_id, channel=body.channel)
