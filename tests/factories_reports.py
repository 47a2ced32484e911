"""Builders for report tests: calls and their insights, report recipients."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from helpers.time_utils import utc_now
from models.alert import Alert
from models.call import Call, CallInsight, CallStatus
from models.report import ReportRecipients


def make_call(
    session: Session,
    *,
    driver_id: int,
    created_at: datetime,
    outcome: str | None = "completed",
    status: str = CallStatus.ENDED,
    trip_id: int | None = None,
    purpose: str = "late_load_check",
) -> Call:
    call = Call(
        provider="vapi",
        driver_id=driver_id,
        trip_id=trip_id,
        purpose=purpose,
        to_number="+15555550100",
        status=status,
        outcome=outcome,
        created_at=created_at,
        updated_at=created_at,
    )
    session.add(call)
    session.flush()
    return call


def make_insight(
    session: Session,
    *,
    call: Call,
    issues: list[str] | None = None,
    needs_follow_up: bool = False,
    follow_up_reason: str | None = None,
    reported_delay_minutes: int | None = None,
    created_at: datetime | None = None,
) -> CallInsight:
    insight = CallInsight(
        call_id=call.id,
        driver_id=call.driver_id,
        trip_id=call.trip_id,
        issues=list(issues or []),
        needs_follow_up=needs_follow_up,
        follow_up_reason=follow_up_reason,
        reported_delay_minutes=reported_delay_minutes,
        created_at=created_at or call.created_at,
        updated_at=created_at or call.created_at,
    )
    session.add(insight)
    session.flush()
    return insight


def make_recipients(
    session: Session,
    *,
    terminal: str,
    timezone: str = "America/Chicago",
    slack_channels: list[str] | None = None,
    emails: list[str] | None = None,
    send_at: str = "06:00",
    **extra: Any,
) -> ReportRecipients:
    row = ReportRecipients(
        terminal=terminal,
        timezone=timezone,
        slack_channels=list(slack_channels or []),
        emails=list(emails or []),
        send_at=send_at,
        updated_at=utc_now(),
        **extra,
    )
    session.add(row)
    session.flush()
    return row


def make_alert(
    session: Session,
    *,
    type: str = "speeding",
    first_seen_at: datetime,
    driver_id: int | None = None,
    trip_id: int | None = None,
    severity: str = "warning",
    status: str = "open",
    title: str = "Alert",
) -> Alert:
    alert = Alert(
        type=type,
        severity=severity,
        status=status,
        fingerprint=f"{type}:{driver_id}:{trip_id}:{first_seen_at.isoformat()}",
        driver_id=driver_id,
        trip_id=trip_id,
        title=title,
        first_seen_at=first_seen_at,
        last_seen_at=first_seen_at,
        created_at=first_seen_at,
        updated_at=first_seen_at,
    )
    session.add(alert)
    session.flush()
    return alert
