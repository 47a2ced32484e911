"""Alerts, the rules that route them and the Slack outbox that delivers them.

An `Alert` is one problem (fingerprint = type + subject) with its occurrence count and the record
of every noise-control decision (`decisions`); `AlertDelivery` is the outbox row a worker claims.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, field_validator
from pydantic import Field as PField
from pydantic_core import PydanticCustomError
from sqlalchemy import Index, UniqueConstraint, func, select, text
from sqlalchemy.orm import defer
from sqlmodel import Field, Session, SQLModel

from db.types import JSONType, UTCDateTime
from helpers.json_bounds import check_json_bounds
from helpers.time_utils import is_valid_timezone
from models.alert_ladder import AlertLadderStepPublic, LadderStep
from models.api_fields import NotNull, SlackChannel


class AlertType(StrEnum):
    LATE_FOR_APPOINTMENT = "late_for_appointment"
    CANNOT_LEGALLY_MAKE_APPOINTMENT = "cannot_legally_make_appointment"
    HOS_DRIVE_TIME_LOW = "hos_drive_time_low"
    HOS_VIOLATION = "hos_violation"
    SPEEDING = "speeding"
    HARSH_EVENT = "harsh_event"
    STOPPED_TOO_LONG = "stopped_too_long"
    GPS_STALE = "gps_stale"
    SEVERE_WEATHER = "severe_weather"
    INTEGRATION_STALE = "integration_stale"
    DETENTION = "detention"
    # Opened by a finished AI call that needs a person (logic/calls/insights.py), not a detector.
    CALL_FOLLOW_UP = "call_follow_up"


class AlertSeverity(StrEnum):
    """How urgent an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


# The OpenAPI component is named after the class, so the class name is unique across models;
# `Severity` stays importable from this module.
Severity = AlertSeverity


class AlertStatus(StrEnum):
    # `pending` = detected but not yet past the rule's minimum duration: not shown as open,
    # never notified; it becomes `open` or disappears (resolved) on a later pass.
    PENDING = "pending"
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


ACTIVE_STATUSES = (
    AlertStatus.PENDING,
    AlertStatus.OPEN,
    AlertStatus.ACKNOWLEDGED,
    AlertStatus.SNOOZED,
)


class DeliveryKind(StrEnum):
    POST = "post"  # the alert's own message
    UPDATE = "update"  # chat.update of the original after ack/snooze/resolve
    REPLY = "reply"  # thread reply: re-occurrence, escalation notice
    ESCALATION = "escalation"  # full message re-posted to the escalation channel
    DIGEST = "digest"  # one message listing alerts over the channel's rate limit


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Alert(SQLModel, table=True):
    __table_args__ = (
        # One active alert per fingerprint, whatever the process: a second insert fails.
        Index(
            "uq_alert_active_fingerprint",
            "fingerprint",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
            sqlite_where=text("status <> 'resolved'"),
        ),
        Index("ix_alert_fingerprint_status", "fingerprint", "status"),
        Index("ix_alert_status_severity", "status", "severity"),
    )

    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(index=True, max_length=40)
    severity: str = Field(default=Severity.WARNING, max_length=16)
    status: str = Field(default=AlertStatus.OPEN, max_length=16)
    fingerprint: str = Field(max_length=200)
    rule_id: int | None = Field(default=None, foreign_key="alertrule.id", ondelete="SET NULL")
    trip_id: int | None = Field(default=None, index=True)
    driver_id: int | None = Field(default=None, index=True)
    vehicle_id: int | None = Field(default=None, index=True)
    title: str = Field(max_length=200)
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    # Every noise-control decision, oldest first: [{"at", "decision", "reason"}]. Capped.
    decisions: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    occurrence_key: str | None = Field(default=None, max_length=120)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    occurrences: int = 1
    suppressed_count: int = 0
    notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by_id: int | None = None
    snoozed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    resolved_by_id: int | None = None
    resolution: str | None = Field(default=None, max_length=200)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    slack_channel: str | None = Field(default=None, max_length=80)
    slack_ts: str | None = Field(default=None, max_length=40)
    escalation_slack_channel: str | None = Field(default=None, max_length=80)
    escalation_slack_ts: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @classmethod
    def active_by_fingerprint(
        cls, session: Session, types: list[str] | None = None
    ) -> dict[str, Alert]:
        """Every not-resolved alert (of `types`), keyed by fingerprint: one query."""
        # `decisions` grows with the alert's history and is only needed when one is added.
        query = (
            select(cls)
            .options(defer(cls.decisions))
            .where(cls.status.in_([s.value for s in ACTIVE_STATUSES]))
        )
        if types is not None:
            query = query.where(cls.type.in_(types))
        return {a.fingerprint: a for a in session.scalars(query)}

    @classmethod
    def latest_resolved(
        cls, session: Session, fingerprints: list[str], since: datetime
    ) -> dict[str, Alert]:
        """The most recently resolved alert per fingerprint, resolved at or after `since`."""
        if not fingerprints:
            return {}
        query = (
            select(cls)
            .where(cls.status == AlertStatus.RESOLVED, cls.resolved_at >= since)
            .where(cls.fingerprint.in_(fingerprints))
            .order_by(cls.resolved_at)
        )
        return {a.fingerprint: a for a in session.scalars(query)}

    @classmethod
    def count_by_status_severity(cls, session: Session) -> list[tuple[str, str, int]]:
        query = (
            select(cls.status, cls.severity, func.count())
            .where(cls.status != AlertStatus.RESOLVED)
            .group_by(cls.status, cls.severity)
        )
        return [(s, sev, n) for s, sev, n in session.execute(query)]


