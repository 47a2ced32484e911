"""Agent profiles: which provider assistant/agent and caller-id number place which kind of call.

Nothing about an agent is hard-coded: admins create profiles (the local run seeds sandbox ones)
and placement picks the enabled profile for a provider and purpose.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import UniqueConstraint, false, select
from sqlmodel import Field, Session, SQLModel

from models.api_fields import NotNull
from models.call import CallPurpose, ProviderName
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
    # Allows calls to a driving driver (hands-free only: 49 CFR 392.82), whatever
    # CALL_HANDS_FREE_ALLOWED says.
    hands_free_allowed: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The language the agent speaks (primary subtag): a driver's `language` picks the profile.
    language: str = Field(default="en", max_length=10, sa_column_kwargs={"server_default": "en"})
    max_duration_seconds: int = 600
    enabled: bool = True
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    @classmethod
    def pick(
        cls, session: Session, provider: str, purpose: str, language: str = "en"
    ) -> CallAgentProfile | None:
        """The enabled profile for `provider` and `purpose`, else that provider's `custom` one;
        one speaking `language` first (`es` for `es-MX`), else an English one."""
        spoken = (language or "en").split("-")[0].lower()
        query = (
            select(cls)
            .where(cls.provider == provider, cls.enabled.is_(True))
            .where(cls.purpose.in_([purpose, "custom"]))
            .where(cls.language.in_(sorted({spoken, "en"})))
            .order_by((cls.language == spoken).desc(), (cls.purpose == purpose).desc(), cls.id)
            .limit(1)
        )
        return session.scalars(query).first()


# ---- API schemas ---------------------------------------------------------------------------


class CallAgentProfilePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    provider: str
    purpose: CallPurpose
    assistant_id: str
    phone_number_id: str
    prompt_version: str
    first_message: str | None
    voice: str | None
    max_duration_seconds: int
    enabled: bool
    hands_free_allowed: bool
    language: str
    created_at: datetime
    updated_at: datetime


class CallAgentProfileCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = PField(min_length=1, max_length=120)
    provider: ProviderName
    purpose: CallPurpose
    assistant_id: str = PField(min_length=1, max_length=120)
    phone_number_id: str = PField(min_length=1, max_length=120)
    prompt_version: str = PField(default="v1", min_length=1, max_length=40)
    first_message: str | None = PField(default=None, max_length=1000)
    voice: str | None = PField(default=None, max_length=120)
    max_duration_seconds: int = PField(default=600, ge=30, le=3600)
    enabled: bool = True
    hands_free_allowed: bool = False
    language: str = PField(default="en", pattern=r"^[a-z]{2,3}$", description="e.g. en, es")


class CallAgentProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NotNull[str] = PField(default=None, min_length=1, max_length=120)
    purpose: NotNull[CallPurpose] = None
    assistant_id: NotNull[str] = PField(default=None, min_length=1, max_length=120)
    phone_number_id: NotNull[str] = PField(default=None, min_length=1, max_length=120)
    prompt_version: NotNull[str] = PField(default=None, min_length=1, max_length=40)
    first_message: str | None = PField(default=None, max_length=1000)
    voice: str | None = PField(default=None, max_length=120)
    max_duration_seconds: NotNull[int] = PField(default=None, ge=30, le=3600)
    enabled: NotNull[bool] = None
    hands_free_allowed: NotNull[bool] = None
    language: NotNull[str] = PField(default=None, pattern=r"^[a-z]{2,3}$")


class CallAgentProfilesPage(BaseModel):
    items: list[CallAgentProfilePublic]
    total: int
    limit: int
    offset: int
