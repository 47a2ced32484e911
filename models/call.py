"""AI voice calls to drivers (VAPI or ElevenLabs) and the insights taken from each call.

A `Call` row is written before the provider is asked to dial (status `queued`), so every attempt
is on record even when the provider refuses. Statuses only move forward (`STATUS_RANK`): a late or
duplicated webhook never takes a call backwards. `CallInsight` is one row per call.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import Index, UniqueConstraint, select, text
from sqlmodel import Field, Session, SQLModel

from db.types import JSONType, UTCDateTime
from models.columns import created_at_field, updated_at_field


class CallProvider(StrEnum):
    """The built-in voice providers' names (defaults and the legacy per-vendor routes)."""

    VAPI = "vapi"
    ELEVENLABS = "elevenlabs"


# A voice provider's name in the API: any registered one (logic/calls/voice/registry.py checks
# it where a request names one), so adding a provider changes no schema.
ProviderName = Annotated[
    str,
    PField(
        min_length=1,
        max_length=20,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="a registered voice provider: vapi, elevenlabs",
    ),
]


class CallPurpose(StrEnum):
    VIOLATION_COACHING = "violation_coaching"
    LATE_LOAD_CHECK = "late_load_check"
    HOS_CHECK = "hos_check"
    # Held at a facility past free time: what is the hold-up (logic/alerts/ladder.py).
    FACILITY_CHECK = "facility_check"
    CUSTOM = "custom"


class CallStatus(StrEnum):
    QUEUED = "queued"
    DIALING = "dialing"
    # The create request timed out or failed with a 5xx: the vendor may have placed the call.
    # Reconciliation looks for it at the vendor before anything may dial this driver again.
    DIAL_UNKNOWN = "dial_unknown"
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    ENDED = "ended"
    FAILED = "failed"
    CANCELED = "canceled"
    # Never reported finished within `CALL_GIVE_UP_AFTER_MINUTES`: the driver is released.
    UNKNOWN = "unknown"


class CallOutcome(StrEnum):
    COMPLETED = "completed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    # Voicemail reached and our message (carrier, callback number) left on it.
    VOICEMAIL_LEFT = "voicemail_left"
    FAILED = "failed"
    CANCELED = "canceled"
    UNKNOWN = "unknown"


ACTIVE_CALL_STATUSES = (
    CallStatus.QUEUED,
    CallStatus.DIALING,
    CallStatus.DIAL_UNKNOWN,
    CallStatus.RINGING,
    CallStatus.IN_PROGRESS,
)
TERMINAL_CALL_STATUSES = (
    CallStatus.ENDED,
    CallStatus.FAILED,
    CallStatus.CANCELED,
    CallStatus.UNKNOWN,
)
# Forward-only progression; the three terminal states share the top rank, so once a call has
# ended, failed or been canceled no later event changes which of them it is.
STATUS_RANK: dict[str, int] = {
    CallStatus.QUEUED: 0,
    CallStatus.DIALING: 1,
    CallStatus.DIAL_UNKNOWN: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
    CallStatus.ENDED: 4,
    CallStatus.FAILED: 4,
    CallStatus.CANCELED: 4,
    CallStatus.UNKNOWN: 4,
}


class InsightSource(StrEnum):
    STRUCTURED = "structured"
    TRANSCRIPT_RULE = "transcript_rule"


class IssueType(StrEnum):
    BREAKDOWN = "breakdown"
    WEATHER = "weather"
    TRAFFIC = "traffic"
    SHIPPER_DELAY = "shipper_delay"
    RECEIVER_DELAY = "receiver_delay"
    HOS = "hos"
    HEALTH = "health"
    OTHER = "other"


