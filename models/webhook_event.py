"""The webhook inbox: every authenticated VAPI / ElevenLabs delivery, stored once.

`fingerprint` identifies the event (not the delivery attempt), so a redelivery or three
identical concurrent posts insert one row. Processing runs after the insert commits; an event
whose call is not known yet keeps `call_id` empty and is matched when the call appears.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint, select, text
from sqlmodel import Field, Session, SQLModel

from db.types import JSONType, UTCDateTime
from helpers.time_utils import utc_now


class WebhookEvent(SQLModel, table=True):
    __tablename__ = "webhook_event"
    __table_args__ = (
        UniqueConstraint("provider", "fingerprint", name="uq_webhook_event_fingerprint"),
        Index(
            "ix_webhook_event_unmatched",
            "provider",
            "provider_call_id",
            postgresql_where=text("call_id IS NULL"),
            sqlite_where=text("call_id IS NULL"),
        ),
        # Only events still to apply: small however long the inbox grows, and exactly what
        # processing (by call) and reconciliation (by age) look up.
        Index(
            "ix_webhook_event_pending",
            "call_id",
            "received_at",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)
    fingerprint: str = Field(max_length=200)
    event_type: str = Field(max_length=60)
    provider_call_id: str | None = Field(default=None, max_length=100)
    hub_call_id: int | None = None
    call_id: int | None = Field(default=None, foreign_key="call.id", index=True)
    # Provider-side event time (VAPI `timestamp`, ElevenLabs `event_timestamp`), for ordering.
    occurred_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=1000)

    @classmethod
    def for_call(cls, session: Session, call_id: int) -> list[WebhookEvent]:
        query = select(cls).where(cls.call_id == call_id).order_by(cls.received_at, cls.id)
        return list(session.scalars(query))
