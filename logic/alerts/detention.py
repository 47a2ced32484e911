"""Closing detention alerts when the truck leaves: the final figure, then resolved.

The detector (logic/alerts/detectors.py `detention`) opens and grows the alert; a departure
seen by the stop-visit pass ends it here with the billed total, so the Slack card's last word
is the number a carrier invoices, not "condition cleared".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from helpers.time_utils import format_duration
from logic.alerts import outbox
from logic.alerts.filters import record_decision
from models.alert import ACTIVE_STATUSES, Alert, AlertStatus, AlertType
from models.stop_visit import StopVisit


def fingerprint(visit_id: int) -> str:
    return f"{AlertType.DETENTION}:visit:{visit_id}"


def resolve_departed(session: Session, visit_ids: list[int], now: datetime) -> int:
    """Resolve the active detention alerts of departed visits with their final figures."""
    if not visit_ids:
        return 0
    visits = {
        v.id: v for v in session.scalars(select(StopVisit).where(StopVisit.id.in_(visit_ids)))
    }
    alerts = session.scalars(
        select(Alert)
        .where(Alert.fingerprint.in_([fingerprint(i) for i in visits]))
        .where(Alert.status.in_([s.value for s in ACTIVE_STATUSES]))
    ).all()
    for alert in alerts:
        visit = visits[int(alert.fingerprint.rsplit(":", 1)[1])]
        assert visit.departed_at is not None
        held = format_duration(visit.dwell_minutes or 0)
        billed = format_duration(visit.detention_minutes)
        where = visit.facility or "the stop"
        was_pending = alert.status == AlertStatus.PENDING
        alert.message = f"Departed {where}: held {held}, {billed} billable."
        alert.details = {
            **(alert.details or {}),
            "held_minutes": visit.dwell_minutes,
            "detention_minutes": visit.detention_minutes,
            "departed_at": visit.departed_at.isoformat(),
        }
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at = now
        alert.updated_at = now
        alert.snoozed_until = None
        alert.resolution = f"departed: held {held}, {billed} billable"
        record_decision(alert, "auto_resolved", alert.resolution, now)
        if not was_pending:
            outbox.enqueue_update(session, alert, now, flush=False)
    session.flush()
    return len(alerts)
