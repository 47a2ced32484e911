"""What people do to alerts — acknowledge, snooze, resolve, bulk acknowledge — audited.

Each action records a decision on the alert, writes an audit row and enqueues a Slack update of
the original message, all in the caller's transaction. Acting on a resolved alert is a conflict;
repeating the same action is allowed and changes nothing but the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from helpers.errors import BadRequest, Conflict, NotFound
from logic.alerts import outbox
from logic.alerts.filters import record_decision
from logic.auth import audit
from logic.auth.audit import ClientInfo
from models.alert import Alert, AlertStatus
from models.user import User

MAX_SNOOZE_MINUTES = 7 * 24 * 60
MAX_BULK = 500


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    return alert


def _actor_name(user: User) -> str:
    return user.username


def _guard_open(alert: Alert, action: str) -> None:
    if alert.status == AlertStatus.RESOLVED:
        raise Conflict(f"alert {alert.id} is resolved; it cannot be {action}")


def acknowledge(
    session: Session,
    alert: Alert,
    user: User,
    now: datetime,
    *,
    via: str = "api",
    client: ClientInfo | None = None,
) -> Alert:
    _guard_open(alert, "acknowledged")
    if alert.status != AlertStatus.ACKNOWLEDGED:
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = now
        alert.acknowledged_by_id = user.id
        alert.snoozed_until = None
        alert.updated_at = now
        record_decision(alert, "acknowledged", f"by {_actor_name(user)} via {via}", now)
        outbox.enqueue_update(session, alert, now, actor=_actor_name(user))
    audit.record(
        session,
        "alert.acknowledge",
        actor=user,
        resource_type="alert",
        resource_id=alert.id,
        details={"via": via},
        client=client,
    )
    return alert


def snooze(
    session: Session,
    alert: Alert,
    user: User,
    now: datetime,
    *,
    minutes: int = 60,
    via: str = "api",
    client: ClientInfo | None = None,
) -> Alert:
    """Silence the alert until `now + minutes`; if the condition persists then, it reopens."""
    if not 1 <= minutes <= MAX_SNOOZE_MINUTES:
        raise BadRequest(f"snooze minutes must be between 1 and {MAX_SNOOZE_MINUTES}")
    _guard_open(alert, "snoozed")
    alert.status = AlertStatus.SNOOZED
    alert.snoozed_until = now + timedelta(minutes=minutes)
    alert.updated_at = now
    record_decision(alert, "snoozed", f"by {_actor_name(user)} via {via} for {minutes} min", now)
    outbox.enqueue_update(session, alert, now, actor=_actor_name(user))
    audit.record(
        session,
        "alert.snooze",
        actor=user,
        resource_type="alert",
        resource_id=alert.id,
        details={"via": via, "minutes": minutes},
        client=client,
    )
    return alert


def resolve(
    session: Session,
    alert: Alert,
    user: User,
    now: datetime,
    *,
    note: str | None = None,
    via: str = "api",
    client: ClientInfo | None = None,
) -> Alert:
    if alert.status != AlertStatus.RESOLVED:
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at = now
        alert.resolved_by_id = user.id
        alert.snoozed_until = None
        alert.resolution = (note or f"resolved by {_actor_name(user)}")[:200]
        alert.updated_at = now
        record_decision(alert, "resolved", f"by {_actor_name(user)} via {via}", now)
        outbox.enqueue_update(session, alert, now, actor=_actor_name(user))
    audit.record(
        session,
        "alert.resolve",
        actor=user,
        resource_type="alert",
        resource_id=alert.id,
        details={"via": via, "note": note},
        client=client,
    )
    return alert


def bulk_acknowledge(
    session: Session,
    alert_ids: Iterable[int],
    user: User,
    now: datetime,
    *,
    client: ClientInfo | None = None,
) -> dict[str, list[int]]:
    """Acknowledge many alerts; returns which ids were acknowledged, skipped or missing."""
    ids = sorted(set(alert_ids))
    if len(ids) > MAX_BULK:
        raise BadRequest(f"at most {MAX_BULK} alerts per bulk acknowledge")
    found = {a.id: a for a in session.scalars(select(Alert).where(Alert.id.in_(ids)))}
    result: dict[str, list[int]] = {"acknowledged": [], "skipped": [], "not_found": []}
    for alert_id in ids:
        alert = found.get(alert_id)
        if alert is None:
            result["not_found"].append(alert_id)
        elif alert.status in (AlertStatus.RESOLVED, AlertStatus.ACKNOWLEDGED):
            result["skipped"].append(alert_id)
        else:
            acknowledge(session, alert, user, now, via="bulk", client=client)
            result["acknowledged"].append(alert_id)
    session.flush()
    return result
