"""Shared list mechanics: allowlisted sorting, bounded limit/offset pages with a total, search.

A list costs a fixed number of statements: one COUNT, one page SELECT (many-to-one relations
joined in), plus one per eager `selectinload` — never one per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Row, ScalarSelect, Select, func, or_, select
from sqlmodel import Session

from helpers.errors import Unprocessable
from helpers.time_utils import make_timezone_aware
from models.driver import Driver

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    sort: str | None = None  # "field" ascending, "-field" descending


def order_by_clause(
    sort: str | None,
    allowed: Mapping[str, ColumnElement[Any]],
    *,
    default: str,
    tie_breaker: ColumnElement[Any],
) -> list[ColumnElement[Any]]:
    """ORDER BY for `sort` from an allowlist; NULLs last both ways on both databases.

    The primary-key tie-breaker keeps pages stable when many rows share the sort value.
    """
    key = (sort or default).strip()
    descending = key.startswith("-")
    name = key.lstrip("-+")
    if name not in allowed:
        choices = ", ".join(sorted(allowed))
        raise Unprocessable(
            f"cannot sort by {name!r}; sort by one of: {choices} (prefix '-' for descending)",
            loc=("query", "sort"),
            input=sort,
        )
    column = allowed[name]
    ordered = column.desc() if descending else column.asc()
    return [ordered.nulls_last(), tie_breaker.desc() if descending else tie_breaker.asc()]


def driver_name_key(driver_id: ColumnElement[Any]) -> ScalarSelect[Any]:
    """Sort key for a row holding `driver_id`: the driver's full name as the console lists it,
    case-insensitive; NULL (so last) without a driver.

    A correlated subquery (one index probe per row) rather than a join, so a list's key-first
    page pick (`fetch_row_page`) and its COUNT need no join.
    """
    return (
        select(func.lower(Driver.first_name + " " + Driver.last_name))
        .where(Driver.id == driver_id)
        .correlate_except(Driver)
        .scalar_subquery()
    )


def fetch_page(
    session: Session,
    stmt: Select[Any],
    page: PageRequest,
    order: Sequence[ColumnElement[Any]],
) -> tuple[list[Any], int]:
    """Rows of one page (entities, de-duplicated) and the total matching `stmt`'s filters."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.scalars(stmt.order_by(*order).limit(page.limit).offset(page.offset))
    return list(rows.unique()), int(total or 0)


def fetch_row_page(
    session: Session,
    stmt: Select[Any],
    filtered: Select[Any],
    key: ColumnElement[Any],
    page: PageRequest,
    order: Sequence[ColumnElement[Any]],
) -> tuple[list[Row[Any]], int]:
    """`fetch_page` for column selects: plain rows of one page, and the total matching.

    For hot lists that need a few columns of several tables: rows skip the ORM's identity map
    and instance building. `filtered` selects only `key` (the primary key) with the list's
    filters; the page's keys are picked from it first (ORDER BY / LIMIT / OFFSET over one
    table), then `stmt` (the columns and joins) is read for those keys only, so a deep page
    does not join every row it skips.
    """
    total = session.scalar(select(func.count()).select_from(filtered.order_by(None).subquery()))
    keys = filtered.order_by(*order).limit(page.limit).offset(page.offset).subquery("page_keys")
    (page_key,) = keys.c
    rows = session.execute(stmt.join(keys, page_key == key).order_by(*order))
    return list(rows.all()), int(total or 0)


def text_search(q: str | None, *columns: Any) -> ColumnElement[bool] | None:
    """Case-insensitive substring match of `q` on any of `columns` (LIKE wildcards escaped)."""
    if q is None or not q.strip():
        return None
    escaped = q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))


def check_range(
    start: datetime | None,
    end: datetime | None,
    *,
    what: str,
    loc: tuple[str, ...],
) -> None:
    """Refuse a range whose start is after its end; `loc` names the parameter blamed (the end)."""
    if start is not None and end is not None and start > end:
        raise Unprocessable(
            f"{what}: start ({start.isoformat()}) is after end ({end.isoformat()})",
            loc=loc,
            input=end.isoformat(),
        )


def as_utc(value: datetime | None) -> datetime | None:
    """Query-string datetimes without an offset are taken as UTC (the API's documented zone)."""
    return None if value is None else make_timezone_aware(value)
