"""Column definitions shared by several tables (no tables of its own).

Field factories rather than a mixin, so each table keeps its columns in their declared order.
"""

from typing import Any

from sqlalchemy.sql.functions import now
from sqlmodel import Field

from db.types import UTCDateTime
from helpers.time_utils import utc_now


def created_at_field() -> Any:
    """A `created_at` column: set on insert, by the app or by the database."""
    return Field(
        default_factory=utc_now, sa_type=UTCDateTime, sa_column_kwargs={"server_default": now()}
    )


def updated_at_field() -> Any:
    """An `updated_at` column: set on insert and refreshed by every ORM update."""
    return Field(
        default_factory=utc_now,
        sa_type=UTCDateTime,
        sa_column_kwargs={"onupdate": utc_now, "server_default": now()},
    )
