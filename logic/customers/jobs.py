"""Units of work around customer notices: the scheduled pass (decide in one committed
transaction, then email outside it) and the notices of a trip, listed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from config import Settings, get_settings
from db.database import session_scope
from db.retry import db_retry
from helpers.errors import UpstreamNotConfigured
from helpers.time_utils import utc_now
from logic.customers import notice_outbox
from logic.customers.notices import NoticePassResult, notice_pass
from logic.listing import Page, PageRequest, fetch_page, order_by_clause
from models.customer_notice import CustomerNotice, CustomerNoticePublic
from models.trip import Trip
from utils.mailer import build_mailer

NOTICE_SORTABLE = {"id": CustomerNotice.id, "created_at": CustomerNotice.created_at}


def mailer_or_none(settings: Settings | None = None) -> Any | None:
    try:
        return build_mailer(settings or get_settings())
    except UpstreamNotConfigured:
        return None


@dataclass
class NoticeRun:
    now: datetime
    events: dict[str, int] = field(default_factory=dict)
    queued: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    delivery: dict[str, Any] = field(default_factory=dict)


@db_retry(max_retries=3)
def _decide(now: datetime, settings: Settings) -> NoticePassResult:
    with session_scope() as session:
        return notice_pass(session, now=now, settings=settings)


def run_notice_pass(
    *, now: datetime | None = None, mailer: Any | None = None, settings: Settings | None = None
) -> NoticeRun:
    """Queue the notices due (committed), then email every due notice, new or retried."""
    now = now or utc_now()
    settings = settings or get_settings()
    decided = _decide(now, settings)
    drained = notice_outbox.drain(mailer, now=now)
    return NoticeRun(
        now=now,
        events=decided.events,
        queued=decided.queued,
        timings_ms=decided.timings_ms,
        delivery={
            "claimed": drained.claimed,
            "sent": drained.sent,
            "retried": drained.retried,
            "failed": drained.failed,
            "deferred": drained.deferred,
        },
    )


def list_notices(session: Session, trip: Trip, page: PageRequest) -> Page[CustomerNoticePublic]:
    stmt = select(CustomerNotice).where(CustomerNotice.trip_id == trip.id)
    order = order_by_clause(
        page.sort, NOTICE_SORTABLE, default="-id", tie_breaker=CustomerNotice.id
    )
    rows, total = fetch_page(session, stmt, page, order)
    return Page[CustomerNoticePublic](
        items=[CustomerNoticePublic.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
