"""The scheduled messaging pass: `POST /messages/tick` (service key, or `calls:admin`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from logic.messaging.service import run_messaging_tick
from services.deps import CallsAdminCaller
from services.vendor_deps import SettingsDep

router = APIRouter(prefix="/messages", tags=["messages"])


class MessagingTick(BaseModel):
    sent: int
    failed: int
    retried: int
    events_applied: int
    events_waiting: int
    polled: dict[str, Any]
    plans: dict[str, Any]


@router.post("/tick")
def messaging_tick(_: CallsAdminCaller, settings: SettingsDep) -> MessagingTick:
    """Send due messages, apply pending Twilio events, poll in-cab replies and read flags, move
    contact plans on (and start the ladder's `contact_plan` steps that are due)."""
    return MessagingTick(**run_messaging_tick(settings))
