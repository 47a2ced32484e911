"""A table used only by the foundation tests (UTC round trip, bulk upsert)."""

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from db.types import JSONType, UTCDateTime


class UpsertProbe(SQLModel, table=True):
    __tablename__ = "test_upsert_probe"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(unique=True)
    name: str
    seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    details: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    active: bool = True
