"""Provider events → call state, through the call's provider (`logic.calls.voice`).

Each provider module parses its own deliveries into an `EventKey` (type, ids, fingerprint) and
applies a stored event to its call; this module only dispatches by the call's provider name, so
the inbox, reconciliation and the webhook route never name a vendor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from logic.calls.voice.base import EventKey
from logic.calls.voice.registry import provider_kind
from models.call import Call

__all__ = ["EventKey", "apply_event", "parse_event"]


def parse_event(provider: str, payload: Any, raw_body: bytes) -> EventKey | None:
    """The delivery's key as its provider reads it (None: acknowledged and dropped)."""
    return provider_kind(provider).parse_event(payload, raw_body)


def apply_event(call: Call, event_type: str, payload: dict[str, Any], *, now: datetime) -> None:
    """Apply one stored event to its call (idempotent: applying it twice changes nothing)."""
    provider_kind(call.provider).apply_event(call, event_type, payload, now=now)
