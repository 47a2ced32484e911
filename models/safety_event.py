"""Samsara safety events (harsh braking, speeding, distraction…) and their API schemas.

Vendor-owned and read-only through the API; ingest upserts on `samsara_id`. Speeds are mph
(ingest converts the v2 stream's km/h). `severity` is ours: ingest derives it from the labels.
"""

# No `from __future__ import annotations`: SQLModel resolves Relationship annotations at
# class creation and cannot read them as strings.
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import String, select
from sqlmodel import Field, Relationship, Session, SQLModel

from db.types import JSONType, UTCDateTime
from models.columns import updated_at_field
from models.driver import Driver, DriverSummary
from models.vehicle import Vehicle, VehicleSummary


class SafetyEventSeverity(StrEnum):
    """How serious a safety event is (from its labels and peak g-force)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


# The OpenAPI component is named after the class, so the class name is unique across models;
# `Severity` stays importable from this module.
Severity = SafetyEventSeverity


# Samsara's `SafetyEventBehaviorLabelType` enum, in the spec's spelling (`nearCollison` too).
# Samsara adds labels over time, so ingest keeps any label it receives; what a user types (a
# campaign audience) is checked against this list, so a made-up label such as "harshBrake"
# is refused instead of silently matching nobody.
BEHAVIOR_LABELS: tuple[str, ...] = (
    "genericTailgating", "genericDistraction", "defensiveDriving", "rollingStop",
    "nearCollison", "speeding", "obstructedCamera", "didNotYield", "noSeatbelt", "mobileUsage",
    "drowsy", "laneDeparture", "followingDistanceSevere", "followingDistanceModerate",
    "lateResponse", "acceleration", "braking", "harshTurn", "crash", "rolloverProtection",
    "yawControl", "ranRedLight", "forwardCollisionWarning", "eatingDrinking", "smoking",
    "followingDistance", "edgeDistractedDriving",
)  # fmt: skip
_LABEL_BY_LOWER = {label.lower(): label for label in BEHAVIOR_LABELS}


def canonical_behavior_label(value: str) -> str | None:
    """The spec's spelling of a behavior label given in any case, or None if it is not one."""
    return _LABEL_BY_LOWER.get(value.strip().lower())


class CoachingState(StrEnum):
    """Union of the legacy `coachingState` and v2 `eventState` values Samsara documents."""

    UNKNOWN = "unknown"
    NEEDS_REVIEW = "needsReview"
    REVIEWED = "reviewed"
    NEEDS_COACHING = "needsCoaching"
    COACHED = "coached"
    DISMISSED = "dismissed"
    AUTO_DISMISSED = "autoDismissed"
    MANUAL_REVIEW = "manualReview"
    NEEDS_RECOGNITION = "needsRecognition"
    RECOGNIZED = "recognized"
    ARCHIVED = "archived"
    INVALID = "invalid"


class SafetyEvent(SQLModel, table=True):
    __tablename__ = "safety_event"

    id: int | None = Field(default=None, primary_key=True)
    samsara_id: str | None = Field(default=None, max_length=100, unique=True)
    driver_id: int | None = Field(default=None, foreign_key="driver.id", index=True)
    vehicle_id: int | None = Field(default=None, foreign_key="vehicle.id", index=True)
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    behavior_labels: list[str] = Field(
        default_factory=list, sa_type=JSONType, sa_column_kwargs={"server_default": "[]"}
    )
    severity: str = Field(
        default=Severity.LOW,
        sa_type=String(20),
        index=True,
        sa_column_kwargs={"server_default": Severity.LOW.value},
    )
    speed_mph: float | None = None
    speed_limit_mph: float | None = None
    max_acceleration_g: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = Field(default=None, max_length=300)
    coaching_state: str | None = Field(default=None, sa_type=String(30), index=True)
    updated_at: datetime = updated_at_field()

    driver: Driver | None = Relationship()
    vehicle: Vehicle | None = Relationship()

    @classmethod
    def get_by_samsara_id(cls, session: Session, samsara_id: str) -> "SafetyEvent | None":
        return session.scalars(select(cls).where(cls.samsara_id == samsara_id)).first()

    @classmethod
    def recent_for_driver(
        cls, session: Session, driver_id: int, *, since: datetime, limit: int = 20
    ) -> "list[SafetyEvent]":
        stmt = (
            select(cls)
            .where(cls.driver_id == driver_id, cls.occurred_at >= since)
            .order_by(cls.occurred_at.desc())
            .limit(limit)
        )
        return list(session.scalars(stmt))


class SafetyEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    samsara_id: str | None
    driver_id: int | None
    vehicle_id: int | None
    driver: DriverSummary | None = None
    vehicle: VehicleSummary | None = None
    occurred_at: datetime
    ended_at: datetime | None
    behavior_labels: list[str]
    severity: Severity
    speed_mph: float | None
    speed_limit_mph: float | None
    max_acceleration_g: float | None
    latitude: float | None
    longitude: float | None
    address: str | None
    coaching_state: str | None
    updated_at: datetime | None
