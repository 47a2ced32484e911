"""The audit trail: one append-only row per auth event and per admin mutation.

The actor's username is copied onto the row so the trail still reads after a user is deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, String
from sqlmodel import Field, SQLModel

from db.types import JSONType, UTCDateTime
from helpers.time_utils import utc_now


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_occurred_at", "occurred_at"),
        Index("ix_audit_log_actor_time", "actor_user_id", "occurred_at"),
        Index("ix_audit_log_action_time", "action", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    actor_user_id: int | None = None
    actor_username: str | None = Field(default=None, max_length=254)
    action: str = Field(sa_column=Column(String(64), nullable=False))
    resource_type: str | None = Field(default=None, max_length=64)
    resource_id: str | None = Field(default=None, max_length=128)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    ip_address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)


class AuditLogPublic(SQLModel):
    id: int
    occurred_at: datetime
    actor_user_id: int | None
    actor_username: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    details: dict[str, Any]
    ip_address: str | None
    user_agent: str | None


class AuditLogPage(SQLModel):
    items: list[AuditLogPublic]
    total: int
    limit: int
    offset: int
