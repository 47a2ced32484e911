"""Hours of service: each driver's current clock, duty-status log segments and violations.

Durations are whole minutes (ingest converts Samsara's milliseconds with `ms_to_minutes`).
Upsert keys: `HosClock.driver_id` (one current row per driver), `HosLog` (driver_id, start_at),
`HosViolation` (driver_id, violation_type, started_at) — Samsara gives violations no id.
"""

# No `from __future__ import annotations`: SQLModel resolves Relationship annotations at
# class creation and cannot read them as strings.
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import Index, String, UniqueConstraint, select
from sqlmodel import Field, Relationship, Session, SQLModel

from db.types import UTCDateTime
from models.columns import updated_at_field
from models.driver import Driver, DriverSummary


class DutyStatus(StrEnum):
    OFF_DUTY = "off_duty"
    SLEEPER_BERTH = "sleeper_berth"
    DRIVING = "driving"
    ON_DUTY = "on_duty"
    YARD_MOVE = "yard_move"
    PERSONAL_CONVEYANCE = "personal_conveyance"
    DISCONNECTED = "disconnected"

    @classmethod
    def from_samsara(cls, value: str | None) -> "DutyStatus":
        """Map Samsara's `hosStatusType`; an empty value means the driver app is disconnected."""
        return _SAMSARA_DUTY_STATUS.get(value or "", cls.DISCONNECTED)


_SAMSARA_DUTY_STATUS = {
    "offDuty": DutyStatus.OFF_DUTY,
    "sleeperBed": DutyStatus.SLEEPER_BERTH,
    "driving": DutyStatus.DRIVING,
    "onDuty": DutyStatus.ON_DUTY,
    "yardMove": DutyStatus.YARD_MOVE,
    "personalConveyance": DutyStatus.PERSONAL_CONVEYANCE,
}


