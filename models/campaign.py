"""Call campaigns: many drivers called about one thing, one `CampaignTarget` row per driver.

A campaign's audience is resolved into targets when it is created (`logic/calls/audience.py`);
the tick (`logic/calls/campaigns.py`) claims due targets, places their calls and moves targets on
from their calls' outcomes. Target states: `pending` (waiting for its next attempt) → `dialing`
(claimed; its call is being placed or rings) → `in_call` → `done` | `failed` (attempts used up) |
`skipped` (never to be called: do-not-call, no number, campaign canceled or over — with the reason).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic import Field as PField
from sqlalchemy import Index, UniqueConstraint, func, select, text
from sqlmodel import Field, Session, SQLModel

from db.types import JSONType, UTCDateTime
from models.api_fields import ApiDateTime
from models.call import CallOutcome, CallProvider, CallPurpose, ProviderName
from models.columns import created_at_field, updated_at_field
from models.safety_event import BEHAVIOR_LABELS, canonical_behavior_label


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"  # started, waiting for `schedule_start_at`
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELED = "canceled"


class TargetState(StrEnum):
    PENDING = "pending"
    DIALING = "dialing"
    IN_CALL = "in_call"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


IN_FLIGHT_STATES = (TargetState.DIALING, TargetState.IN_CALL)
FINAL_STATES = (TargetState.DONE, TargetState.FAILED, TargetState.SKIPPED)
# Outcomes after which the driver is tried again (while attempts remain).
RETRY_OUTCOMES = (
    CallOutcome.NO_ANSWER,
    CallOutcome.BUSY,
    CallOutcome.VOICEMAIL,
    CallOutcome.VOICEMAIL_LEFT,
    CallOutcome.FAILED,
)


class CallCampaign(SQLModel, table=True):
    __tablename__ = "call_campaign"
    __table_args__ = (Index("ix_call_campaign_status", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    purpose: str = Field(max_length=32)
    provider: str = Field(default=CallProvider.VAPI, max_length=20)
    agent_profile_id: int | None = Field(
        default=None, foreign_key="call_agent_profile.id", ondelete="SET NULL"
    )
    # Reach each driver with this contact plan (logic/messaging/contact_plans.py) instead of a
    # bare call.
    contact_plan_id: int | None = Field(
        default=None, foreign_key="contact_plan.id", ondelete="SET NULL"
    )
    status: str = Field(default=CampaignStatus.DRAFT, max_length=16)
    # Why the tick paused it on its own (e.g. no enabled agent profile); cleared on resume.
    status_reason: str | None = Field(default=None, max_length=300)
    # The audience as asked for (kind + parameters), kept to explain who was targeted.
    audience: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    schedule_start_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    schedule_end_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Applied in each driver's local time, inside the placement's own calling window; it may
    # wrap midnight, and start == end means around the clock (as the placement's).
    window_start: str = Field(default="08:00", max_length=5)
    window_end: str = Field(default="21:00", max_length=5)
    max_concurrency: int = 5
    max_attempts: int = 3
    retry_no_answer_minutes: int = 30
    retry_busy_minutes: int = 10
    retry_voicemail_minutes: int = 120
    retry_failed_minutes: int = 30
    created_by_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    target_count: int = 0
    calls_placed: int = 0
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    canceled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_tick_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    def retry_minutes(self, outcome: str) -> int | None:
        """Minutes to wait before the next attempt after `outcome`; None: no retry."""
        return {
            CallOutcome.NO_ANSWER: self.retry_no_answer_minutes,
            CallOutcome.BUSY: self.retry_busy_minutes,
            CallOutcome.VOICEMAIL: self.retry_voicemail_minutes,
            CallOutcome.VOICEMAIL_LEFT: self.retry_voicemail_minutes,
            CallOutcome.FAILED: self.retry_failed_minutes,
        }.get(outcome)  # type: ignore[call-overload]


class CampaignTarget(SQLModel, table=True):
    __tablename__ = "campaign_target"
    __table_args__ = (
        UniqueConstraint("campaign_id", "driver_id", name="uq_campaign_target_driver"),
        # The tick's pick: a campaign's pending targets in due order. Partial, so claiming a
        # target (pending → dialing) removes it rather than adding an entry.
        Index(
            "ix_campaign_target_due",
            "campaign_id",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        # "Is this driver already being called by another campaign?"
        Index("ix_campaign_target_driver_state", "driver_id", "state"),
        # The in-flight targets (dialing, in_call): at most the campaigns' concurrency, so the
        # tick reads them whole (moving targets on, counting each campaign's calls in flight,
        # excluding their drivers from the pick) instead of probing a driver's targets per due
        # row.
        Index(
            "ix_campaign_target_in_flight",
            "driver_id",
            "campaign_id",
            postgresql_where=text("state IN ('dialing', 'in_call')"),
            sqlite_where=text("state IN ('dialing', 'in_call')"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="call_campaign.id", ondelete="CASCADE")
    driver_id: int = Field(foreign_key="driver.id", ondelete="CASCADE")
    # What the call is about, when the audience came from trips or alerts.
    trip_id: int | None = Field(default=None, foreign_key="trip.id", ondelete="SET NULL")
    alert_id: int | None = Field(default=None, foreign_key="alert.id", ondelete="SET NULL")
    state: str = Field(default=TargetState.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_call_id: int | None = Field(default=None, foreign_key="call.id", ondelete="SET NULL")
    last_outcome: str | None = Field(default=None, max_length=16)
    skip_reason: str | None = Field(default=None, max_length=300)
    # Why a pending target waits although it is due (not safe to call: `driver_driving: …`).
    defer_reason: str | None = Field(default=None, max_length=300)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    @classmethod
    def counts(cls, session: Session, campaign_id: int) -> tuple[dict[str, int], dict[str, int]]:
        """(targets by state, targets by last outcome) for one campaign: one query."""
        rows = session.execute(
            select(cls.state, cls.last_outcome, func.count())
            .where(cls.campaign_id == campaign_id)
            .group_by(cls.state, cls.last_outcome)
        ).all()
        by_state: dict[str, int] = {}
        by_outcome: dict[str, int] = {}
        for state, outcome, n in rows:
            by_state[state] = by_state.get(state, 0) + n
            if outcome is not None:
                by_outcome[outcome] = by_outcome.get(outcome, 0) + n
        return by_state, by_outcome


# ---- API schemas ---------------------------------------------------------------------------


def _check_hhmm(value: str) -> str:
    hours, sep, minutes = value.partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()):
        raise ValueError("must be HH:MM")
    if not (0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59):
        raise ValueError("must be HH:MM")
    return f"{int(hours):02d}:{int(minutes):02d}"


class DriverListAudience(BaseModel):
    """These drivers, by id."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["drivers"]
    driver_ids: list[int] = PField(min_length=1, max_length=10_000)


