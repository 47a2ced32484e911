"""Messages to and from drivers (in-cab and SMS), and the numbers that opted out of texts.

An outbound `DriverMessage` is also its own outbox row (`status`, `attempts`, `next_attempt_at`,
`claimed_until`, `claim_token`, `last_error`, `sent_at`: logic/outbox.py); `delivery_status` is
what the channel says happened to it (`queued → sent → delivered | undelivered | failed`, or
`read` for an in-cab message the driver opened). An inbound message is stored with outbox status
`received`, never claimed. `(channel, provider_message_id)` is unique: an inbound text or in-cab
reply seen twice is one row.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Index, UniqueConstraint, select, text
from sqlmodel import Field, Session, SQLModel

from db.types import JSONType, UTCDateTime
from models.columns import created_at_field, updated_at_field


class MessageChannel(StrEnum):
    SAMSARA_MESSAGE = "samsara_message"
    SMS = "sms"


class MessageDirection(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not handed to the channel yet
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    READ = "read"
    RECEIVED = "received"  # inbound
    REFUSED = "refused"  # a pre-contact check said no before it was sent


# Forward-only: a later status callback never moves a message back (Twilio's may arrive out
# of order); `read` outranks `delivered`.
DELIVERY_RANK: dict[str, int] = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.QUEUED: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.UNDELIVERED: 3,
    DeliveryStatus.FAILED: 3,
    DeliveryStatus.DELIVERED: 4,
    DeliveryStatus.READ: 5,
}
INBOUND_STATUS = "received"  # the outbox status of an inbound row: never claimed


class DriverMessage(SQLModel, table=True):
    __tablename__ = "driver_message"
    __table_args__ = (
        UniqueConstraint("channel", "provider_message_id", name="uq_driver_message_provider_id"),
        Index("ix_driver_message_driver_time", "driver_id", "created_at"),
        Index(
            "ix_driver_message_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'sending')"),
            sqlite_where=text("status IN ('pending', 'sending')"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    driver_id: int | None = Field(default=None, foreign_key="driver.id", ondelete="SET NULL")
    channel: str = Field(max_length=20)
    direction: str = Field(max_length=10)
    body: str = Field(max_length=1600)
    # The driver's E.164 number (the `To` of a text we send, the `From` of one we receive).
    phone_number: str | None = Field(default=None, max_length=20)
    samsara_driver_id: str | None = Field(default=None, max_length=64)
    provider_message_id: str | None = Field(default=None, max_length=100)
    delivery_status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Why it was sent (or, for a reply, what it answers).
    purpose: str | None = Field(default=None, max_length=40)
    alert_id: int | None = Field(
        default=None, foreign_key="alert.id", index=True, ondelete="SET NULL"
    )
    trip_id: int | None = Field(default=None, foreign_key="trip.id", ondelete="SET NULL")
    campaign_id: int | None = Field(
        default=None, foreign_key="call_campaign.id", ondelete="SET NULL"
    )
    contact_run_id: int | None = Field(default=None, index=True)
    reply_to_id: int | None = Field(default=None, foreign_key="driver_message.id")
    # What a reply told us (utils/call_insights.py rules over its text), written back like a
    # call's insight.
    insight: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    # Outbox columns (outbound) — logic/outbox.py.
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claim_token: str | None = Field(default=None, max_length=40)
    last_error: str | None = Field(default=None, max_length=1000)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    @classmethod
    def by_provider_id(
        cls, session: Session, channel: str, provider_message_id: str
    ) -> DriverMessage | None:
        query = select(cls).where(
            cls.channel == channel, cls.provider_message_id == provider_message_id
        )
        return session.scalars(query).first()


class SmsOptOut(SQLModel, table=True):
    """A number that texted STOP (or UNSUBSCRIBE, BAJA…): no SMS goes to it until it texts
    START. Kept (with `opted_in_at`) after an opt-in, as the record of both."""

    __tablename__ = "sms_opt_out"

    id: int | None = Field(default=None, primary_key=True)
    phone_number: str = Field(max_length=20, unique=True, description="E.164")
    driver_id: int | None = Field(default=None, foreign_key="driver.id", ondelete="SET NULL")
    keyword: str = Field(max_length=20)
    opted_out_at: datetime = Field(sa_type=UTCDateTime)
    opted_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The one confirmation text sent for this opt-out (carrier rules: confirm once).
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @classmethod
    def blocked_numbers(cls, session: Session, numbers: list[str]) -> set[str]:
        if not numbers:
            return set()
        query = select(cls.phone_number).where(
            cls.phone_number.in_(numbers), cls.opted_in_at.is_(None)
        )
        return set(session.scalars(query))


# ---- API schemas ---------------------------------------------------------------------------


class ConversationItem(BaseModel):
    """One entry of a driver's conversation: a message (either way, either channel) or a call."""

    model_config = ConfigDict(from_attributes=True)

    kind: str  # "message" | "call"
    id: int
    at: datetime
    channel: str  # samsara_message | sms | vapi | elevenlabs
    direction: str  # outbound | inbound
    text: str | None
    status: str
    delivery_status: str | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    outcome: str | None = None
    purpose: str | None = None
    alert_id: int | None = None
    trip_id: int | None = None
    campaign_id: int | None = None
    contact_run_id: int | None = None
    insight: dict[str, Any] | None = None
