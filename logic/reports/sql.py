"""Dialect-neutral SQL pieces the report queries share: local-day windows and time arithmetic.

A local day is turned into a UTC window in Python (zoneinfo knows every DST rule), once per
distinct time zone, and handed to SQL as a small CTE; every fact is then filtered by plain UTC
comparisons that use the tables' indexes on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Float, cast, func, literal, select, union_all
from sqlalchemy.sql.selectable import CTE

from db.types import UTCDateTime
from helpers.time_utils import is_valid_timezone


def local_day_window(day: date, zone: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of `day` in `zone`: 23 or 25 hours long on a DST change."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def zone_windows_cte(
    day: date, zones: list[str], *, default: str, name: str = "zone_window"
) -> CTE:
    """A CTE (zone, start_at, end_at) with one row per zone name; a name zoneinfo does not
    know gets `default`'s window (under its own name, so the rows joined on it still match)."""
    rows = []
    for zone in sorted(set(zones)) or [default]:
        start, end = local_day_window(day, zone if is_valid_timezone(zone) else default)
        rows.append(
            select(
                literal(zone).label("zone"),
                literal(start, UTCDateTime()).label("start_at"),
                literal(end, UTCDateTime()).label("end_at"),
            )
        )
    return (rows[0] if len(rows) == 1 else union_all(*rows)).cte(name)


def minutes_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[float]:
    """`later - earlier` in minutes (fractional)."""
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier) / 60.0
    return (func.julianday(later) - func.julianday(earlier)) * 1440.0


def greatest(dialect: str, *values: Any) -> ColumnElement[Any]:
    return func.greatest(*values) if dialect == "postgresql" else func.max(*values)


def least(dialect: str, *values: Any) -> ColumnElement[Any]:
    return func.least(*values) if dialect == "postgresql" else func.min(*values)


def as_float(value: Any) -> ColumnElement[float]:
    return cast(value, Float)


def json_array_elements(dialect: str, column: Any) -> Any:
    """A table-valued function with one `value` row per element of a JSON array column."""
    if dialect == "postgresql":
        return func.jsonb_array_elements_text(column).table_valued("value")
    return func.json_each(column).table_valued("value")


def json_object_items(dialect: str, column: Any) -> Any:
    """A table-valued function with one (`key`, `value`) row per member of a JSON object."""
    if dialect == "postgresql":
        return func.jsonb_each_text(column).table_valued("key", "value")
    return func.json_each(column).table_valued("key", "value")
