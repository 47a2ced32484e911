"""Agent profiles: which provider assistant/agent and caller-id number place which kind of call.

Nothing about an agent is hard-coded: admins create profiles (the local run seeds sandbox ones)
and placement picks the enabled profile for a provider and purpose.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint, select
from sqlmodel import Field, Session, SQLModel

from models.columns import created_at_field, updated_at_field


class CallAgentProfile(SQLModel, table=True):
    __tablename__ = "call_agent_profile"
    __table_args__ = (UniqueConstraint("name", name="uq_call_agent_profile_name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    provider: str = Field(max_length=20, index=True)
    purpose: str = Field(max_length=32)
    # VAPI assistantId or ElevenLabs agent_id.
    assistant_id: str = Field(max_length=120)
    # VAPI phoneNumberId or ElevenLabs agent_phone_number_id (the caller id).
    phone_number_id: str = Field(max_length=120)
    prompt_version: str = Field(default="v1", max_length=40)
    first_message: str | None = Field(default=None, max_length=1000)
    voice: str | None = Field(default=None, max_length=120)
    max_duration_seconds: int = 600
    enabled: bool = True
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    @classmethod
    def pick(cls, session: Session, provider: str, purpose: str) -> CallAgentProfile | None:
        """The enabled profile for `provider` and `purpose`, else that provider's `custom` one."""
        query = (
            select(cls)
            .where(cls.provider == provider, cls.enabled.is_(True))
            .where(cls.purpose.in_([purpose, "custom"]))
            .order_by((cls.purpose == purpose).desc(), cls.id)
            .limit(1)
        )
        return session.scalars(query).first()
