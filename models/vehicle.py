"""Trucks (`Vehicle`) and trailers, merged from Samsara and Ditat, and their API schemas.

Every column here is vendor-owned (ingest upserts keyed on `samsara_id` or `ditat_id`); the API
only reads them. A truck's latest position lives in `VehicleLocation` (see models/location.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict
from sqlalchemy import String, select
from sqlmodel import Field, Session, SQLModel

from models.columns import created_at_field, updated_at_field


class UnitStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    OUT_OF_SERVICE = "out_of_service"


class UnitColumns(SQLModel):
    """Columns a truck and a trailer share: vendor ids, identity, registration, status."""

    id: int | None = Field(default=None, primary_key=True)
    samsara_id: str | None = Field(default=None, max_length=64, unique=True)
    ditat_id: str | None = Field(default=None, max_length=64, unique=True)
    unit_number: str = Field(max_length=50, index=True)
    vin: str | None = Field(default=None, max_length=17)
    make: str | None = Field(default=None, max_length=50)
    model: str | None = Field(default=None, max_length=50)
    year: int | None = None
    license_plate: str | None = Field(default=None, max_length=20)
    status: str = Field(
        default=UnitStatus.ACTIVE,
        sa_type=String(20),
        index=True,
        sa_column_kwargs={"server_default": UnitStatus.ACTIVE.value},
    )
    terminal: str | None = Field(default=None, max_length=100, index=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    @classmethod
    def get_by_ditat_id(cls, session: Session, ditat_id: str) -> Self | None:
        return session.scalars(select(cls).where(cls.ditat_id == ditat_id)).first()


class Vehicle(UnitColumns, table=True):
    __tablename__ = "vehicle"

    name: str | None = Field(default=None, max_length=100)
    # Trucks are looked up by VIN when matching vendors; trailers are not.
    vin: str | None = Field(default=None, max_length=17, index=True)

    @classmethod
    def get_by_samsara_id(cls, session: Session, samsara_id: str) -> Vehicle | None:
        return session.scalars(select(cls).where(cls.samsara_id == samsara_id)).first()

    @classmethod
    def get_by_unit_number(cls, session: Session, unit_number: str) -> Vehicle | None:
        return session.scalars(
            select(cls).where(cls.unit_number == unit_number).order_by(cls.id)
        ).first()


class Trailer(UnitColumns, table=True):
    __tablename__ = "trailer"

    trailer_type: str | None = Field(default=None, max_length=50)


class VehicleSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_number: str
    name: str | None
    samsara_id: str | None


class VehiclePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    samsara_id: str | None
    ditat_id: str | None
    unit_number: str
    name: str | None
    vin: str | None
    make: str | None
    model: str | None
    year: int | None
    license_plate: str | None
    status: UnitStatus
    terminal: str | None
    created_at: datetime
    updated_at: datetime


class TrailerSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_number: str
    trailer_type: str | None


class TrailerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    samsara_id: str | None
    ditat_id: str | None
    unit_number: str
    trailer_type: str | None
    vin: str | None
    make: str | None
    model: str | None
    year: int | None
    license_plate: str | None
    status: UnitStatus
    terminal: str | None
    created_at: datetime
    updated_at: datetime
