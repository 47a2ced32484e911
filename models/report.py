"""Driver reports, morning reports, who receives them and the delivery outbox.

`DriverReport` is one row per driver and local day (upsert key (driver_id, report_date)), rebuilt
from stored facts by `logic/reports/driver_reports.py`. `MorningReport` is one row per date and
scope (`terminal` "" = the whole fleet) holding the rendered body. `ReportRecipients` says where a
scope's report goes and when; `ReportDelivery` is the outbox row a worker claims, like
`AlertDelivery`, with the progress of a multi-step Slack delivery kept on the row.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, field_validator
from pydantic import Field as PField
from sqlalchemy import Date, Index, UniqueConstraint, select
from sqlmodel import Field, Session, SQLModel

from db.types import JSONType, UTCDateTime
from helpers.time_utils import is_valid_timezone
from models.api_fields import SlackChannel

FLEET = ""  # the scope key of the fleet-wide morning report and recipients


class DriverReport(SQLModel, table=True):
    __tablename__ = "driver_report"
    __table_args__ = (
        UniqueConstraint("driver_id", "report_date", name="uq_driver_report_driver_date"),
        Index("ix_driver_report_date_score", "report_date", "safety_score"),
    )

    id: int | None = Field(default=None, primary_key=True)
    driver_id: int = Field(foreign_key="driver.id", ondelete="CASCADE")
    report_date: date = Field(sa_type=Date)
    timezone: str = Field(max_length=64)
    terminal: str | None = Field(default=None, max_length=100)
    fleet_manager: str | None = Field(default=None, max_length=100)
    window_start: datetime = Field(sa_type=UTCDateTime)
    window_end: datetime = Field(sa_type=UTCDateTime)
    miles: float = 0.0
    miles_source: str = Field(default="none", max_length=16)  # positions | trips | none
    trips_completed: int = 0
    stops_completed: int = 0
    stops_with_appointment: int = 0
    stops_on_time: int = 0
    on_time_pct: float | None = None
    late_minutes: float = 0.0
    # Billable detention at stops left that day (the carrier bills it; the driver was held).
    detention_hours: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})
    drive_hours: float = 0.0
    on_duty_hours: float = 0.0
    hos_violations: int = 0
    hos_violations_by_type: dict[str, int] = Field(default_factory=dict, sa_type=JSONType)
    safety_events: int = 0
    safety_events_by_type: dict[str, int] = Field(default_factory=dict, sa_type=JSONType)
    safety_events_by_severity: dict[str, int] = Field(default_factory=dict, sa_type=JSONType)
    speeding_minutes: float = 0.0
    alerts: int = 0
    alerts_by_type: dict[str, int] = Field(default_factory=dict, sa_type=JSONType)
    calls: int = 0
    call_outcomes: dict[str, int] = Field(default_factory=dict, sa_type=JSONType)
    call_issues: dict[str, int] = Field(default_factory=dict, sa_type=JSONType)
    follow_ups: int = 0
    # Reach per channel and per contact-plan step (logic/reports/reach.py).
    reach: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSONType, sa_column_kwargs={"server_default": "{}"}
    )
    # None when the day has no mileage basis (`score_withheld_reason` says why): a day that
    # cannot be measured is not scored as if it were perfect.
    safety_score: float | None = None
    score_withheld_reason: str | None = Field(default=None, max_length=200)
    score_components: dict[str, float] = Field(default_factory=dict, sa_type=JSONType)
    score_avg_7d: float | None = None
    score_avg_30d: float | None = None
    trend_7d: float | None = None
    trend_30d: float | None = None
    generated_at: datetime = Field(sa_type=UTCDateTime)

    @classmethod
    def for_driver(
        cls, session: Session, driver_id: int, start: date, end: date
    ) -> list[DriverReport]:
        stmt = (
            select(cls)
            .where(cls.driver_id == driver_id, cls.report_date.between(start, end))
            .order_by(cls.report_date)
        )
        return list(session.scalars(stmt))


class MorningReport(SQLModel, table=True):
    __tablename__ = "morning_report"
    __table_args__ = (
        UniqueConstraint("report_date", "terminal", name="uq_morning_report_date_terminal"),
    )

    id: int | None = Field(default=None, primary_key=True)
    report_date: date = Field(sa_type=Date, description="the day the report is read (today)")
    terminal: str = Field(default=FLEET, max_length=100)
    timezone: str = Field(max_length=64)
    body: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    generated_at: datetime = Field(sa_type=UTCDateTime)

    @classmethod
    def get_for(cls, session: Session, report_date: date, terminal: str) -> MorningReport | None:
        stmt = select(cls).where(cls.report_date == report_date, cls.terminal == terminal)
        return session.scalars(stmt).first()


class ReportRecipients(SQLModel, table=True):
    """Where and when one scope's morning report goes; also the terminal's home time zone."""

    __tablename__ = "report_recipients"
    __table_args__ = (UniqueConstraint("terminal", name="uq_report_recipients_terminal"),)

    id: int | None = Field(default=None, primary_key=True)
    terminal: str = Field(default=FLEET, max_length=100)
    timezone: str = Field(max_length=64)
    slack_channels: list[str] = Field(default_factory=list, sa_type=JSONType)
    emails: list[str] = Field(default_factory=list, sa_type=JSONType)
    send_at: str = Field(default="06:00", max_length=5, description="local HH:MM")
    enabled: bool = True
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @classmethod
    def all(cls, session: Session) -> list[ReportRecipients]:
        return list(session.scalars(select(cls).order_by(cls.terminal)))

    @classmethod
    def get_for(cls, session: Session, terminal: str) -> ReportRecipients | None:
        return session.scalars(select(cls).where(cls.terminal == terminal)).first()


class ReportChannel(StrEnum):
    SLACK = "slack"
    EMAIL = "email"


class ReportDeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class ReportDelivery(SQLModel, table=True):
    """Outbox row: one morning report to one Slack channel or one email list."""

    __tablename__ = "report_delivery"
    __table_args__ = (
        # One delivery per report and target: regenerating a report never queues it twice.
        UniqueConstraint("morning_report_id", "channel", "target", name="uq_report_delivery"),
        Index("ix_report_delivery_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    morning_report_id: int = Field(foreign_key="morning_report.id", ondelete="CASCADE")
    channel: str = Field(max_length=10)
    target: str = Field(max_length=1000, description="Slack channel, or comma-joined addresses")
    status: str = Field(default=ReportDeliveryStatus.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claim_token: str | None = Field(default=None, max_length=40, index=True)
    # Steps already done (Slack: the message's channel/ts, then the chart's file id), so a retry
    # resumes after the last one that succeeded and never posts a step twice.
    progress: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    last_error: str | None = None
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class ReportDeliveryPublic(BaseModel):
    model_config = {"from_attributes": True}

    id: int
    morning_report_id: int
    channel: ReportChannel
    target: str
    status: ReportDeliveryStatus
    attempts: int
    next_attempt_at: datetime
    progress: dict[str, Any]
    last_error: str | None
    sent_at: datetime | None


class ReportRecipientsPublic(BaseModel):
    model_config = {"from_attributes": True}

    terminal: str
    timezone: str
    slack_channels: list[str]
    emails: list[str]
    send_at: str
    enabled: bool
    updated_at: datetime


class ReportRecipientsUpdate(BaseModel):
    """A scope's recipients, replaced as a whole (`terminal` "" is the fleet-wide report)."""

    model_config = {"extra": "forbid"}

    terminal: str = PField(default=FLEET, max_length=100)
    timezone: str = PField(max_length=64)
    slack_channels: list[SlackChannel] = PField(default_factory=list, max_length=10)
    emails: list[str] = PField(default_factory=list, max_length=50)
    send_at: str = PField(default="06:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    enabled: bool = True

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if not is_valid_timezone(value):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. America/Chicago)")
        return value

    @field_validator("emails")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        for value in values:
            local, at, domain = value.partition("@")
            if not (local and at and "." in domain) or " " in value or len(value) > 254:
                raise ValueError(f"{value!r} is not an email address")
        return values
