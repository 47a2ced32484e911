"""The scheduled messaging pass (`POST /messages/tick`): send what is due, apply Twilio events
still pending in the inbox, poll the in-cab channel for replies and read flags, then move the
contact plans on (with what those just brought in)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from config import Settings, get_settings
from helpers.time_utils import utc_now
from logic.messaging import inbound, sending
from logic.messaging.contact_plans import run_plan_tick
from logic.messaging.registry import MessageChannels


def run_messaging_tick(
    settings: Settings | None = None, *, now: datetime | None = None
) -> dict[str, Any]:
    settings = settings or get_settings()
    now = now or utc_now()
    channels = MessageChannels.from_settings(settings)
    try:
        drained = sending.drain(channels, now=now)
        pending = inbound.pending_twilio_events()
        applied = inbound.process_twilio_events(pending, settings, now=now)
        polled = inbound.poll_channels(channels, settings, now=now)
    finally:
        channels.close()
    plans = run_plan_tick(settings, now=now)
    return {
        "sent": drained.sent,
        "failed": drained.failed,
        "retried": drained.retried,
        "events_applied": len(pending) - applied.unmatched,
        "events_waiting": applied.unmatched,
        "polled": polled,
        "plans": plans,
    }
