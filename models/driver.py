"""Drivers (merged from Samsara and Ditat) and their API schemas.

Ownership: vendor columns (`VENDOR_FIELDS`) are written by ingest only and are read-only through
the API. People edit `EDITABLE_FIELDS`; ingest sets those on insert but must leave them out of
`update_columns` when upserting, so a dispatcher's correction survives the next ingest run.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from sqlalchemy import String, false, func, select
from sqlmodel import Field, Session, SQLModel

from helpers.phone import InvalidPhoneNumber, normalize_phone
from helpers.time_utils import is_valid_timezone
from models.api_fields import NotNull
from models.columns import created_at_field, updated_at_field

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")


class DriverStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class Driver(SQLModel, table=True):
    __tablename__ = "driver"

    VENDOR_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "samsara_id",
            "ditat_id",
            "first_name",
            "last_name",
            "username",
            "status",
            "terminal",
            "fleet_manager",
            "license_number",
            "license_state",
        }
    )
    EDITABLE_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"phone", "phone_extension", "email", "timezone", "language", "do_not_call", "notes"}
    )

    id: int | None = Field(default=None, primary_key=True)
    samsara_id: str | None = Field(default=None, max_length=64, unique=True)
    ditat_id: str | None = Field(default=None, max_length=64, unique=True)
    first_name: str = Field(default="", max_length=100, sa_column_kwargs={"server_default": ""})
    last_name: str = Field(default="", max_length=100, sa_column_kwargs={"server_default": ""})
    username: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=20, description="E.164")
    phone_extension: str | None = Field(default=None, max_length=10)
    email: str | None = Field(default=None, max_length=255)
    status: str = Field(
        default=DriverStatus.ACTIVE,
        sa_type=String(20),
        index=True,
        sa_column_kwargs={"server_default": DriverStatus.ACTIVE.value},
    )
    terminal: str | None = Field(default=None, max_length=100, index=True)
    fleet_manager: str | None = Field(default=None, max_length=100)
    license_number: str | None = Field(default=None, max_length=50)
    license_state: str | None = Field(default=None, max_length=10)
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone")
    language: str = Field(default="en", max_length=10, sa_column_kwargs={"server_default": "en"})
    do_not_call: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    notes: str | None = Field(default=None, max_length=4000)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @classmethod
    def get_by_samsara_id(cls, session: Session, samsara_id: str) -> Driver | None:
        return session.scalars(select(cls).where(cls.samsara_id == samsara_id)).first()

    @classmethod
    def get_by_ditat_id(cls, session: Session, ditat_id: str) -> Driver | None:
        return session.scalars(select(cls).where(cls.ditat_id == ditat_id)).first()

    @classmethod
    def find_by_phone(cls, session: Session, e164: str) -> Driver | None:
        return session.scalars(select(cls).where(cls.phone == e164).order_by(cls.id)).first()

    @classmethod
    def count_active(cls, session: Session) -> int:
        stmt = select(func.count()).select_from(cls).where(cls.status == DriverStatus.ACTIVE)
        return int(session.scalar(stmt) or 0)


class DriverSummary(BaseModel):
    """What a trip or an event embeds about its driver."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    first_name: str
    last_name: str
    full_name: str
    phone: str | None
    terminal: str | None


class DriverPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    samsara_id: str | None
    ditat_id: str | None
    first_name: str
    last_name: str
    full_name: str
    username: str | None
    phone: str | None
    phone_extension: str | None
    email: str | None
    status: DriverStatus
    terminal: str | None
    fleet_manager: str | None
    license_number: str | None
    license_state: str | None
    timezone: str | None
    language: str
    do_not_call: bool
    notes: str | None
    created_at: datetime
    updated_at: datetime


class DriverUpdate(BaseModel):
    """Fields people may change; vendor-owned fields are refused with a message naming them."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = None
    email: str | None = None
    timezone: str | None = None
    language: NotNull[str] = None
    do_not_call: NotNull[bool] = None
    notes: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_vendor_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            owned = sorted(set(data) & (Driver.VENDOR_FIELDS | {"id", "full_name"}))
            if owned:
                raise ValueError(
                    f"{', '.join(owned)} {'is' if len(owned) == 1 else 'are'} owned by the vendor "
                    "feeds (Samsara/Ditat) and read-only here; change it in the source system"
                )
        return data

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return value
        try:
            normalize_phone(value)
        except InvalidPhoneNumber as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return value
        value = value.strip()
        if len(value) > 255 or not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None and (value != value.strip() or not is_valid_timezone(value)):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. America/Chicago)")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and not _LANGUAGE.match(value):
            raise ValueError(f"{value!r} is not a language tag like 'en' or 'es-MX'")
        return value

    @field_validator("notes")
    @classmethod
    def _notes(cls, value: str | None) -> str | None:
        if value is not None and len(value) > 4000:
            raise ValueError("notes are limited to 4000 characters")
        return value
