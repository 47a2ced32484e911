"""Do-not-call entries: a driver or a number that must not be dialed, optionally until a time."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PField
from sqlalchemy import or_, select
from sqlmodel import Field, Session, SQLModel

from db.types import UTCDateTime
from helpers.phone import InvalidPhoneNumber, to_e164
from models.api_fields import ApiDateTime, NotNull
from models.columns import created_at_field


class DoNotCall(SQLModel, table=True):
    __tablename__ = "do_not_call"

    id: int | None = Field(default=None, primary_key=True)
    driver_id: int | None = Field(
        default=None, foreign_key="driver.id", index=True, ondelete="CASCADE"
    )
    phone_number: str | None = Field(default=None, max_length=20, index=True, description="E.164")
    reason: str = Field(max_length=500)
    added_by_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()

    @classmethod
    def blocking(
        cls, session: Session, *, driver_ids: list[int], numbers: list[str], now: datetime
    ) -> list[DoNotCall]:
        """Entries in force at `now` for any of the drivers or numbers: one query."""
        if not driver_ids and not numbers:
            return []
        query = select(cls).where(
            or_(cls.driver_id.in_(driver_ids), cls.phone_number.in_(numbers)),
            or_(cls.until.is_(None), cls.until > now),
        )
        return list(session.scalars(query))


# ---- API schemas ---------------------------------------------------------------------------


class DoNotCallPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    driver_id: int | None
    phone_number: str | None
    reason: str
    added_by_id: int | None
    until: datetime | None
    created_at: datetime


class DoNotCallCreate(BaseModel):
    """A driver, a number (any common format; stored as E.164), or both."""

    model_config = ConfigDict(extra="forbid")

    driver_id: int | None = None
    phone_number: str | None = PField(default=None, max_length=40)
    reason: str = PField(min_length=1, max_length=500)
    until: ApiDateTime | None = None

    @model_validator(mode="after")
    def _needs_a_target(self) -> DoNotCallCreate:
        if self.driver_id is None and not self.phone_number:
            raise ValueError("give driver_id or phone_number")
        if self.phone_number:
            try:
                self.phone_number = to_e164(self.phone_number)
            except InvalidPhoneNumber as exc:
                raise ValueError(str(exc)) from None
        return self


class DoNotCallUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: NotNull[str] = PField(default=None, min_length=1, max_length=500)
    until: ApiDateTime | None = None


class DoNotCallPage(BaseModel):
    items: list[DoNotCallPublic]
    total: int
    limit: int
    offset: int
