"""Ingest bookkeeping: one `IngestRun` row per run and one `IngestCursor` row per source+entity.

At most one run per source+entity is `running` at a time; a partial unique index enforces it on
both databases (the runner also takes a PostgreSQL advisory lock, see logic/ingest/runner.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint, func, text
from sqlmodel import Field, Session, SQLModel, col, select

from db.types import JSONType, UTCDateTime
from helpers.time_utils import utc_now


class IngestStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class IngestRunBase(SQLModel):
    source: str = Field(max_length=20, index=True)
    entity: str = Field(max_length=40, index=True)
    # A plain string column (not a database enum) so the partial index below can name the value.
    status: str = Field(default=IngestStatus.RUNNING.value, max_length=12)
    trigger: str = Field(default="api", max_length=20)
    triggered_by: str | None = Field(default=None, max_length=120)
    pages: int = 0
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    skip_reasons: dict[str, int] = Field(default_factory=dict, sa_type=JSONType)
    # Fields dropped from records that were kept (an optional location out of range), by reason.
    bad_fields: dict[str, int] = Field(default_factory=dict, sa_type=JSONType)
    unmatched: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    cursor_before: str | None = Field(default=None, max_length=2000)
    cursor_after: str | None = Field(default=None, max_length=2000)
    error: str | None = Field(default=None, max_length=4000)
    started_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    heartbeat_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    duration_ms: int | None = None


class IngestRun(IngestRunBase, table=True):
    __tablename__ = "ingest_run"
    __table_args__ = (
        # One running run per source+entity, whatever the process: a second insert fails.
        Index(
            "uq_ingest_run_one_running",
            "source",
            "entity",
            unique=True,
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
        Index("ix_ingest_run_started", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # "host:pid" of the process running it, so a dead owner on this host is seen at once.
    owner: str | None = Field(default=None, max_length=300)

    @classmethod
    def running_for(cls, session: Session, source: str, entity: str) -> IngestRun | None:
        return session.exec(
            select(cls).where(
                cls.source == source, cls.entity == entity, cls.status == IngestStatus.RUNNING
            )
        ).first()

    @classmethod
    def recent(
        cls,
        session: Session,
        *,
        source: str | None = None,
        entity: str | None = None,
        status: IngestStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[IngestRun]:
        query = select(cls)
        if source:
            query = query.where(cls.source == source)
        if entity:
            query = query.where(cls.entity == entity)
        if status:
            query = query.where(cls.status == status)
        query = query.order_by(col(cls.id).desc()).offset(offset).limit(limit)
        return list(session.exec(query).all())

    @classmethod
    def last_per_source_entity(
        cls, session: Session, status: IngestStatus | None = None
    ) -> list[IngestRun]:
        """The newest run (optionally of one status) for every source+entity, in one query."""
        newest = select(func.max(cls.id).label("id")).group_by(cls.source, cls.entity)
        if status is not None:
            newest = newest.where(cls.status == status)
        ids = newest.subquery()
        query = select(cls).join(ids, col(cls.id) == ids.c.id).order_by(cls.source, cls.entity)
        return list(session.exec(query).all())


class IngestRunPublic(IngestRunBase):
    id: int


class IngestRunsPage(SQLModel):
    items: list[IngestRunPublic]
    limit: int
    offset: int


class IngestCursor(SQLModel, table=True):
    """Where the next run of a source+entity continues: a feed cursor or a time-window end."""

    __tablename__ = "ingest_cursor"
    __table_args__ = (UniqueConstraint("source", "entity", name="uq_ingest_cursor"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20)
    entity: str = Field(max_length=40)
    cursor: str | None = Field(default=None, max_length=2000)
    last_run_id: int | None = None
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)

    @classmethod
    def get_for(cls, session: Session, source: str, entity: str) -> IngestCursor | None:
        return session.exec(select(cls).where(cls.source == source, cls.entity == entity)).first()