class Call(SQLModel, table=True):
    __tablename__ = "call"
    __table_args__ = (
        UniqueConstraint("provider", "provider_call_id", name="uq_call_provider_call_id"),
        UniqueConstraint("idempotency_key", name="uq_call_idempotency_key"),
        Index("ix_call_driver_created", "driver_id", "created_at"),
        Index("ix_call_created", "created_at", "id"),
        # Reconciliation looks only at calls still waiting for their final report.
        Index(
            "ix_call_awaiting_report",
            "expected_end_at",
            postgresql_where=text("report_received_at IS NULL"),
            sqlite_where=text("report_received_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)
    provider_call_id: str | None = Field(default=None, max_length=100)
    twilio_call_sid: str | None = Field(default=None, max_length=64)
    driver_id: int | None = Field(default=None, foreign_key="driver.id", index=True)
    trip_id: int | None = Field(default=None, foreign_key="trip.id", index=True)
    alert_id: int | None = Field(
        default=None, foreign_key="alert.id", index=True, ondelete="SET NULL"
    )
    # Campaign targets arrive with campaigns; kept as a plain id so this table stands alone.
    campaign_target_id: int | None = Field(default=None, index=True)
    purpose: str = Field(max_length=32)
    agent_profile_id: int | None = Field(
        default=None, foreign_key="call_agent_profile.id", ondelete="SET NULL"
    )
    prompt_version: str | None = Field(default=None, max_length=40)
    variables: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    to_number: str = Field(max_length=20, description="E.164")
    status: str = Field(default=CallStatus.QUEUED, max_length=16, index=True)
    outcome: str | None = Field(default=None, max_length=16, index=True)
    ended_reason: str | None = Field(default=None, max_length=200)
    # Set in its own commit just before the provider is asked: a queued call with it set was
    # (maybe) sent, so recovery reconciles it at the vendor instead of dialing again.
    dial_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dialed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expected_end_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    report_received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reconciled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Insights extracted and written back (Slack reply, trip, follow-up): exactly once.
    finalized_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    duration_seconds: int | None = None
    cost_usd: float | None = None
    cost_credits: int | None = Field(default=None, description="ElevenLabs credits")
    # [{"role": "agent" | "user", "text": str, "seconds": float | None}]
    transcript: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    summary: str | None = None
    recording_url: str | None = Field(default=None, max_length=500)
    structured_data: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    error: str | None = Field(default=None, max_length=1000)
    # A warm transfer to the on-call dispatcher (VAPI `transfer-update`): where and when.
    transferred_to: str | None = Field(default=None, max_length=40)
    transferred_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    placed_by_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    idempotency_key: str | None = Field(default=None, max_length=120)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_CALL_STATUSES

    @classmethod
    def by_provider_id(cls, session: Session, provider: str, provider_call_id: str) -> Call | None:
        query = select(cls).where(
            cls.provider == provider, cls.provider_call_id == provider_call_id
        )
        return session.scalars(query).first()

    @classmethod
    def by_idempotency_key(cls, session: Session, key: str) -> Call | None:
        return session.scalars(select(cls).where(cls.idempotency_key == key)).first()

    @classmethod
    def active_driver_ids(cls, session: Session, driver_ids: list[int]) -> set[int]:
        """Drivers among `driver_ids` with a call queued, dialing, ringing or in progress."""
        if not driver_ids:
            return set()
        query = select(cls.driver_id).where(
            cls.driver_id.in_(driver_ids),
            cls.status.in_([s.value for s in ACTIVE_CALL_STATUSES]),
        )
        return {driver_id for driver_id in session.scalars(query) if driver_id is not None}

    @classmethod
    def dialed_since(
        cls, session: Session, driver_ids: list[int], since: datetime
    ) -> list[tuple[int, datetime]]:
        """(driver id, created at) of calls the provider accepted, created at or after `since`."""
        if not driver_ids:
            return []
        query = select(cls.driver_id, cls.created_at).where(
            cls.driver_id.in_(driver_ids),
            cls.created_at >= since,
            cls.dialed_at.is_not(None),
        )
        return [(driver_id, created) for driver_id, created in session.execute(query)]


class CallInsight(SQLModel, table=True):
    """What the driver told us, one row per call; `provenance[field]` = {source, confidence}."""

    __tablename__ = "call_insight"
    __table_args__ = (
        UniqueConstraint("call_id", name="uq_call_insight_call"),
        Index("ix_call_insight_follow_up", "needs_follow_up", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(foreign_key="call.id", ondelete="CASCADE")
    driver_id: int | None = Field(default=None, foreign_key="driver.id", index=True)
    trip_id: int | None = Field(default=None, foreign_key="trip.id", index=True)
    reported_delay_minutes: int | None = None
    reported_eta: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reported_eta_text: str | None = Field(default=None, max_length=40)
    reported_location: str | None = Field(default=None, max_length=200)
    reported_stop_id: int | None = Field(default=None, description="trip stop matched by city")
    issues: list[str] = Field(default_factory=list, sa_type=JSONType)
    violation_acknowledged: bool | None = None
    needs_follow_up: bool = False
    follow_up_reason: str | None = Field(default=None, max_length=500)
    # Why the truck is held at a facility (a facility_check call): utils/call_insights.py.
    hold_reason: str | None = Field(default=None, max_length=40)
    provenance: dict[str, dict[str, Any]] = Field(default_factory=dict, sa_type=JSONType)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    @classmethod
    def for_call(cls, session: Session, call_id: int) -> CallInsight | None:
        return session.scalars(select(cls).where(cls.call_id == call_id)).first()


# ---- API schemas ---------------------------------------------------------------------------


class CallPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    provider: str
    provider_call_id: str | None
    twilio_call_sid: str | None
    driver_id: int | None
    trip_id: int | None
    alert_id: int | None
    campaign_target_id: int | None
    purpose: CallPurpose
    agent_profile_id: int | None
    prompt_version: str | None
    to_number: str
    status: CallStatus
    outcome: CallOutcome | None
    ended_reason: str | None
    dialed_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None
    cost_usd: float | None
    cost_credits: int | None
    # Set when the provider's final report (or reconciliation) filled the call; a VAPI call is
    # `ended` a moment before its end-of-call report arrives.
    report_received_at: datetime | None
    finalized_at: datetime | None
    summary: str | None
    recording_url: str | None
    error: str | None
    transferred_to: str | None = None
    transferred_at: datetime | None = None
    placed_by_id: int | None
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime


class CallInsightPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    call_id: int
    driver_id: int | None
    trip_id: int | None
    reported_delay_minutes: int | None
    reported_eta: datetime | None
    reported_eta_text: str | None
    reported_location: str | None
    reported_stop_id: int | None
    issues: list[IssueType]
    violation_acknowledged: bool | None
    needs_follow_up: bool
    follow_up_reason: str | None
    hold_reason: str | None = None
    provenance: dict[str, dict[str, Any]]
    created_at: datetime


class CallEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    provider: str
    event_type: str
    occurred_at: datetime | None
    received_at: datetime
    processed_at: datetime | None
    error: str | None


class CallDetail(CallPublic):
    variables: dict[str, Any]
    transcript: list[dict[str, Any]]
    structured_data: dict[str, Any] | None
    insight: CallInsightPublic | None
    events: list[CallEventPublic]


class CallsPage(BaseModel):
    items: list[CallPublic]
    total: int
    limit: int
    offset: int


class CallInsightsPage(BaseModel):
    items: list[CallInsightPublic]
    total: int
    limit: int
    offset: int


class CallCreate(BaseModel):
    """Provider and agent come from the profile (or the provider's enabled one for the purpose)."""

    model_config = ConfigDict(extra="forbid")

    driver_id: int
    purpose: CallPurpose = CallPurpose.LATE_LOAD_CHECK
    agent_profile_id: int | None = None
    provider: ProviderName | None = None
    trip_id: int | None = None
    alert_id: int | None = None
    idempotency_key: str | None = PField(default=None, max_length=120)
    safety_override: bool = PField(
        default=False,
        description="call although the driver is driving or resting (needs calls:admin)",
    )


class DriverCallRequest(BaseModel):
    """`POST /driver_data/call-vapi|call-elevenlabs`: one call per listed driver."""

    model_config = ConfigDict(extra="forbid")

    driver_ids: list[int] = PField(min_length=1, max_length=100)
    purpose: CallPurpose = CallPurpose.LATE_LOAD_CHECK
    agent_profile_id: int | None = None
    alert_id: int | None = None
    # Each driver's call gets "<key>:<driver id>", so a retried request dials nobody twice.
    idempotency_key: str | None = PField(default=None, max_length=100)


class DriverCallResult(BaseModel):
    driver_id: int
    result: Literal["placed", "skipped", "failed"]
    reason: str | None = None
    detail: str | None = None
    call_id: int | None = None


class DriverCallsResponse(BaseModel):
    placed: int
    skipped: int
    failed: int
    results: list[DriverCallResult]


class CallPreview(BaseModel):
    driver_id: int
    purpose: CallPurpose
    provider: str | None
    agent_profile_id: int | None
    prompt_version: str
    first_message: str
    system_prompt: str
    variables: dict[str, Any]
    refusal: str | None = None
    refusal_detail: str | None = None
