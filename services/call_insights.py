"""`GET /call-insights`: what drivers told the AI calls, filterable (follow-ups first of all)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from logic.calls import queries
from logic.listing import as_utc
from models.api_fields import ApiDateTime
from models.call import CallInsightsPage, IssueType
from services.deps import CallsRead, SessionDep
from services.pagination import PageDep

router = APIRouter(prefix="/call-insights", tags=["calls"])


@router.get("")
def list_call_insights(
    session: SessionDep,
    _: CallsRead,
    page: PageDep,
    driver_id: int | None = None,
    trip_id: int | None = None,
    needs_follow_up: bool | None = None,
    issue: IssueType | None = None,
    since: Annotated[ApiDateTime | None, Query(description="created at or after; UTC")] = None,
    until: Annotated[ApiDateTime | None, Query(description="created before; UTC")] = None,
) -> CallInsightsPage:
    """Call insights, newest first: reported delay, ETA, location, issues, follow-up."""
    filters = queries.InsightFilters(
        driver_id=driver_id,
        trip_id=trip_id,
        needs_follow_up=needs_follow_up,
        issue=issue.value if issue else None,
        since=as_utc(since),
        until=as_utc(until),
    )
    return queries.list_insights(session, filters, page)
