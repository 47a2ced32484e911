"""Finalizing an ended call, once: its `CallInsight` row and the write-back.

Write-back: the alert that prompted the call gets a Slack thread reply (through the alert
outbox) with the outcome and summary; a reported delay is stored on the trip as driver-reported
and raises the trip's late risk; a needed follow-up opens (or re-occurs) a `call_follow_up`
alert for the driver, posted to the alerts channel. Runs under the call's row lock.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from config import get_settings
from helpers.time_utils import format_duration, is_valid_timezone
from logic.alerts import outbox
from logic.calls.voice.registry import provider_label
from logic.trips import stop_visits
from models.alert import Alert, AlertStatus, AlertType, DeliveryKind, Severity
from models.call import Call, CallInsight, CallOutcome, CallStatus
from models.driver import Driver
from models.trip import Trip, TripStop
from utils.call_insights import Insights, Turn, extract_insights

CALL_FOLLOW_UP = AlertType.CALL_FOLLOW_UP.value


def _zone(driver: Driver | None) -> ZoneInfo:
    name = driver.timezone if driver and driver.timezone else None
    return ZoneInfo(
        name if name and is_valid_timezone(name) else get_settings().CALL_DEFAULT_TIMEZONE
    )


def reported_eta(hhmm: str, *, after: datetime, zone: ZoneInfo) -> datetime:
    """The first local `HH:MM` at or after one hour before `after` (an ETA is in the future)."""
    hour, minute = map(int, hhmm.split(":"))
    local = (after - timedelta(hours=1)).astimezone(zone)
    candidate = datetime.combine(local.date(), time(hour, minute), tzinfo=zone)
    if candidate < local:
        candidate += timedelta(days=1)
    return candidate


def _stops(session: Session, trip_id: int | None) -> list[TripStop]:
    if trip_id is None:
        return []
    query = select(TripStop).where(TripStop.trip_id == trip_id).order_by(TripStop.sequence)
    return list(session.scalars(query))


def build_insight(
    session: Session, call: Call, found: Insights, stops: list[TripStop], driver: Driver | None
) -> CallInsight:
    """A `CallInsight` row from extracted findings (not added to the session)."""
    eta_text = found.eta.value if found.eta else None
    location = found.location.value if found.location else None
    stop = next(
        (s for s in stops if s.city and location and s.city.lower() == location.lower()), None
    )
    return CallInsight(
        call_id=call.id,
        driver_id=call.driver_id,
        trip_id=call.trip_id,
        reported_delay_minutes=found.delay_minutes.value if found.delay_minutes else None,
        reported_eta_text=eta_text,
        reported_eta=(
            reported_eta(eta_text, after=call.ended_at or call.created_at, zone=_zone(driver))
            if eta_text
            else None
        ),
        reported_location=location,
        reported_stop_id=stop.id if stop else None,
        issues=list(found.issues.value) if found.issues else [],
        violation_acknowledged=(
            found.violation_acknowledged.value if found.violation_acknowledged else None
        ),
        needs_follow_up=bool(found.needs_follow_up and found.needs_follow_up.value),
        follow_up_reason=found.follow_up_reason,
        hold_reason=found.hold_reason.value if found.hold_reason else None,
        provenance=found.provenance(),
    )


def slack_summary(call: Call, driver: Driver | None, insight: CallInsight | None) -> str:
    """The thread reply: who was called, how it ended, what they said."""
    who = driver.full_name if driver and driver.full_name else f"driver {call.driver_id}"
    outcome = (call.outcome or call.status).replace("_", " ")
    parts = [
        f":telephone_receiver: AI call ({provider_label(call.provider)}) to {who}: *{outcome}*"
    ]
    if call.duration_seconds:
        parts[0] += f" ({call.duration_seconds // 60} min {call.duration_seconds % 60} s)"
    if call.summary:
        parts.append(f"Summary: {call.summary}")
    if insight is not None:
        facts = []
        if insight.reported_delay_minutes is not None:
            facts.append(
                "on time"
                if insight.reported_delay_minutes == 0
                else f"{format_duration(insight.reported_delay_minutes)} late"
            )
        if insight.reported_eta_text:
            facts.append(f"ETA {insight.reported_eta_text}")
        if insight.reported_location:
            facts.append(f"near {insight.reported_location}")
        if insight.issues:
            facts.append("issues: " + ", ".join(i.replace("_", " ") for i in insight.issues))
        if insight.hold_reason:
            facts.append(f"held for: {insight.hold_reason.replace('_', ' ')}")
        if insight.needs_follow_up:
            facts.append(f"follow-up needed ({insight.follow_up_reason})")
        if facts:
            parts.append("Driver reported: " + "; ".join(facts))
    if call.transferred_to:
        parts.append(
            f":arrows_counterclockwise: Transferred to the on-call dispatcher "
            f"({call.transferred_to})."
        )
    if call.error:
        parts.append(f"Error: {call.error}")
    return "\n".join(parts)


def _open_follow_up(
    session: Session, call: Call, driver: Driver | None, insight: CallInsight, now: datetime
) -> Alert:
    """One active follow-up alert per driver; a later call adds an occurrence and a reply."""
    fingerprint = f"{CALL_FOLLOW_UP}:driver:{call.driver_id}"
    existing = session.scalars(
        select(Alert).where(Alert.fingerprint == fingerprint, Alert.status != AlertStatus.RESOLVED)
    ).first()
    who = driver.full_name if driver and driver.full_name else f"driver {call.driver_id}"
    reason = insight.follow_up_reason or "follow-up requested"
    if existing is not None:
        existing.occurrences += 1
        existing.last_seen_at = now
        existing.details = {**existing.details, "call_id": call.id, "reason": reason}
        outbox.enqueue_reply(session, existing, f"Another call needs follow-up: {reason}", now)
        return existing
    settings = get_settings()
    alert = Alert(
        type=CALL_FOLLOW_UP,
        severity=Severity.WARNING,
        status=AlertStatus.OPEN,
        fingerprint=fingerprint,
        trip_id=call.trip_id,
        driver_id=call.driver_id,
        title=f"Follow up with {who} after AI call"[:200],
        message=f"{reason}. {call.summary or ''}".strip(),
        details={"call_id": call.id, "reason": reason, "source_alert_id": call.alert_id},
        first_seen_at=now,
        last_seen_at=now,
        notified_at=now,
        slack_channel=settings.SLACK_ALERTS_CHANNEL,
        created_at=now,
        updated_at=now,
    )
    session.add(alert)
    session.flush()
    outbox.enqueue(
        session,
        channel=settings.SLACK_ALERTS_CHANNEL,
        kind=DeliveryKind.POST,
        now=now,
        alert=alert,
    )
    return alert


def record_reported_delay(session: Session, trip_id: int, minutes: int, at: datetime) -> None:
    """The driver's word on the trip (a call or a text back): stored as driver-reported, and
    it raises the trip's late risk."""
    trip = session.get(Trip, trip_id)
    if trip is None:
        return
    trip.driver_reported_delay_minutes = minutes
    trip.driver_reported_at = at
    if minutes > (trip.late_risk_minutes or 0):
        trip.late_risk_minutes = minutes


