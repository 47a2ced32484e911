"""Who a campaign calls: each audience kind as one SELECT of (driver_id, trip_id, alert_id).

One row per driver. The same statement counts the preview, lists its first drivers and feeds the
campaign's `INSERT … SELECT` of targets, so what the preview shows is what the campaign gets.
Filter audiences keep active drivers only; do-not-call drivers stay in (the preview flags them,
the tick skips them with the reason) so the record shows who was left out and why.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, String, cast, exists, func, null, or_, select
from sqlmodel import Session

from helpers.errors import Unprocessable
from models.alert import Alert, AlertStatus, AlertType
from models.campaign import (
    AlertAudience,
    AudienceDriver,
    AudiencePreview,
    DriverListAudience,
    HosViolationAudience,
    LateTripAudience,
    SafetyEventAudience,
)
from models.driver import Driver, DriverStatus
from models.hos import HosViolation
from models.safety_event import SafetyEvent
from models.trip import ACTIVE_TRIP_STATUSES, Trip

AudienceSpec = (
    DriverListAudience
    | HosViolationAudience
    | LateTripAudience
    | SafetyEventAudience
    | AlertAudience
)


def audience_query(session: Session, audience: AudienceSpec, now: datetime) -> Select[Any]:
    """SELECT driver_id, trip_id, alert_id — one row per driver — for `audience` at `now`."""
    if isinstance(audience, DriverListAudience):
        return _drivers(session, audience)
    if isinstance(audience, HosViolationAudience):
        return _hos_violations(audience, now)
    if isinstance(audience, LateTripAudience):
        return _late_trips(audience)
    if isinstance(audience, SafetyEventAudience):
        return _safety_events(audience, now)
    return _alerts(audience)


def _no(name: str) -> Any:
    # Typed: PostgreSQL reads an untyped NULL in a subquery as text, which an INSERT refuses.
    return cast(null(), Integer).label(name)


def _drivers(session: Session, audience: DriverListAudience) -> Select[Any]:
    ids = sorted(set(audience.driver_ids))
    known = set(session.scalars(select(Driver.id).where(Driver.id.in_(ids))))
    missing = [i for i in ids if i not in known]
    if missing:
        shown = ", ".join(str(i) for i in missing[:20])
        raise Unprocessable(
            f"unknown driver ids: {shown}{' …' if len(missing) > 20 else ''}",
            loc=("body", "audience", "driver_ids"),
            input=missing[:20],
        )
    return select(Driver.id.label("driver_id"), _no("trip_id"), _no("alert_id")).where(
        Driver.id.in_(ids)
    )


def _hos_violations(audience: HosViolationAudience, now: datetime) -> Select[Any]:
    # A violation counts as resolved once someone resolved the driver's HOS-violation alert
    # after it started; Samsara itself never marks violations resolved.
    resolved = exists().where(
        Alert.type == AlertType.HOS_VIOLATION,
        Alert.driver_id == HosViolation.driver_id,
        Alert.status == AlertStatus.RESOLVED,
        Alert.resolved_at >= HosViolation.started_at,
    )
    return (
        select(
            HosViolation.driver_id.label("driver_id"),
            _no("trip_id"),
            _no("alert_id"),
        )
        .join(Driver, Driver.id == HosViolation.driver_id)
        .where(Driver.status == DriverStatus.ACTIVE)
        .where(HosViolation.started_at >= now - timedelta(days=audience.days))
        .where(HosViolation.started_at <= now)
        .where(~resolved)
        .group_by(HosViolation.driver_id)
    )


def _late_trips(audience: LateTripAudience) -> Select[Any]:
    # The driver's latest-running trip is the call's context (most minutes late first).
    ranked = (
        select(
            Trip.driver_id.label("driver_id"),
            Trip.id.label("trip_id"),
            func.row_number()
            .over(
                partition_by=Trip.driver_id,
                order_by=(Trip.late_risk_minutes.desc(), Trip.id.desc()),
            )
            .label("rank"),
        )
        .join(Driver, Driver.id == Trip.driver_id)
        .where(Driver.status == DriverStatus.ACTIVE)
        .where(Trip.status.in_([s.value for s in ACTIVE_TRIP_STATUSES]))
        .where(Trip.late_risk_minutes > audience.minutes)
        .subquery("late")
    )
    return select(ranked.c.driver_id, ranked.c.trip_id, _no("alert_id")).where(ranked.c.rank == 1)


def _safety_events(audience: SafetyEventAudience, now: datetime) -> Select[Any]:
    # Labels are a JSON array of strings; its text form holds `"label"` on both databases.
    labels = cast(SafetyEvent.behavior_labels, String)
    matches = [labels.ilike(f'%"{_like_escape(t)}"%', escape="\\") for t in audience.types]
    return (
        select(
            SafetyEvent.driver_id.label("driver_id"),
            _no("trip_id"),
            _no("alert_id"),
        )
        .join(Driver, Driver.id == SafetyEvent.driver_id)
        .where(Driver.status == DriverStatus.ACTIVE)
        .where(SafetyEvent.occurred_at >= audience.since, SafetyEvent.occurred_at <= now)
        .where(or_(*matches))
        .group_by(SafetyEvent.driver_id)
    )


def _like_escape(value: str) -> str:
    value = value.replace('"', "")
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _alerts(audience: AlertAudience) -> Select[Any]:
    # One row per driver: the newest of their alerts gives the context (alert and its trip).
    ranked = (
        select(
            Alert.driver_id.label("driver_id"),
            Alert.trip_id.label("trip_id"),
            Alert.id.label("alert_id"),
            func.row_number()
            .over(partition_by=Alert.driver_id, order_by=Alert.id.desc())
            .label("rank"),
        )
        .join(Driver, Driver.id == Alert.driver_id)
        .where(Alert.id.in_(sorted(set(audience.alert_ids))))
        .subquery("alerted")
    )
    return select(ranked.c.driver_id, ranked.c.trip_id, ranked.c.alert_id).where(ranked.c.rank == 1)


def preview(
    session: Session, audience: AudienceSpec, now: datetime, *, limit: int = 20
) -> AudiencePreview:
    """How many drivers the audience holds, and the first `limit` of them (by driver id)."""
    rows = audience_query(session, audience, now).subquery("audience")
    total = session.scalar(select(func.count()).select_from(rows)) or 0
    first = session.execute(
        select(
            rows.c.driver_id,
            rows.c.trip_id,
            rows.c.alert_id,
            Driver.first_name,
            Driver.last_name,
            Driver.phone,
            Driver.timezone,
            Driver.do_not_call,
        )
        .join(Driver, Driver.id == rows.c.driver_id)
        .order_by(rows.c.driver_id)
        .limit(limit)
    ).all()
    return AudiencePreview(
        count=int(total),
        drivers=[
            AudienceDriver(
                driver_id=r.driver_id,
                name=f"{r.first_name} {r.last_name}".strip(),
                phone=r.phone,
                timezone=r.timezone,
                do_not_call=bool(r.do_not_call),
                trip_id=r.trip_id,
                alert_id=r.alert_id,
            )
            for r in first
        ],
    )