class HosViolationAudience(BaseModel):
    """Drivers with an HOS violation in the last `days` that no resolved alert has closed."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["hos_violations"]
    days: int = PField(default=7, ge=1, le=90)


class LateTripAudience(BaseModel):
    """Drivers of active trips expected late by more than `minutes` (the trip is the context)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["late_trips"]
    minutes: int = PField(default=30, ge=0, le=7 * 24 * 60)


class SafetyEventAudience(BaseModel):
    """Drivers with a safety event labeled with one of `types` since `since`: Samsara behavior
    labels (`SafetyEventBehaviorLabelType`: `speeding`, `braking`, `harshTurn`, …), any case."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["safety_events"]
    types: list[str] = PField(min_length=1, max_length=20, examples=[["speeding", "braking"]])
    since: datetime

    @field_validator("types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        cleaned = [t.strip() for t in value if t.strip()]
        if not cleaned or any(len(t) > 60 for t in cleaned):
            raise ValueError("types must be non-empty labels of at most 60 characters")
        unknown = [t for t in cleaned if canonical_behavior_label(t) is None]
        if unknown:
            raise ValueError(
                f"not a Samsara behavior label: {', '.join(unknown)} "
                f"(known: {', '.join(BEHAVIOR_LABELS)})"
            )
        return list(dict.fromkeys(canonical_behavior_label(t) or t for t in cleaned))


class AlertAudience(BaseModel):
    """The drivers of these alerts (the alert, and its trip, become the call's context)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["alerts"]
    alert_ids: list[int] = PField(min_length=1, max_length=10_000)


Audience = Annotated[
    DriverListAudience
    | HosViolationAudience
    | LateTripAudience
    | SafetyEventAudience
    | AlertAudience,
    PField(discriminator="kind"),
]


class AudiencePreviewRequest(BaseModel):
    audience: Audience
    limit: int = PField(default=20, ge=1, le=200)


class AudienceDriver(BaseModel):
    driver_id: int
    name: str
    phone: str | None
    timezone: str | None
    do_not_call: bool
    trip_id: int | None = None
    alert_id: int | None = None


class AudiencePreview(BaseModel):
    count: int
    drivers: list[AudienceDriver]


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = PField(min_length=1, max_length=200)
    purpose: CallPurpose
    provider: ProviderName = CallProvider.VAPI.value
    agent_profile_id: int | None = None
    contact_plan_id: int | None = PField(
        default=None, description="reach each driver with this contact plan, not a bare call"
    )
    audience: Audience
    schedule_start_at: ApiDateTime | None = None
    schedule_end_at: ApiDateTime | None = None
    window_start: str = "08:00"
    window_end: str = "21:00"
    max_concurrency: int = PField(default=5, ge=1, le=500)
    max_attempts: int = PField(default=3, ge=1, le=10)
    retry_no_answer_minutes: int = PField(default=30, ge=1, le=7 * 24 * 60)
    retry_busy_minutes: int = PField(default=10, ge=1, le=7 * 24 * 60)
    retry_voicemail_minutes: int = PField(default=120, ge=1, le=7 * 24 * 60)
    retry_failed_minutes: int = PField(default=30, ge=1, le=7 * 24 * 60)

    _hhmm = field_validator("window_start", "window_end")(_check_hhmm)

    @model_validator(mode="after")
    def _ranges(self) -> CampaignCreate:
        start, end = self.schedule_start_at, self.schedule_end_at
        if start and end and start >= end:
            raise ValueError("schedule_start_at must be before schedule_end_at")
        return self


class CampaignPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    purpose: str
    provider: str
    agent_profile_id: int | None
    contact_plan_id: int | None = None
    status: CampaignStatus
    status_reason: str | None
    audience: dict[str, Any]
    schedule_start_at: datetime | None
    schedule_end_at: datetime | None
    window_start: str
    window_end: str
    max_concurrency: int
    max_attempts: int
    retry_no_answer_minutes: int
    retry_busy_minutes: int
    retry_voicemail_minutes: int
    retry_failed_minutes: int
    created_by_id: int | None
    target_count: int
    targets_finished: int = PField(
        default=0, description="Targets done, failed or skipped (never more than target_count)."
    )
    calls_placed: int
    started_at: datetime | None
    paused_at: datetime | None
    completed_at: datetime | None
    canceled_at: datetime | None
    last_tick_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CampaignProgress(BaseModel):
    by_state: dict[str, int]
    by_outcome: dict[str, int]
    in_flight: int
    finished: int
    percent_finished: float
    waiting: dict[str, int] = PField(
        default_factory=dict,
        description="Pending targets by why they are not dialed yet: campaign_draft, "
        "campaign_paused, before_schedule, retry_later, do_not_call, outside_window, "
        "active_call, daily_max, concurrency, or due (the next tick dials them).",
        examples=[{"daily_max": 2, "outside_window": 1}],
    )


class CampaignDetail(CampaignPublic):
    progress: CampaignProgress


class CampaignsPage(BaseModel):
    items: list[CampaignPublic]
    total: int
    limit: int
    offset: int


class LadderPassSummary(BaseModel):
    """What the escalation ladder did in one tick."""

    due: int
    placed: int
    failed: int
    paged: int
    skipped: dict[str, int]
    acknowledged: int


class CampaignTickSummary(BaseModel):
    """One tick: targets moved on, skipped, deferred (pre-dial refusals), claimed and dialed."""

    now: datetime
    started: int
    advanced: dict[str, int]
    released: int
    skipped: dict[str, int]
    deferred: dict[str, int]
    claimed: int
    placed: int
    provider_failed: int
    not_placed: int
    completed: list[int]
    timings_ms: dict[str, float]
    ladder: LadderPassSummary | None = None


class CampaignTargetPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    campaign_id: int
    driver_id: int
    driver_name: str | None = None
    trip_id: int | None
    alert_id: int | None
    state: TargetState
    attempts: int
    next_attempt_at: datetime
    claimed_at: datetime | None
    last_call_id: int | None
    last_outcome: str | None
    skip_reason: str | None
    defer_reason: str | None = None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CampaignTargetsPage(BaseModel):
    items: list[CampaignTargetPublic]
    total: int
    limit: int
    offset: int
