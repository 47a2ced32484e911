"""The Slack outbox: delivery status (with counts per status) and retrying failed deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from helpers.time_utils import utc_now
from logic.alerts import outbox, queries
from models.alert import AlertDeliveriesPage, DeliveryKind, DeliveryStatus
from services.deps import AlertsRead, AlertsWrite, SessionDep
from services.pagination import PageDep

router = APIRouter(prefix="/alert-deliveries", tags=["alerts"])


class RetryRequest(BaseModel):
    ids: list[int] | None = Field(default=None, max_length=1000, description="omit: all failed")


class RetryResult(BaseModel):
    requeued: int


@router.get("")
def list_deliveries(
    session: SessionDep,
    _: AlertsRead,
    page: PageDep,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    kind: Annotated[DeliveryKind | None, Query()] = None,
) -> AlertDeliveriesPage:
    """Outbox rows, newest first, with a count per status (pending, sending, sent, failed…)."""
    return queries.list_deliveries(session, status, kind, page)


@router.post("/retry")
def retry_failed(body: RetryRequest, session: SessionDep, _: AlertsWrite) -> RetryResult:
    """Put failed deliveries back in the queue for an immediate attempt."""
    return RetryResult(requeued=outbox.retry_failed(session, body.ids, utc_now()))
