"""Share links of a trip (a customer's tracking page) and the public tracking view's schema.

Only the SHA-256 of a link's token is stored: the token is shown once, when the link is made,
and a leaked table cannot be turned back into working links.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column, String
from sqlmodel import Field, Session, SQLModel, select

from db.types import UTCDateTime
from models.columns import created_at_field


class TripShare(SQLModel, table=True):
    __tablename__ = "trip_share"

    id: int | None = Field(default=None, primary_key=True)
    trip_id: int = Field(foreign_key="trip.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @classmethod
    def by_token_hash(cls, session: Session, token_hash: str) -> TripShare | None:
        return session.exec(select(cls).where(cls.token_hash == token_hash)).first()

    @classmethod
    def for_trip(cls, session: Session, trip_id: int) -> list[TripShare]:
        return list(
            session.exec(select(cls).where(cls.trip_id == trip_id).order_by(cls.id.desc()))  # type: ignore[union-attr]
        )


class TripSharePublic(BaseModel):
    """A link as listed: never its token."""

    id: int
    trip_id: int
    created_by: int | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    active: bool


class TripShareCreated(BaseModel):
    """A new link: the only answer that ever carries the token."""

    id: int
    url: str
    token: str
    expires_at: datetime


class TrackStop(BaseModel):
    sequence: int
    stop_type: str
    name: str | None
    city: str | None
    state: str | None
    window_start: datetime | None
    window_end: datetime | None
    status: str  # upcoming, arrived, held, departed, skipped
    eta: datetime | None
    eta_basis: str | None
    timezone: str  # the facility's IANA zone: the page shows its window and ETA there


class TrackPosition(BaseModel):
    city: str
    state: str | None


class TrackView(BaseModel):
    """What a customer may see of a load: no driver, no HOS detail, no exact position."""

    load_number: str | None
    status: str
    stops: list[TrackStop]
    position: TrackPosition | None
    last_update: datetime | None
    expires_at: datetime
    timezone: str  # the destination's zone, for the times that belong to no stop
