"""Customer notices: the scheduled notice pass (`POST /customer-notices/run`) and the notices a
trip's customer contacts were sent (`GET /trips/{id}/notices`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from logic.customers import jobs
from logic.fleet import trips as ops
from logic.listing import Page
from models.customer_notice import CustomerNoticePublic
from services.deps import AlertsEvaluateCaller, SessionDep, TripsRead
from services.pagination import PageDep

router = APIRouter(tags=["customer notices"])


class NoticeRunPublic(BaseModel):
    """What one notice pass found (events by kind), queued (one per contact) and emailed."""

    now: datetime
    events: dict[str, int]
    queued: int
    timings_ms: dict[str, float]
    delivery: dict[str, Any]


@router.post("/customer-notices/run")
def run_customer_notices(_: AlertsEvaluateCaller) -> NoticeRunPublic:
    """Scheduler pass: queue the notices due over every active trip, then email the outbox."""
    run = jobs.run_notice_pass(mailer=jobs.mailer_or_none())
    return NoticeRunPublic(**run.__dict__)


@router.get("/trips/{trip_id}/notices")
def list_trip_notices(
    trip_id: int, session: SessionDep, _: TripsRead, page: PageDep
) -> Page[CustomerNoticePublic]:
    """Notices sent (or queued) to the trip's customer contacts, newest first."""
    return jobs.list_notices(session, ops.get_trip(session, trip_id), page)
