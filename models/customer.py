"""Customers (the shipper or broker of a load, from Ditat's trip customer) and the people at each
who get notices about their loads, with their API schemas.

A customer is identified by its normalised name (`customer_key`: spaces collapsed, case folded),
so "ACME Foods " and "Acme  Foods" on two Ditat loads are one customer; `name` keeps the
spelling first seen, which people may correct. Ditat carries no contacts, so contacts are
entered by people (admin routes) and never touched by ingest.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as PField
from sqlalchemy import Column, String, UniqueConstraint, select
from sqlmodel import Field, Session, SQLModel

from db.types import JSONType
from models.api_fields import EmailAddress, NotNull
from models.columns import created_at_field, updated_at_field


class NoticeKind(StrEnum):
    """What a customer contact may be told about a load."""

    ETA = "eta"  # the ETA moved past the window, or by more than the set minutes
    ARRIVED = "arrived"
    DEPARTED = "departed"
    DETENTION = "detention"  # held past free time: the billable clock started
    DELIVERED = "delivered"


ALL_NOTICES = [kind.value for kind in NoticeKind]


def customer_key(name: str | None) -> str | None:
    """The identity of a customer name: inner spaces collapsed, case folded; None when blank."""
    collapsed = " ".join((name or "").split())
    return collapsed.casefold()[:200] or None


def customer_name(name: str | None) -> str | None:
    """A name as shown: inner spaces collapsed; None when blank."""
    return " ".join((name or "").split())[:200] or None


class Customer(SQLModel, table=True):
    __tablename__ = "customer"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    @classmethod
    def by_key(cls, session: Session, key: str) -> Customer | None:
        return session.scalars(select(cls).where(cls.key == key)).first()

    @classmethod
    def ids_by_key(cls, session: Session, keys: list[str]) -> dict[str, int]:
        if not keys:
            return {}
        return dict(session.execute(select(cls.key, cls.id).where(cls.key.in_(keys))).all())


class CustomerContact(SQLModel, table=True):
    __tablename__ = "customer_contact"
    __table_args__ = (UniqueConstraint("customer_id", "email", name="uq_customer_contact_email"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    # The NoticeKind values this person wants; empty means none (kept, but told nothing).
    notices: list[str] = Field(default_factory=list, sa_type=JSONType)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


def _known_notices(values: list[NoticeKind]) -> list[NoticeKind]:
    """Each kind once, in the documented order (so a stored list compares as a set would)."""
    return sorted(set(values), key=ALL_NOTICES.index)


class CustomerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    key: str
    created_at: datetime
    updated_at: datetime


def _shown_name(value: str | None) -> str | None:
    if value is not None and customer_name(value) is None:
        raise ValueError("a customer needs a name")
    return customer_name(value) or value


class CustomerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = PField(min_length=1, max_length=200)

    _name = field_validator("name")(_shown_name)


class CustomerUpdate(BaseModel):
    """Rename a customer (a correction of Ditat's spelling; the key follows the name)."""

    model_config = ConfigDict(extra="forbid")

    name: NotNull[str] = PField(default=None, min_length=1, max_length=200)

    _name = field_validator("name")(_shown_name)


class CustomerContactPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    name: str
    email: str
    notices: list[NoticeKind]
    created_at: datetime
    updated_at: datetime


class CustomerContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = PField(min_length=1, max_length=200)
    email: EmailAddress
    notices: list[NoticeKind] = PField(
        default_factory=lambda: list(NoticeKind),
        description="which notices this person wants (default: all)",
    )

    @field_validator("notices")
    @classmethod
    def _notices(cls, values: list[NoticeKind]) -> list[NoticeKind]:
        return _known_notices(values)


class CustomerContactUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NotNull[str] = PField(default=None, min_length=1, max_length=200)
    email: NotNull[EmailAddress] = None
    notices: NotNull[list[NoticeKind]] = None

    @field_validator("notices")
    @classmethod
    def _notices(cls, values: list[NoticeKind] | None) -> list[NoticeKind] | None:
        return None if values is None else _known_notices(values)