class AlertRule(SQLModel, table=True):
    """How alerts of one type are detected (params), routed and quieted.

    Scope: a rule with `terminal` or `fleet_manager` set applies only to subjects that match;
    the unscoped rule of a type supplies the detector thresholds and the fallback routing.
    """

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    type: str = Field(index=True, max_length=40)
    enabled: bool = True
    severity: str = Field(default=Severity.WARNING, max_length=16)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    terminal: str | None = Field(default=None, max_length=80)
    fleet_manager: str | None = Field(default=None, max_length=120)
    channel: str | None = Field(default=None, max_length=80)
    cooldown_minutes: int = 30
    quiet_hours_start: str | None = Field(default=None, max_length=5)  # "22:00"
    quiet_hours_end: str | None = Field(default=None, max_length=5)  # "06:00"
    quiet_hours_timezone: str = Field(default="America/Chicago", max_length=64)
    min_duration_minutes: int = 0
    escalate_after_minutes: int | None = None
    escalation_channel: str | None = Field(default=None, max_length=80)
    # Ladder steps past Slack (AI check call, on-call page): `models.alert_ladder.LadderStep`s.
    escalation_steps: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    # Armed at: its `ai_call` steps climb only alerts first seen from then on (None: all open
    # alerts, as asked with `apply_to_open`). Saving a rule never dials a backlog by surprise.
    ladder_from: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @classmethod
    def enabled_rules(cls, session: Session) -> list[AlertRule]:
        return list(session.scalars(select(cls).where(cls.enabled.is_(True)).order_by(cls.id)))

    @classmethod
    def all_rules(cls, session: Session) -> list[AlertRule]:
        return list(session.scalars(select(cls).order_by(cls.type, cls.id)))


class AlertDelivery(SQLModel, table=True):
    """Outbox row: one Slack call to make. Workers claim rows (SKIP LOCKED) and lease them."""

    __table_args__ = (Index("ix_alertdelivery_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int | None = Field(
        default=None, foreign_key="alert.id", index=True, ondelete="CASCADE"
    )
    channel: str = Field(max_length=80)
    kind: str = Field(max_length=16)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claim_token: str | None = Field(default=None, max_length=40, index=True)
    last_error: str | None = None
    slack_channel: str | None = Field(default=None, max_length=80)
    slack_ts: str | None = Field(default=None, max_length=40)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)

    @classmethod
    def counts_by_status(cls, session: Session) -> dict[str, int]:
        query = select(cls.status, func.count()).group_by(cls.status)
        return {status: n for status, n in session.execute(query)}

    @classmethod
    def for_alert(cls, session: Session, alert_id: int) -> list[AlertDelivery]:
        return list(session.scalars(select(cls).where(cls.alert_id == alert_id).order_by(cls.id)))


