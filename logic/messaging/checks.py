"""Pre-contact checks for a message: reachable on the channel, not opted out or on do-not-call,
inside the driver's local texting window, under the channel's daily cap.

Set-wise like the calls' `pre_dial_refusals` (a constant number of queries for many drivers);
the window and the zone are the calls' own (`logic/calls/placement.py`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from config import Settings
from logic.calls.placement import (
    CallingPolicy,
    dial_number,
    in_calling_window,
    next_window_opening,
)
from models.do_not_call import DoNotCall
from models.driver import Driver
from models.driver_message import DriverMessage, MessageChannel, MessageDirection, SmsOptOut


@dataclass(frozen=True)
class MessagingPolicy:
    window_start: time = time(7, 0)
    window_end: time = time(22, 0)
    max_sms_per_day: int = 5
    max_incab_per_day: int = 20
    calling: CallingPolicy = field(default_factory=CallingPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> MessagingPolicy:
        return cls(
            window_start=time.fromisoformat(settings.MESSAGE_WINDOW_START),
            window_end=time.fromisoformat(settings.MESSAGE_WINDOW_END),
            max_sms_per_day=settings.MESSAGE_MAX_SMS_PER_DRIVER_PER_DAY,
            max_incab_per_day=settings.MESSAGE_MAX_INCAB_PER_DRIVER_PER_DAY,
            calling=CallingPolicy.from_settings(settings),
        )

    def cap(self, channel: str) -> int:
        return self.max_sms_per_day if channel == MessageChannel.SMS else self.max_incab_per_day


@dataclass(frozen=True)
class MessageRefusal:
    reason: str  # no_phone_number | no_samsara_id | sms_opted_out | do_not_call |
    # outside_texting_window | daily_message_limit
    message: str
    retry_at: datetime | None = None


def _midnight(now: datetime, zone: str) -> datetime:
    local = now.astimezone(ZoneInfo(zone))
    return datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)


def message_refusals(
    session: Session,
    drivers: Sequence[Driver],
    channel: str,
    *,
    now: datetime,
    policy: MessagingPolicy,
) -> dict[int, MessageRefusal | None]:
    """The first failing check per driver for `channel` (None = may be sent), in four queries."""
    drivers = [d for d in drivers if d.id is not None]
    ids = [d.id for d in drivers]
    numbers = {d.id: dial_number(d) for d in drivers}
    texted = channel == MessageChannel.SMS
    opted_out = SmsOptOut.blocked_numbers(session, [n for n in numbers.values() if n])
    entries = DoNotCall.blocking(
        session, driver_ids=ids, numbers=[n for n in numbers.values() if n], now=now
    )
    blocked = {e.driver_id for e in entries} | {e.phone_number for e in entries}
    zones = {d.id: policy.calling.timezone_for(d) for d in drivers}
    sent: Counter[int] = Counter()
    if ids:
        earliest = min(_midnight(now, zone) for zone in zones.values())
        rows = session.execute(
            select(DriverMessage.driver_id, DriverMessage.created_at).where(
                DriverMessage.driver_id.in_(ids),
                DriverMessage.channel == channel,
                DriverMessage.direction == MessageDirection.OUTBOUND,
                DriverMessage.status.in_(["pending", "sending", "sent"]),
                DriverMessage.created_at >= earliest,
            )
        )
        for driver_id, created in rows:
            if created >= _midnight(now, zones[driver_id]):
                sent[driver_id] += 1
    refusals: dict[int, MessageRefusal | None] = {}
    for driver in drivers:
        number, zone = numbers[driver.id], zones[driver.id]
        refusal = None
        if texted and number is None:
            refusal = MessageRefusal(
                "no_phone_number", f"driver {driver.id} has no valid phone number"
            )
        elif not texted and not (driver.samsara_id or "").isdigit():
            refusal = MessageRefusal(
                "no_samsara_id", f"driver {driver.id} has no Samsara driver id for in-cab messages"
            )
        elif texted and number in opted_out:
            refusal = MessageRefusal(
                "sms_opted_out", f"{number} opted out of texts (STOP); START opts back in"
            )
        elif texted and (driver.do_not_call or driver.id in blocked or number in blocked):
            refusal = MessageRefusal("do_not_call", f"driver {driver.id} is on do-not-call")
        elif not in_calling_window(now, zone, start=policy.window_start, end=policy.window_end):
            local = now.astimezone(ZoneInfo(zone)).strftime("%H:%M")
            refusal = MessageRefusal(
                "outside_texting_window",
                f"it is {local} for driver {driver.id} ({zone}); messages go "
                f"{policy.window_start:%H:%M}-{policy.window_end:%H:%M} local time",
                next_window_opening(now, zone, start=policy.window_start, end=policy.window_end),
            )
        elif sent[driver.id] >= policy.cap(channel):
            refusal = MessageRefusal(
                "daily_message_limit",
                f"driver {driver.id} has had {sent[driver.id]} {channel} messages today "
                f"(maximum {policy.cap(channel)})",
            )
        refusals[driver.id] = refusal
    return refusals
