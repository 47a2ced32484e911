"""Do-not-call entries: a driver or a number that must not be dialed, optionally until a time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlmodel import Field, Session, SQLModel

from db.types import UTCDateTime
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
