"""Contact plans (ordered ways to reach a driver) and their runs, one per driver reached.

A plan's steps run in order — an in-cab message, an SMS, an AI call, paging the on-call — each
waiting `wait_minutes` for the driver (a read, a reply, an answered call) before the next. A
`ContactRun` is one plan working on one driver: the step it is on, when it looks again
(`next_check_at`, indexed for active runs only), the message or call of that step, and how it
ended (`read`, `replied`, `answered`, `paged`, `exhausted`, `cancelled`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import Index, select, text
from sqlmodel import Field, Session, SQLModel

from db.types import JSONType, UTCDateTime
from models.api_fields import NotNull
from models.call import CallProvider
from models.columns import created_at_field, updated_at_field


class ContactStepKind(StrEnum):
    IN_CAB = "in_cab_message"
    SMS = "sms"
    AI_CALL = "ai_call"
    PAGE_ONCALL = "page_oncall"


class RunStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class RunOutcome(StrEnum):
    READ = "read"  # the driver opened the in-cab message
    REPLIED = "replied"  # the driver wrote back (in-cab or text)
    ANSWERED = "answered"  # the driver talked on the AI call
    PAGED = "paged"  # nobody reached: the on-call dispatcher was paged
    EXHAUSTED = "exhausted"  # every step tried, the driver not reached, no page step
    CANCELLED = "cancelled"


class ContactStep(BaseModel):
    """One step; `wait_minutes` is how long the plan waits for the driver before the next."""

    model_config = ConfigDict(extra="forbid")

    kind: ContactStepKind
    wait_minutes: int = PField(default=10, ge=0, le=24 * 60)
    # Message steps: the text (default: a line naming the purpose, the alert's title).
    text: str | None = PField(default=None, min_length=1, max_length=1600)
    # ai_call: the voice provider (default vapi).
    provider: CallProvider | None = None
    # page_oncall: the Slack user group (default SLACK_ONCALL_GROUP_ID).
    group_id: str | None = PField(default=None, max_length=40)


class ContactPlan(SQLModel, table=True):
    __tablename__ = "contact_plan"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    # The call purpose whose default plan this is (one enabled plan per purpose), or None.
    purpose: str | None = Field(default=None, max_length=32, index=True)
    enabled: bool = True
    steps: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    @classmethod
    def for_purpose(cls, session: Session, purpose: str) -> ContactPlan | None:
        query = select(cls).where(cls.purpose == purpose, cls.enabled.is_(True)).order_by(cls.id)
        return session.scalars(query).first()


class ContactRun(SQLModel, table=True):
    __tablename__ = "contact_run"
    __table_args__ = (
        Index(
            "ix_contact_run_due",
            "next_check_at",
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        Index("ix_contact_run_driver", "driver_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="contact_plan.id", ondelete="CASCADE", index=True)
    driver_id: int = Field(foreign_key="driver.id", ondelete="CASCADE")
    alert_id: int | None = Field(default=None, foreign_key="alert.id", ondelete="SET NULL")
    trip_id: int | None = Field(default=None, foreign_key="trip.id", ondelete="SET NULL")
    campaign_id: int | None = Field(
        default=None, foreign_key="call_campaign.id", ondelete="SET NULL"
    )
    purpose: str = Field(max_length=32)
    status: str = Field(default=RunStatus.ACTIVE, max_length=10)
    outcome: str | None = Field(default=None, max_length=12)
    step_index: int = -1  # -1: no step started yet
    step_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_check_at: datetime = Field(sa_type=UTCDateTime)
    current_message_id: int | None = Field(
        default=None, foreign_key="driver_message.id", ondelete="SET NULL"
    )
    current_call_id: int | None = Field(default=None, foreign_key="call.id", ondelete="SET NULL")
    # One entry per step taken: {"step", "kind", "at", "result", "message_id"|"call_id", …}.
    history: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


# ---- API schemas ---------------------------------------------------------------------------


class ContactPlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = PField(min_length=1, max_length=100)
    purpose: str | None = PField(default=None, max_length=32)
    enabled: bool = True
    steps: list[ContactStep] = PField(min_length=1, max_length=10)


class ContactPlanUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NotNull[str] = PField(default=None, min_length=1, max_length=100)
    # null clears the purpose: the plan is then no purpose's default.
    purpose: str | None = PField(default=None, max_length=32)
    enabled: NotNull[bool] = None
    steps: NotNull[list[ContactStep]] = PField(default=None, min_length=1, max_length=10)


class ContactPlanPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    purpose: str | None
    enabled: bool
    steps: list[ContactStep]
    created_at: datetime
    updated_at: datetime


class ContactRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: int | None = PField(default=None, description="default: the purpose's plan")
    purpose: str = PField(default="custom", max_length=32)
    alert_id: int | None = None
    trip_id: int | None = None


class ContactRunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    plan_id: int
    driver_id: int
    alert_id: int | None
    trip_id: int | None
    campaign_id: int | None
    purpose: str
    status: str
    outcome: str | None
    step_index: int
    next_check_at: datetime
    current_message_id: int | None
    current_call_id: int | None
    history: list[dict[str, Any]]
    ended_at: datetime | None
    created_at: datetime
