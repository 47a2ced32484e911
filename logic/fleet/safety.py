"""Safety event listing and detail (read-only: Samsara owns the events and their coaching)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, case, cast, select
from sqlalchemy.orm import joinedload
from sqlmodel import Session

from helpers.errors import NotFound
from logic.listing import Page, PageRequest, check_range, fetch_page, order_by_clause
from models.driver import Driver
from models.safety_event import SafetyEvent, SafetyEventPublic, Severity

SORTABLE = {
    "occurred_at": SafetyEvent.occurred_at,
    # Ranked, not alphabetical: "-severity" puts critical first.
    "severity": case(
        {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4},
        value=SafetyEvent.severity,
        else_=0,
    ),
    "speed_mph": SafetyEvent.speed_mph,
    "coaching_state": SafetyEvent.coaching_state,
}


@dataclass(frozen=True)
class SafetyEventFilters:
    driver_id: int | None = None
    vehicle_id: int | None = None
    severities: Sequence[Severity] = ()
    coaching_state: str | None = None
    behavior: str | None = None
    terminal: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def list_safety_events(
    session: Session, filters: SafetyEventFilters, page: PageRequest
) -> Page[SafetyEventPublic]:
    check_range(filters.start, filters.end, what="safety events", loc=("query", "end"))
    stmt = select(SafetyEvent).options(
        joinedload(SafetyEvent.driver), joinedload(SafetyEvent.vehicle)
    )
    if filters.driver_id is not None:
        stmt = stmt.where(SafetyEvent.driver_id == filters.driver_id)
    if filters.vehicle_id is not None:
        stmt = stmt.where(SafetyEvent.vehicle_id == filters.vehicle_id)
    if filters.severities:
        stmt = stmt.where(SafetyEvent.severity.in_([str(s) for s in filters.severities]))
    if filters.coaching_state:
        stmt = stmt.where(SafetyEvent.coaching_state == filters.coaching_state)
    if filters.behavior:
        # Labels are a JSON array of strings; its text form contains `"label"` on both
        # databases, which is exact enough without dialect-specific JSON operators.
        label = filters.behavior.replace("\\", "").replace('"', "").replace("%", "")
        label = label.replace("_", "\\_")
        stmt = stmt.where(
            cast(SafetyEvent.behavior_labels, String).like(f'%"{label}"%', escape="\\")
        )
    if filters.terminal:
        in_terminal = select(Driver.id).where(Driver.terminal == filters.terminal)
        stmt = stmt.where(SafetyEvent.driver_id.in_(in_terminal))
    if filters.start is not None:
        stmt = stmt.where(SafetyEvent.occurred_at >= filters.start)
    if filters.end is not None:
        stmt = stmt.where(SafetyEvent.occurred_at < filters.end)
    order = order_by_clause(page.sort, SORTABLE, default="-occurred_at", tie_breaker=SafetyEvent.id)
    rows, total = fetch_page(session, stmt, page, order)
    return Page[SafetyEventPublic](
        items=[SafetyEventPublic.model_validate(e) for e in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def get_safety_event(session: Session, event_id: int) -> SafetyEvent:
    stmt = (
        select(SafetyEvent)
        .where(SafetyEvent.id == event_id)
        .options(joinedload(SafetyEvent.driver), joinedload(SafetyEvent.vehicle))
    )
    event = session.scalars(stmt).first()
    if event is None:
        raise NotFound(f"safety event {event_id} not found")
    return event