def ms_to_minutes(value: float | int | None) -> int | None:
    """Vendor milliseconds to whole minutes, rounded down (never overstate time left)."""
    return None if value is None else int(value // 60_000)


class HosClock(SQLModel, table=True):
    __tablename__ = "hos_clock"

    id: int | None = Field(default=None, primary_key=True)
    driver_id: int = Field(foreign_key="driver.id", unique=True, ondelete="CASCADE")
    vehicle_id: int | None = Field(default=None, foreign_key="vehicle.id")
    duty_status: str = Field(
        default=DutyStatus.DISCONNECTED,
        sa_type=String(30),
        index=True,
        sa_column_kwargs={"server_default": DutyStatus.DISCONNECTED.value},
    )
    drive_remaining_minutes: int | None = Field(default=None, index=True)
    shift_remaining_minutes: int | None = None
    cycle_remaining_minutes: int | None = None
    cycle_tomorrow_minutes: int | None = None
    time_until_break_minutes: int | None = None
    cycle_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cycle_violation_minutes: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    shift_driving_violation_minutes: int = Field(
        default=0, sa_column_kwargs={"server_default": "0"}
    )
    as_of: datetime = Field(sa_type=UTCDateTime)

    driver: Driver | None = Relationship()

    @classmethod
    def for_driver(cls, session: Session, driver_id: int) -> "HosClock | None":
        return session.scalars(select(cls).where(cls.driver_id == driver_id)).first()


class HosLog(SQLModel, table=True):
    __tablename__ = "hos_log"
    __table_args__ = (UniqueConstraint("driver_id", "start_at", name="uq_hos_log_driver_start"),)

    id: int | None = Field(default=None, primary_key=True)
    driver_id: int = Field(foreign_key="driver.id", ondelete="CASCADE")
    vehicle_id: int | None = Field(default=None, foreign_key="vehicle.id")
    duty_status: str = Field(sa_type=String(30))
    start_at: datetime = Field(sa_type=UTCDateTime)
    end_at: datetime | None = Field(default=None, sa_type=UTCDateTime, description="None: ongoing")
    latitude: float | None = None
    longitude: float | None = None
    remark: str | None = Field(default=None, max_length=500)
    # Refreshed by ingest when a segment changes (it closes, a remark is added): export watermark.
    updated_at: datetime = updated_at_field()


class HosViolation(SQLModel, table=True):
    __tablename__ = "hos_violation"
    __table_args__ = (
        UniqueConstraint(
            "driver_id", "violation_type", "started_at", name="uq_hos_violation_driver_type_start"
        ),
        Index("ix_hos_violation_started_at", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    driver_id: int = Field(foreign_key="driver.id", ondelete="CASCADE")
    violation_type: str = Field(max_length=80, description="Samsara `type`, e.g. shiftHours")
    description: str | None = Field(default=None, max_length=300)
    started_at: datetime = Field(sa_type=UTCDateTime)
    duration_minutes: int | None = None
    day_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    day_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = updated_at_field()

    driver: Driver | None = Relationship()

    @classmethod
    def recent_for_driver(
        cls, session: Session, driver_id: int, *, since: datetime, limit: int = 20
    ) -> "list[HosViolation]":
        stmt = (
            select(cls)
            .where(cls.driver_id == driver_id, cls.started_at >= since)
            .order_by(cls.started_at.desc())
            .limit(limit)
        )
        return list(session.scalars(stmt))


class HosClockPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    driver_id: int
    driver: DriverSummary | None = None
    vehicle_id: int | None
    duty_status: DutyStatus
    drive_remaining_minutes: int | None
    shift_remaining_minutes: int | None
    cycle_remaining_minutes: int | None
    cycle_tomorrow_minutes: int | None
    time_until_break_minutes: int | None
    cycle_started_at: datetime | None
    cycle_violation_minutes: int
    shift_driving_violation_minutes: int
    as_of: datetime


class HosLogPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    driver_id: int
    vehicle_id: int | None
    duty_status: DutyStatus
    start_at: datetime
    end_at: datetime | None
    latitude: float | None
    longitude: float | None
    remark: str | None


class HosViolationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    driver_id: int
    driver: DriverSummary | None = None
    violation_type: str
    description: str | None
    started_at: datetime
    duration_minutes: int | None
    day_start: datetime | None
    day_end: datetime | None


class ClockProjectionPublic(BaseModel):
    clock: str = PydanticField(description="drive, shift, break or cycle")
    minutes_left: float = PydanticField(description="now, after catching up since `as_of`")
    runs_out_at: datetime | None = PydanticField(
        description="when it runs out on the current plan (a rest starts); None: it lasts"
    )


class PlannedRestPublic(BaseModel):
    kind: str = PydanticField(description="break (30 min), reset (10 h) or restart (34 h)")
    clock: str
    start: datetime
    end: datetime


class StopProjectionPublic(BaseModel):
    stop_id: int
    sequence: int
    name: str | None
    appointment_start: datetime | None
    appointment_end: datetime | None
    eta_no_rest: datetime = PydanticField(
        description="driving and dwell alone, as if no clock ever ran out (the trip's physical "
        "`eta_next_stop` also inserts the drive clock's 10 h rests)"
    )
    eta_legal: datetime
    legal_late_minutes: int | None = PydanticField(
        description="> 0: the legal ETA is past the appointment window's end by this much"
    )


class HosProjectionPublic(BaseModel):
    """A driver's clocks now, when each runs out on the current trip, the rests the trip needs
    and the legal ETA per remaining stop (logic/trips/legal_eta.py)."""

    driver_id: int
    trip_id: int | None
    duty_status: DutyStatus
    as_of: datetime
    computed_at: datetime
    clocks: list[ClockProjectionPublic]
    rests: list[PlannedRestPublic]
    stops: list[StopProjectionPublic]
    binding_clock: str | None
    binds_at: datetime | None
    miles_left: float | None = PydanticField(
        default=None, description="to the last stop, on the route the legal ETA uses; None: unknown"
    )
    drive_minutes_left: float | None = PydanticField(
        default=None, description="`miles_left` at the average speed, rests and dwell excluded"
    )
