"""Safety events (harsh driving, speeding…): list with filters and one event's detail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from logic.fleet import safety as ops
from logic.listing import Page, as_utc, check_range
from models.api_fields import ApiDateTime
from models.safety_event import CoachingState, SafetyEventPublic, Severity
from services.deps import SafetyRead, SessionDep
from services.pagination import LabelQuery, PageDep

router = APIRouter(prefix="/safety_events", tags=["safety"])


def safety_filters(
    driver_id: int | None = None,
    vehicle_id: int | None = None,
    severity: Annotated[list[Severity] | None, Query(description="repeatable")] = None,
    coaching_state: CoachingState | None = None,
    behavior: LabelQuery = None,
    terminal: LabelQuery = None,
    start: ApiDateTime | None = None,
    end: ApiDateTime | None = None,
) -> ops.SafetyEventFilters:
    start_at, end_at = as_utc(start), as_utc(end)
    check_range(start_at, end_at, what="start/end", loc=("query", "end"))
    return ops.SafetyEventFilters(
        driver_id=driver_id,
        vehicle_id=vehicle_id,
        severities=tuple(severity or ()),
        coaching_state=coaching_state,
        behavior=behavior,
        terminal=terminal,
        start=start_at,
        end=end_at,
    )


@router.get("")
def list_safety_events(
    session: SessionDep,
    _: SafetyRead,
    page: PageDep,
    filters: Annotated[ops.SafetyEventFilters, Depends(safety_filters)],
) -> Page[SafetyEventPublic]:
    """Safety events, newest first, by driver, truck, severity, coaching state, label or time."""
    return ops.list_safety_events(session, filters, page)


@router.get("/{event_id}")
def get_safety_event(event_id: int, session: SessionDep, _: SafetyRead) -> SafetyEventPublic:
    """One safety event."""
    return SafetyEventPublic.model_validate(ops.get_safety_event(session, event_id))