def finalize_call(session: Session, call: Call, *, now: datetime) -> CallInsight | None:
    """Insights (for answered calls) and write-back, exactly once per call."""
    driver = session.get(Driver, call.driver_id) if call.driver_id else None
    insight: CallInsight | None = CallInsight.for_call(session, call.id)
    if insight is None and call.outcome == CallOutcome.COMPLETED and call.transcript:
        stops = _stops(session, call.trip_id)
        found = extract_insights(
            turns=[Turn(t.get("role", ""), t.get("text") or "") for t in call.transcript],
            structured=call.structured_data,
            stop_cities=[s.city for s in stops if s.city],
            purpose=call.purpose,
        )
        insight = build_insight(session, call, found, stops, driver)
        session.add(insight)
        session.flush()
        if insight.reported_delay_minutes is not None and call.trip_id is not None:
            record_reported_delay(
                session, call.trip_id, insight.reported_delay_minutes, call.ended_at or now
            )
        if insight.hold_reason and call.trip_id is not None:
            # The driver says the truck is held at the facility: the stop has a visit even
            # where GPS is silent (a lower bound: held at least since the call).
            stop_visits.record_driver_report(session, call.trip_id, call.started_at or now)
        if insight.needs_follow_up and call.driver_id is not None:
            _open_follow_up(session, call, driver, insight, now)
    if call.alert_id is not None and call.status != CallStatus.CANCELED:
        alert = session.get(Alert, call.alert_id)
        if alert is not None:
            outbox.enqueue_reply(session, alert, slack_summary(call, driver, insight), now)
    call.finalized_at = now
    return insight
