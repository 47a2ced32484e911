"""Login sessions (`UserSession`), rotated refresh-token hashes and DB-backed rate-limit buckets.

Only hashes of refresh tokens are stored. A session's current hash lives on the session row;
hashes it rotated away from move to `RotatedRefreshToken` so presenting one again is detected.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String, and_, select
from sqlmodel import Field, Session, SQLModel

from db.types import UTCDateTime
from helpers.time_utils import utc_now
from models.user import User


class UserSession(SQLModel, table=True):
    __tablename__ = "user_session"

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    refresh_token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    rotation_count: int = 0
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    ip_address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_reason: str | None = Field(default=None, max_length=64)

    def is_active_at(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now

    @classmethod
    def get_with_user(
        cls, session: Session, session_id: str, user_id: int
    ) -> tuple[UserSession, User] | None:
        """The session and its user in one indexed round trip (the per-request token check)."""
        row = session.execute(
            select(cls, User)
            .join(User, User.id == cls.user_id)
            .where(cls.id == session_id, cls.user_id == user_id)
        ).first()
        return (row[0], row[1]) if row else None

    @classmethod
    def get_by_refresh_hash(
        cls, session: Session, token_hash: str, *, for_update: bool = False
    ) -> UserSession | None:
        query = select(cls).where(cls.refresh_token_hash == token_hash)
        if for_update:
            query = query.with_for_update()
        return session.scalars(query).first()

    @classmethod
    def active_for_user(cls, session: Session, user_id: int, now: datetime) -> list[UserSession]:
        query = select(cls).where(
            and_(cls.user_id == user_id, cls.revoked_at.is_(None), cls.expires_at > now)
        )
        return list(session.scalars(query))


class RotatedRefreshToken(SQLModel, table=True):
    """A refresh-token hash that was already exchanged; seeing it again means theft or replay."""

    __tablename__ = "rotated_refresh_token"

    token_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    session_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("user_session.id", ondelete="CASCADE"), nullable=False
        )
    )
    rotated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)

    @classmethod
    def get(cls, session: Session, token_hash: str) -> RotatedRefreshToken | None:
        return session.get(cls, token_hash)


class RateLimitBucket(SQLModel, table=True):
    """Fixed-window counters shared by every instance (the limit holds behind a load balancer)."""

    __tablename__ = "rate_limit_bucket"

    key: str = Field(sa_column=Column(String(128), primary_key=True))
    window_start: datetime = Field(sa_type=UTCDateTime, primary_key=True, index=True)
    count: int = 0


class UserSessionPublic(SQLModel):
    id: str
    user_id: int
    username: str | None = None
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime
    ip_address: str | None
    user_agent: str | None
    revoked_at: datetime | None
    revoked_reason: str | None
    active: bool


class UserSessionsPage(SQLModel):
    items: list[UserSessionPublic]
    total: int
    limit: int
    offset: int
