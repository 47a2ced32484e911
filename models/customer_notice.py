"""Customer notices: one outbox row per notice and contact (an email about their load), holding
the facts it tells, so a retry sends the very same message; and its API schema.

`dedupe_key` names the event ("arrived:<stop>", "eta:<stop>:<epoch>"): a contact is told of an
event once, however many passes see it (unique with the contact). The address is copied at
queue time, so removing a contact later does not rewrite what was sent to whom.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from db.types import JSONType, UTCDateTime
from models.customer import NoticeKind


class CustomerNotice(SQLModel, table=True):
    __tablename__ = "customer_notice"
    __table_args__ = (
        UniqueConstraint("contact_id", "dedupe_key", name="uq_customer_notice_event"),
        Index("ix_customer_notice_due", "status", "next_attempt_at"),
        # "Was this stop's arrival told? When was its last ETA notice?" per pass.
        Index("ix_customer_notice_stop_kind", "stop_id", "kind", "created_at"),
        Index("ix_customer_notice_trip", "trip_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    trip_id: int = Field(foreign_key="trip.id", ondelete="CASCADE")
    stop_id: int | None = Field(default=None, foreign_key="trip_stop.id", ondelete="CASCADE")
    customer_id: int | None = Field(default=None, foreign_key="customer.id", ondelete="SET NULL")
    contact_id: int | None = Field(
        default=None, foreign_key="customer_contact.id", ondelete="SET NULL"
    )
    kind: str = Field(max_length=16)
    dedupe_key: str = Field(max_length=120)
    email: str = Field(max_length=254)
    # The ETA an `eta` notice told: the next pass measures the move from it.
    eta: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # "pass" (the scheduled notice pass) or "slack:<username>" (Notify customer).
    requested_by: str = Field(default="pass", max_length=80)
    facts: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claim_token: str | None = Field(default=None, max_length=40)
    last_error: str | None = None
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class CustomerNoticePublic(BaseModel):
    """A notice as listed on its trip (the facts it told, where it went, how delivery went)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    trip_id: int
    stop_id: int | None
    contact_id: int | None
    kind: NoticeKind
    email: str
    eta: datetime | None
    requested_by: str
    facts: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    created_at: datetime
