"""Builders for campaign tests: alerts tied to drivers, campaigns with targets, calls."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from helpers.time_utils import utc_now
from models.alert import Alert, AlertStatus, AlertType, Severity
from models.call import Call, CallStatus
from models.campaign import CallCampaign, CampaignStatus, CampaignTarget, TargetState
from models.driver import Driver


def make_alert(
    session: Session,
    *,
    driver: Driver | None = None,
    type: str = AlertType.LATE_FOR_APPOINTMENT,
    status: str = AlertStatus.OPEN,
    severity: str = Severity.CRITICAL,
    trip_id: int | None = None,
    resolved_at: datetime | None = None,
    **extra: Any,
) -> Alert:
    now = utc_now()
    alert = Alert(
        type=type,
        status=status,
        severity=severity,
        fingerprint=f"{type}:driver:{driver.id if driver else 0}:{id(extra)}:{now.timestamp()}",
        driver_id=driver.id if driver else None,
        trip_id=trip_id,
        title=f"{type} alert",
        first_seen_at=now,
        last_seen_at=now,
        resolved_at=resolved_at,
        created_at=now,
        updated_at=now,
        **extra,
    )
    session.add(alert)
    session.flush()
    return alert


def make_campaign(
    session: Session,
    *,
    drivers: list[Driver] = (),  # type: ignore[assignment]
    status: str = CampaignStatus.RUNNING,
    purpose: str = "hos_check",
    provider: str = "vapi",
    now: datetime | None = None,
    **extra: Any,
) -> CallCampaign:
    """A campaign with one pending target per driver, due at `now`."""
    now = now or utc_now()
    campaign = CallCampaign(
        name=f"campaign {len(drivers)}",
        purpose=purpose,
        provider=provider,
        status=status,
        audience={"kind": "drivers", "driver_ids": [d.id for d in drivers]},
        target_count=len(drivers),
        created_at=now,
        updated_at=now,
        **extra,
    )
    session.add(campaign)
    session.flush()
    for driver in drivers:
        session.add(
            CampaignTarget(
                campaign_id=campaign.id,
                driver_id=driver.id,
                state=TargetState.PENDING,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()
    return campaign


def make_call(
    session: Session,
    *,
    driver: Driver,
    status: str = CallStatus.IN_PROGRESS,
    outcome: str | None = None,
    campaign_target_id: int | None = None,
    ended_at: datetime | None = None,
    created_at: datetime | None = None,
    **extra: Any,
) -> Call:
    created = created_at or utc_now() - timedelta(minutes=1)
    call = Call(
        provider="vapi",
        driver_id=driver.id,
        purpose="hos_check",
        to_number=driver.phone or "+12015550123",
        status=status,
        outcome=outcome,
        campaign_target_id=campaign_target_id,
        ended_at=ended_at,
        created_at=created,
        updated_at=created,
        **extra,
    )
    session.add(call)
    session.flush()
    return call
