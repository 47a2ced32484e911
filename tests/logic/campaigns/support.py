"""Builders for campaign tests: alerts tied to drivers, campaigns with one target per driver."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from helpers.time_utils import utc_now
from models.alert import Alert, AlertStatus, AlertType, Severity
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
    now: datetime,
    **extra: Any,
) -> CallCampaign:
    """A campaign with one pending target per driver, due at `now`."""
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
