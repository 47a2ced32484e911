"""Gauges read from the database at scrape time: outbox depth and age, ingest lag, calls.

Small grouped queries (the outbox and run tables are indexed on what they filter), so a scrape
every 15-60 s costs a few milliseconds. Tables another module may not have yet (calls) are
looked up in the registered metadata and skipped when absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlmodel import Session, SQLModel, col

from models.alert import AlertDelivery, DeliveryStatus
from models.ingest import IngestRun, IngestStatus

_QUEUED = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


@dataclass
class DatabaseGauges:
    outbox_depth: dict[str, int] = field(default_factory=dict)  # status → rows
    outbox_oldest_age_seconds: float = 0.0
    ingest_lag_seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    calls_by_outcome: dict[str, int] | None = None  # None: no call table in this build


def read_gauges(session: Session, now: datetime) -> DatabaseGauges:
    gauges = DatabaseGauges()
    queued = col(AlertDelivery.status).in_([s.value for s in _QUEUED])
    for status, count in session.execute(
        select(AlertDelivery.status, func.count()).where(queued).group_by(AlertDelivery.status)
    ):
        gauges.outbox_depth[status] = count
    oldest = session.scalar(select(func.min(AlertDelivery.created_at)).where(queued))
    if oldest is not None:
        gauges.outbox_oldest_age_seconds = max((now - _aware(oldest)).total_seconds(), 0.0)
    last_success = (
        select(IngestRun.source, IngestRun.entity, func.max(IngestRun.finished_at))
        .where(col(IngestRun.status) == IngestStatus.SUCCEEDED.value)
        .group_by(IngestRun.source, IngestRun.entity)
    )
    for source, entity, finished in session.execute(last_success):
        if finished is not None:
            lag = (now - _aware(finished)).total_seconds()
            gauges.ingest_lag_seconds[(source, entity)] = max(lag, 0.0)
    calls = SQLModel.metadata.tables.get("call")
    if calls is not None and "outcome" in calls.c:
        outcome = func.coalesce(calls.c.outcome, "none")
        gauges.calls_by_outcome = {
            str(name): count
            for name, count in session.execute(
                select(outcome, func.count()).select_from(calls).group_by(outcome)
            )
        }
    return gauges


def _aware(value: datetime) -> datetime:
    # Aggregates bypass the column type on SQLite, so MIN/MAX may come back naive (UTC).
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
