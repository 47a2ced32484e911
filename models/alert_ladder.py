"""The escalation ladder's steps past Slack: an AI check call to the driver, then paging on-call.

A rule lists its steps (`LadderStep`, stored on `AlertRule.escalation_steps`); each step fires
once per alert, `after_minutes` after the alert was first posted, while it stays unacknowledged.
`AlertLadderStep` is the record of one step for one alert — placed, skipped (with the reason),
deferred (not safe to call yet, with the reason), paged — UNIQUE (alert, step index), so
concurrent passes never run a step twice.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import UniqueConstraint, select
from sqlmodel import Field, Session, SQLModel

from models.call import ProviderName
from models.columns import created_at_field, updated_at_field


class LadderStepKind(StrEnum):
    AI_CALL = "ai_call"
    PAGE_ONCALL = "page_oncall"
    # Run a contact plan (logic/messaging/contact_plans.py) instead of a bare call.
    CONTACT_PLAN = "contact_plan"


class LadderStepStatus(StrEnum):
    PLACED = "placed"  # the call was placed; its outcome is threaded into the alert
    FAILED = "failed"  # the provider refused the call
    SKIPPED = "skipped"  # not done, for `reason`
    PAGED = "paged"
    ACKNOWLEDGED = "acknowledged"  # the call's outcome acknowledged the alert
    ANSWERED = "answered"  # the driver talked, but the rule's condition was not met
    UNANSWERED = "unanswered"  # the call ended unanswered (no answer, busy, voicemail, failed)
    # Not safe to call yet (`reason`: driving, resting); a later pass takes the step again.
    DEFERRED = "deferred"


class LadderStep(BaseModel):
    """One rung: `ai_call` (provider, and what acknowledges the alert) or `page_oncall`."""

    model_config = ConfigDict(extra="forbid")

    kind: LadderStepKind
    after_minutes: int = PField(ge=0, le=7 * 24 * 60, description="after the first Slack post")
    provider: ProviderName | None = None
    # ai_call: `reached` — the driver answered and talked; `eta_reported` — they gave a delay
    # or an ETA. None: the call never acknowledges the alert.
    acknowledge_on: Literal["reached", "eta_reported"] | None = None
    # page_oncall: the Slack user group to mention (default SLACK_ONCALL_GROUP_ID).
    group_id: str | None = PField(default=None, max_length=40)
    # contact_plan: the plan to run (default: the enabled plan for the alert's call purpose).
    contact_plan_id: int | None = None


class AlertLadderStep(SQLModel, table=True):
    __tablename__ = "alert_ladder_step"
    __table_args__ = (UniqueConstraint("alert_id", "step_index", name="uq_alert_ladder_step"),)

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", ondelete="CASCADE", index=True)
    step_index: int
    kind: str = Field(max_length=20)
    status: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=500)
    call_id: int | None = Field(
        default=None, foreign_key="call.id", ondelete="SET NULL", index=True
    )
    acknowledge_on: str | None = Field(default=None, max_length=20)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    @classmethod
    def for_alert(cls, session: Session, alert_id: int) -> list[AlertLadderStep]:
        query = select(cls).where(cls.alert_id == alert_id).order_by(cls.step_index)
        return list(session.scalars(query))


class AlertLadderStepPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    step_index: int
    kind: LadderStepKind
    status: LadderStepStatus
    reason: str | None
    call_id: int | None
    created_at: datetime
    updated_at: datetime
