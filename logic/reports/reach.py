"""Reach: did the hub get through to drivers, per channel and per contact-plan step?

Per channel, counted on the day a contact was made: in-cab messages sent / read / answered,
texts sent / delivered / answered / failed, AI calls placed / answered / voicemail left /
transferred. Per step, from the contact plans that ended that day: how often each kind of step
was taken, and how often the plan ended reached (read, replied, answered) on it. Four statements
for any number of drivers; derived from stored facts only, so any day can be rebuilt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session

from models.call import Call, CallOutcome
from models.contact_plan import ContactRun, RunOutcome
from models.driver_message import DeliveryStatus, DriverMessage, MessageChannel

REACHED = (RunOutcome.READ.value, RunOutcome.REPLIED.value, RunOutcome.ANSWERED.value)
CHANNEL_KEYS = {MessageChannel.SAMSARA_MESSAGE.value: "in_cab", MessageChannel.SMS.value: "sms"}


def _empty() -> dict[str, Any]:
    return {
        "in_cab": {"sent": 0, "read": 0, "replied": 0},
        "sms": {"sent": 0, "delivered": 0, "replied": 0, "failed": 0},
        "call": {"placed": 0, "answered": 0, "voicemail_left": 0, "transferred": 0},
        "steps": {},
    }


def _count(expression: Any) -> Any:
    return func.sum(case((expression, 1), else_=0))


Scope = Callable[[Any, Any], Any]


def reach_by_driver(
    session: Session, in_window: Callable[[Any], Any], *, scope: Scope | None = None
) -> dict[int, dict[str, Any]]:
    """Reach counts per driver; `in_window(column)` bounds the day, `scope(query, driver_id
    column)` joins what the window and the population need (the driver-day table, a terminal's
    drivers)."""
    found: dict[int, dict[str, Any]] = defaultdict(_empty)

    def scoped(query: Any, column: Any) -> Any:
        return scope(query, column) if scope is not None else query

    sent = scoped(
        select(
            DriverMessage.driver_id,
            DriverMessage.channel,
            DriverMessage.direction,
            func.count(),
            _count(DriverMessage.read_at.is_not(None)),
            _count(DriverMessage.delivered_at.is_not(None)),
            _count(
                DriverMessage.delivery_status.in_(
                    [DeliveryStatus.FAILED.value, DeliveryStatus.UNDELIVERED.value]
                )
            ),
        )
        .where(in_window(DriverMessage.created_at), DriverMessage.driver_id.is_not(None))
        .group_by(DriverMessage.driver_id, DriverMessage.channel, DriverMessage.direction),
        DriverMessage.driver_id,
    )
    for driver_id, channel, direction, total, read, delivered, failed in session.execute(sent):
        key = CHANNEL_KEYS.get(channel)
        if key is None:
            continue
        row = found[driver_id][key]
        if direction == "inbound":
            row["replied"] += int(total)
            continue
        row["sent"] += int(total)
        if key == "in_cab":
            row["read"] += int(read or 0)
        else:
            row["delivered"] += int(delivered or 0)
            row["failed"] += int(failed or 0)

    calls = scoped(
        select(
            Call.driver_id,
            func.count(),
            _count(Call.outcome == CallOutcome.COMPLETED.value),
            _count(Call.outcome == CallOutcome.VOICEMAIL_LEFT.value),
            _count(Call.transferred_to.is_not(None)),
        )
        .where(in_window(Call.created_at), Call.driver_id.is_not(None))
        .group_by(Call.driver_id),
        Call.driver_id,
    )
    for driver_id, placed, answered, voicemail, transferred in session.execute(calls):
        found[driver_id]["call"].update(
            placed=int(placed),
            answered=int(answered or 0),
            voicemail_left=int(voicemail or 0),
            transferred=int(transferred or 0),
        )

    runs = scoped(
        select(ContactRun.driver_id, ContactRun.outcome, ContactRun.history).where(
            ContactRun.ended_at.is_not(None), in_window(ContactRun.ended_at)
        ),
        ContactRun.driver_id,
    )
    for driver_id, outcome, history in session.execute(runs):
        steps = found[driver_id]["steps"]
        taken = [h for h in history or [] if h.get("result") in ("started", "paged")]
        for entry in taken:
            counts = steps.setdefault(entry["kind"], {"taken": 0, "reached": 0})
            counts["taken"] += 1
        if outcome in REACHED and taken:
            steps[taken[-1]["kind"]]["reached"] += 1
    return dict(found)


def total(reaches: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The sum of several drivers' reach, with a reach rate per channel and per step."""
    summed = _empty()
    for reach in reaches:
        for channel in ("in_cab", "sms", "call"):
            for name, value in reach[channel].items():
                summed[channel][name] += value
        for kind, counts in reach["steps"].items():
            step = summed["steps"].setdefault(kind, {"taken": 0, "reached": 0})
            step["taken"] += counts["taken"]
            step["reached"] += counts["reached"]
    return with_rates(summed)


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def with_rates(reach: dict[str, Any]) -> dict[str, Any]:
    """Reach rate (%) per channel — in-cab read or answered, texts answered, calls answered —
    and per step; None where nothing was tried."""
    in_cab, sms, call = reach["in_cab"], reach["sms"], reach["call"]
    in_cab["reach_rate"] = _rate(
        min(in_cab["read"] + in_cab["replied"], in_cab["sent"]), in_cab["sent"]
    )
    sms["reach_rate"] = _rate(min(sms["replied"], sms["sent"]), sms["sent"])
    call["reach_rate"] = _rate(call["answered"], call["placed"])
    for counts in reach["steps"].values():
        counts["reach_rate"] = _rate(counts["reached"], counts["taken"])
    return reach