class SlackInteraction(SQLModel, table=True):
    """Every verified Slack interaction request, keyed by its signature: replays are refused."""

    __table_args__ = (UniqueConstraint("signature", name="uq_slackinteraction_signature"),)

    id: int | None = Field(default=None, primary_key=True)
    signature: str = Field(max_length=100)
    request_ts: int
    slack_user_id: str | None = Field(default=None, max_length=40)
    action: str | None = Field(default=None, max_length=40)
    alert_id: int | None = None
    outcome: str | None = Field(default=None, max_length=200)
    received_at: datetime = Field(sa_type=UTCDateTime)


class SlackUserLink(SQLModel, table=True):
    """Which hub user a Slack user acts as when pressing alert buttons."""

    id: int | None = Field(default=None, primary_key=True)
    slack_user_id: str = Field(max_length=40, unique=True)
    user_id: int = Field(index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


# ---- API schemas ---------------------------------------------------------------------------


class AlertPublic(BaseModel):
    id: int
    type: str
    severity: str
    status: str
    fingerprint: str
    rule_id: int | None
    trip_id: int | None
    driver_id: int | None
    vehicle_id: int | None
    title: str
    message: str
    details: dict[str, Any]
    first_seen_at: datetime
    last_seen_at: datetime
    occurrences: int
    suppressed_count: int
    notified_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by_id: int | None
    snoozed_until: datetime | None
    resolved_at: datetime | None
    resolved_by_id: int | None
    resolution: str | None
    escalated_at: datetime | None
    slack_channel: str | None
    slack_ts: str | None

    model_config = {"from_attributes": True}


class AlertDeliveryPublic(BaseModel):
    id: int
    alert_id: int | None
    channel: str
    kind: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    slack_channel: str | None
    slack_ts: str | None
    sent_at: datetime | None
    created_at: datetime

    model_config = {"from_attributes": True}


class AlertDetail(AlertPublic):
    """The alert plus why it fired or was suppressed, and its Slack deliveries."""

    decisions: list[dict[str, Any]]
    deliveries: list[AlertDeliveryPublic]
    # Ladder steps past Slack taken (or skipped, with the reason) for this alert.
    ladder: list[AlertLadderStepPublic] = []


class AlertsPage(BaseModel):
    items: list[AlertPublic]
    total: int
    limit: int
    offset: int


class AlertDeliveriesPage(BaseModel):
    items: list[AlertDeliveryPublic]
    counts: dict[str, int]
    total: int
    limit: int
    offset: int


def _check_hhmm(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    hours, sep, minutes = value.partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()):
        raise ValueError("must be HH:MM")
    if not (0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59):
        raise ValueError("must be HH:MM")
    return f"{int(hours):02d}:{int(minutes):02d}"


# Thresholds a caller stores: bounded, so a rule cannot hold megabytes or pathological nesting.
RuleParams = Annotated[dict[str, Any], AfterValidator(check_json_bounds)]


class AlertRuleBase(BaseModel):
    name: str = PField(min_length=1, max_length=120)
    type: AlertType
    enabled: bool = True
    severity: Severity = Severity.WARNING
    params: RuleParams = PField(default_factory=dict)
    terminal: str | None = None
    fleet_manager: str | None = None
    channel: SlackChannel | None = None
    cooldown_minutes: int = PField(default=30, ge=0, le=7 * 24 * 60)
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    quiet_hours_timezone: str = "America/Chicago"
    min_duration_minutes: int = PField(default=0, ge=0, le=24 * 60)
    escalate_after_minutes: int | None = PField(default=None, ge=1, le=7 * 24 * 60)
    escalation_channel: SlackChannel | None = None
    escalation_steps: list[LadderStep] = PField(default_factory=list, max_length=10)

    _hhmm = field_validator("quiet_hours_start", "quiet_hours_end")(_check_hhmm)

    @field_validator("quiet_hours_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not is_valid_timezone(value):
            raise ValueError(f"unknown time zone {value!r}")
        return value


class AlertRuleCreate(AlertRuleBase):
    """A new rule: every field of the base, and whether its AI check calls reach alerts already
    open (`apply_to_open`; by default only alerts opened after it is saved)."""

    apply_to_open: bool = False


# Alerts opened by other parts of the hub, not by a detector: nothing to dry-run.
OPENED_ELSEWHERE = frozenset({AlertType.CALL_FOLLOW_UP})
# The types a detector finds (logic/alerts/detectors.py:DETECTORS; a test keeps them equal),
# as a Literal so OpenAPI lists them on the dry run.
DETECTED_TYPES: tuple[str, ...] = tuple(t.value for t in AlertType if t not in OPENED_ELSEWHERE)
DetectedAlertType = Literal[DETECTED_TYPES]  # type: ignore[valid-type]


def _detected_type(value: Any) -> Any:
    if isinstance(value, str) and value in OPENED_ELSEWHERE:
        raise PydanticCustomError(
            "not_detected",
            "{value} alerts are opened by other parts of the hub, not by a detector, so they "
            "cannot be dry-run; dry-run one of: {types}",
            {"value": value, "types": ", ".join(DETECTED_TYPES)},
        )
    return value


class AlertRuleDryRun(AlertRuleBase):
    """An unsaved rule to dry-run: only types a detector finds."""

    type: Annotated[DetectedAlertType, BeforeValidator(_detected_type)]  # type: ignore[assignment]


class AlertRuleUpdate(BaseModel):
    """Fields left out keep their value; null clears only the nullable ones."""

    name: NotNull[str] = PField(default=None, min_length=1, max_length=120)
    enabled: NotNull[bool] = None
    severity: NotNull[Severity] = None
    params: NotNull[RuleParams] = None
    terminal: str | None = None
    fleet_manager: str | None = None
    channel: SlackChannel | None = None
    cooldown_minutes: NotNull[int] = PField(default=None, ge=0, le=7 * 24 * 60)
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    quiet_hours_timezone: NotNull[str] = None
    min_duration_minutes: NotNull[int] = PField(default=None, ge=0, le=24 * 60)
    escalate_after_minutes: int | None = PField(default=None, ge=1, le=7 * 24 * 60)
    escalation_channel: SlackChannel | None = None
    escalation_steps: NotNull[list[LadderStep]] = PField(default=None, max_length=10)
    # Arming AI check calls (new `ai_call` steps, or enabling the rule): reach the alerts
    # already open too, instead of only those opened from now on.
    apply_to_open: NotNull[bool] = None

    _hhmm = field_validator("quiet_hours_start", "quiet_hours_end")(_check_hhmm)

    @field_validator("quiet_hours_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and not is_valid_timezone(value):
            raise ValueError(f"unknown time zone {value!r}")
        return value


class LadderArming(BaseModel):
    """What saving the rule did to its AI check calls (a dry run of the ladder)."""

    open_alerts_would_climb: int  # open alerts whose `ai_call` step is due now
    applies_to: Literal["new_alerts", "open_alerts_too"]
    ladder_from: datetime | None


class AlertRulePublic(AlertRuleBase):
    id: int
    type: str  # type: ignore[assignment]
    severity: str  # type: ignore[assignment]
    ladder_from: datetime | None = None
    arming: LadderArming | None = None  # set when this save armed `ai_call` steps
    # Rows stored before channels were checked are shown as they are, never a 500.
    channel: str | None = None
    escalation_channel: str | None = None
    created_at: datetime
    updated_at: datetime

    model_config = {"from_attributes": True}
