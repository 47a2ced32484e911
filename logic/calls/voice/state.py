"""Moving a call forward from a provider's event, shared by every provider module.

Statuses only advance (`STATUS_RANK`), so duplicated, late or reordered events never take a
call backwards; the final report fills transcript, summary, cost and structured data whenever
it arrives.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from helpers.time_utils import parse_vendor_timestamp
from models.call import STATUS_RANK, Call, CallOutcome, CallStatus

_CALL_ID_MAX = 2**31 - 1  # our call ids are an INTEGER primary key


def hub_call_id(value: Any) -> int | None:
    """Our call id, if `value` can be one (anything else is not ours: None)."""
    try:
        number = int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and 0 < number <= _CALL_ID_MAX else None


def vendor_time(value: Any, *, epoch: Literal["s", "ms"] | None) -> datetime | None:
    """A vendor timestamp, or None when it cannot be read."""
    try:
        return parse_vendor_timestamp(value, epoch=epoch)
    except (ValueError, TypeError, OverflowError):
        return None


def body_digest(raw_body: bytes) -> str:
    """A delivery's own fingerprint, for events that carry no id of their own."""
    return hashlib.sha256(raw_body).hexdigest()[:32]


def terminal_status(outcome: CallOutcome) -> CallStatus:
    if outcome == CallOutcome.FAILED:
        return CallStatus.FAILED
    if outcome == CallOutcome.CANCELED:
        return CallStatus.CANCELED
    return CallStatus.ENDED


def advance(call: Call, status: CallStatus) -> bool:
    """Move to `status` if it is further along; terminal states are final."""
    if STATUS_RANK[status] <= STATUS_RANK[CallStatus(call.status)]:
        return False
    call.status = status
    return True


def end_call(
    call: Call, outcome: CallOutcome, *, ended_at: datetime | None, reason: str | None
) -> None:
    """The call is over with `outcome` (a canceled call stays canceled)."""
    if call.status in (CallStatus.CANCELED,):
        return
    if advance(call, terminal_status(outcome)) or call.outcome is None:
        call.outcome = outcome
    if reason and not call.ended_reason:
        call.ended_reason = reason[:200]
    call.ended_at = call.ended_at or ended_at
