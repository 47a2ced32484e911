"""Why a campaign's pending targets are not being dialed yet: one reason per target, read-only.

Kept apart from the tick (`logic/calls/campaigns.py`), which decides in SQL what to dial; this
explains the rest in the same terms, first matching reason wins: `campaign_draft` /
`campaign_paused`, `before_schedule`, `driver_driving` / `driver_resting` (not safe to call
yet: `logic/calls/safety.py`), `retry_later` (the retry delay after a failed attempt),
`do_not_call`, `outside_window` (the driver's local time is outside the campaign's or the
placement's window), `active_call` (a call to the driver is under way, from anywhere),
`daily_max` (`CALL_MAX_PER_DRIVER_PER_DAY` dialed today), `concurrency` (the campaign's calls in
flight are at `max_concurrency`), else `due` (the next tick dials it).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, literal, or_, select
from sqlmodel import Session

from db.types import UTCDateTime
from helpers.time_utils import is_valid_timezone, make_timezone_aware
from logic.calls.placement import CallingPolicy, in_calling_window
from models.call import ACTIVE_CALL_STATUSES, Call
from models.campaign import (
    IN_FLIGHT_STATES,
    CallCampaign,
    CampaignStatus,
    CampaignTarget,
    TargetState,
)
from models.do_not_call import DoNotCall
from models.driver import Driver


def waiting_reasons(
    session: Session, campaign: CallCampaign, *, now: datetime, policy: CallingPolicy
) -> dict[str, int]:
    """Pending targets of `campaign` counted by why they wait (empty when none is pending)."""
    rows = session.execute(
        select(
            CampaignTarget.driver_id,
            CampaignTarget.next_attempt_at,
            Driver.timezone,
            Driver.do_not_call,
            Driver.phone,
            CampaignTarget.defer_reason,
        )
        .join(Driver, Driver.id == CampaignTarget.driver_id)
        .where(
            CampaignTarget.campaign_id == campaign.id,
            CampaignTarget.state == TargetState.PENDING,
        )
    ).all()
    if not rows:
        return {}
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.PAUSED):
        return {f"campaign_{campaign.status}": len(rows)}
    start_at = campaign.schedule_start_at
    if start_at is not None and make_timezone_aware(start_at) > now:
        return {"before_schedule": len(rows)}
    drivers = [r.driver_id for r in rows]
    busy = _busy_drivers(session, drivers, campaign.id)
    blocked = _do_not_call(session, drivers, {r.phone for r in rows if r.phone}, now)
    dialed = _dialed_since(session, drivers, now - timedelta(hours=50))
    in_flight = session.scalar(
        select(func.count()).where(
            CampaignTarget.campaign_id == campaign.id,
            CampaignTarget.state.in_([s.value for s in IN_FLIGHT_STATES]),
        )
    )
    room = campaign.max_concurrency - (in_flight or 0)
    window = (dtime.fromisoformat(campaign.window_start), dtime.fromisoformat(campaign.window_end))
    reasons: Counter[str] = Counter()
    for row in rows:
        zone = row.timezone if row.timezone and is_valid_timezone(row.timezone) else None
        zone = zone or policy.default_timezone
        if make_timezone_aware(row.next_attempt_at) > now and row.defer_reason:
            reason = row.defer_reason.split(":", 1)[0]  # driver_driving | driver_resting
        elif make_timezone_aware(row.next_attempt_at) > now:
            reason = "retry_later"
        elif row.do_not_call or row.driver_id in blocked or (row.phone and row.phone in blocked):
            reason = "do_not_call"
        elif not (
            in_calling_window(now, zone, start=policy.window_start, end=policy.window_end)
            and in_calling_window(now, zone, start=window[0], end=window[1])
        ):
            reason = "outside_window"
        elif row.driver_id in busy:
            reason = "active_call"
        elif _dialed_today(dialed.get(row.driver_id, []), now, zone) >= policy.max_per_day:
            reason = "daily_max"
        elif room <= 0:
            reason = "concurrency"
        else:
            reason = "due"
            room -= 1
        reasons[reason] += 1
    return dict(sorted(reasons.items()))


def _busy_drivers(session: Session, drivers: list[int], campaign_id: int) -> set[int]:
    """Drivers with an active call anywhere, or a target in flight in another campaign."""
    calls = select(Call.driver_id).where(
        Call.driver_id.in_(drivers), Call.status.in_([s.value for s in ACTIVE_CALL_STATUSES])
    )
    targets = select(CampaignTarget.driver_id).where(
        CampaignTarget.driver_id.in_(drivers),
        CampaignTarget.campaign_id != campaign_id,
        CampaignTarget.state.in_([s.value for s in IN_FLIGHT_STATES]),
    )
    return set(session.scalars(calls)) | set(session.scalars(targets))


def _do_not_call(
    session: Session, drivers: list[int], phones: set[str], now: datetime
) -> set[int | str]:
    """Driver ids and numbers with a do-not-call entry in force."""
    rows = session.execute(
        select(DoNotCall.driver_id, DoNotCall.phone_number).where(
            or_(DoNotCall.driver_id.in_(drivers), DoNotCall.phone_number.in_(sorted(phones))),
            or_(DoNotCall.until.is_(None), DoNotCall.until > now),
        )
    ).all()
    return {value for row in rows for value in row if value is not None}


def _dialed_since(session: Session, drivers: list[int], since: datetime) -> dict[int, list]:
    """Creation times of dialed calls per driver since `since` (covers every local midnight)."""
    out: dict[int, list] = {}
    stmt = select(Call.driver_id, Call.created_at).where(
        and_(Call.driver_id.in_(drivers), Call.dialed_at.is_not(None)),
        Call.created_at >= literal(since, UTCDateTime()),
    )
    for driver_id, created_at in session.execute(stmt):
        out.setdefault(driver_id, []).append(make_timezone_aware(created_at))
    return out


def _dialed_today(created: list[datetime], now: datetime, zone: str) -> int:
    """Calls dialed since the driver's local midnight (the placement's daily maximum)."""
    tz = ZoneInfo(zone)
    midnight = datetime.combine(now.astimezone(tz).date(), dtime(0), tzinfo=tz)
    return sum(1 for at in created if at >= midnight)
