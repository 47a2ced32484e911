"""Read side of alerts, rules and the outbox for the API: filtered, sorted, paginated lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select
from sqlmodel import Session

from helpers.errors import NotFound
from logic.listing import (
    PageRequest,
    driver_name_key,
    fetch_page,
    order_by_clause,
    text_search,
)
from models.alert import (
    Alert,
    AlertDeliveriesPage,
    AlertDelivery,
    AlertDeliveryPublic,
    AlertDetail,
    AlertPublic,
    AlertSeverity,
    AlertsPage,
)
from models.alert_ladder import AlertLadderStep, AlertLadderStepPublic
from models.driver import Driver
from models.trip import Trip
from models.vehicle import Vehicle

_ALERT_SORTS = {
    "last_seen_at": Alert.last_seen_at,
    "first_seen_at": Alert.first_seen_at,
    # Ranked, most severe first ascending (as alphabetical order had critical before warning,
    # but info between them).
    "severity": case(
        {AlertSeverity.CRITICAL: 0, AlertSeverity.WARNING: 1, AlertSeverity.INFO: 2},
        value=Alert.severity,
        else_=3,
    ),
    "title": Alert.title,
    # The console's name columns: the driver's full name and the truck's unit, looked up per
    # alert (one index probe each), NULLs last.
    "driver": driver_name_key(Alert.driver_id),
    "truck": select(Vehicle.unit_number)
    .where(Vehicle.id == Alert.vehicle_id)
    .correlate(Alert)
    .scalar_subquery(),
    "occurrences": Alert.occurrences,
    "type": Alert.type,
    "status": Alert.status,
    "id": Alert.id,
}


@dataclass(frozen=True)
class AlertFilters:
    statuses: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    trip_id: int | None = None
    driver_id: int | None = None
    vehicle_id: int | None = None
    since: datetime | None = None
    q: str | None = None
    terminal: str | None = None


def list_alerts(session: Session, filters: AlertFilters, page: PageRequest) -> AlertsPage:
    stmt = select(Alert)
    if filters.statuses:
        stmt = stmt.where(Alert.status.in_(filters.statuses))
    if filters.types:
        stmt = stmt.where(Alert.type.in_(filters.types))
    if filters.severities:
        stmt = stmt.where(Alert.severity.in_(filters.severities))
    for column, value in (
        (Alert.trip_id, filters.trip_id),
        (Alert.driver_id, filters.driver_id),
        (Alert.vehicle_id, filters.vehicle_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.since is not None:
        stmt = stmt.where(Alert.last_seen_at >= filters.since)
    if filters.terminal:
        # The trip's terminal, else the driver's: an alert belongs where its subject works.
        trips = select(Trip.id).where(Trip.terminal == filters.terminal)
        drivers = select(Driver.id).where(Driver.terminal == filters.terminal)
        stmt = stmt.where(Alert.trip_id.in_(trips) | Alert.driver_id.in_(drivers))  # type: ignore[union-attr]
    search = text_search(filters.q, Alert.title, Alert.message, Alert.fingerprint)
    if search is not None:
        stmt = stmt.where(search)
    order = order_by_clause(page.sort, _ALERT_SORTS, default="-last_seen_at", tie_breaker=Alert.id)
    rows, total = fetch_page(session, stmt, page, order)
    return AlertsPage(
        items=[AlertPublic.model_validate(a) for a in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def alert_detail(session: Session, alert_id: int) -> AlertDetail:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    deliveries = [
        AlertDeliveryPublic.model_validate(d) for d in AlertDelivery.for_alert(session, alert_id)
    ]
    return AlertDetail.model_validate(
        {
            **AlertPublic.model_validate(alert).model_dump(),
            "decisions": alert.decisions or [],
            "deliveries": deliveries,
            "ladder": [
                AlertLadderStepPublic.model_validate(step)
                for step in AlertLadderStep.for_alert(session, alert_id)
            ],
        }
    )


def list_deliveries(
    session: Session, status: str | None, kind: str | None, page: PageRequest
) -> AlertDeliveriesPage:
    stmt = select(AlertDelivery)
    if status:
        stmt = stmt.where(AlertDelivery.status == status)
    if kind:
        stmt = stmt.where(AlertDelivery.kind == kind)
    order = order_by_clause(
        page.sort,
        {"id": AlertDelivery.id, "next_attempt_at": AlertDelivery.next_attempt_at},
        default="-id",
        tie_breaker=AlertDelivery.id,
    )
    rows, total = fetch_page(session, stmt, page, order)
    return AlertDeliveriesPage(
        items=[AlertDeliveryPublic.model_validate(d) for d in rows],
        counts=AlertDelivery.counts_by_status(session),
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
