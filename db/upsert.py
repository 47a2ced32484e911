"""Dialect-aware batched upsert (`INSERT … ON CONFLICT DO UPDATE`) for ingest-sized writes.

On PostgreSQL, large batches are streamed with COPY into a temporary staging table and merged
with one `INSERT … SELECT … ON CONFLICT`; small ones use psycopg2's `execute_values`. Both are
genuinely batched (SQLAlchemy's executemany of an `on_conflict_do_update` is not, on psycopg2).
Rows whose values did not change are left alone, so re-ingesting unchanged data writes nothing.
"""

from __future__ import annotations

import enum
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg2.extras import Json, execute_values
from sqlalchemy import Table, select, tuple_
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel

COPY_THRESHOLD = 2_000


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


def bulk_upsert(
    session: Session,
    model: type[SQLModel] | Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict_columns: Sequence[str],
    update_columns: Sequence[str] | None = None,
    batch_size: int = 5_000,
) -> UpsertResult:
    """Insert `rows`, updating the existing row on a `conflict_columns` clash.

    Every row must have the same keys. `update_columns` defaults to every given column that is
    not part of the conflict key. Runs inside the caller's transaction (flushes, never commits).
    """
    result = UpsertResult()
    if not rows:
        return result
    table: Table = model if isinstance(model, Table) else model.__table__  # type: ignore[attr-defined]
    columns = list(rows[0].keys())
    missing = [c for c in [*columns, *conflict_columns] if c not in table.c]
    if missing:
        raise ValueError(f"{table.name} has no column(s) {missing}")
    if update_columns is None:
        update_columns = [c for c in columns if c not in conflict_columns]
    session.flush()
    dialect = session.get_bind().dialect.name
    unique_rows = _dedupe_last(rows, conflict_columns)
    for start in range(0, len(unique_rows), batch_size):
        batch = unique_rows[start : start + batch_size]
        if dialect == "postgresql":
            result += _pg_upsert(session, table, batch, columns, conflict_columns, update_columns)
        else:
            result += _sqlite_upsert(
                session, table, batch, columns, conflict_columns, update_columns
            )
    return result


def _merge_sql(
    table: Table,
    columns: Sequence[str],
    conflict_columns: Sequence[str],
    update_columns: Sequence[str],
    source: str,
) -> str:
    target = _qualified(table)
    cols = ", ".join(f'"{c}"' for c in columns)
    keys = ", ".join(f'"{c}"' for c in conflict_columns)
    if update_columns:
        sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in update_columns)
        changed = " OR ".join(f't."{c}" IS DISTINCT FROM EXCLUDED."{c}"' for c in update_columns)
        action = f"DO UPDATE SET {sets} WHERE {changed}"
    else:
        action = "DO NOTHING"
    return (
        f"INSERT INTO {target} AS t ({cols}) {source} "
        f"ON CONFLICT ({keys}) {action} RETURNING (xmax = 0) AS inserted"
    )


def _pg_upsert(
    session: Session,
    table: Table,
    batch: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    conflict_columns: Sequence[str],
    update_columns: Sequence[str],
) -> UpsertResult:
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cursor:
        if len(batch) >= COPY_THRESHOLD:
            flags = _pg_copy_merge(cursor, table, batch, columns, conflict_columns, update_columns)
        else:
            sql = _merge_sql(table, columns, conflict_columns, update_columns, "VALUES %s")
            values = [tuple(_pg_param(row[c]) for c in columns) for row in batch]
            flags = execute_values(cursor, sql, values, page_size=len(values), fetch=True)
    inserted = sum(1 for (was_insert,) in flags if was_insert)
    updated = len(flags) - inserted
    return UpsertResult(inserted, updated, len(batch) - inserted - updated)


def _pg_copy_merge(
    cursor: Any,
    table: Table,
    batch: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    conflict_columns: Sequence[str],
    update_columns: Sequence[str],
) -> list[tuple[bool]]:
    cols = ", ".join(f'"{c}"' for c in columns)
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS _upsert_stage_{table.name} "
        f"ON COMMIT DROP AS SELECT {cols} FROM {_qualified(table)} WITH NO DATA"
    )
    stage = f"_upsert_stage_{table.name}"
    cursor.execute(f"TRUNCATE {stage}")
    buffer = io.StringIO()
    for row in batch:
        buffer.write("\t".join(_copy_text(row[c]) for c in columns))
        buffer.write("\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {stage} ({cols}) FROM STDIN", buffer)
    source = f"SELECT {cols} FROM {stage}"
    cursor.execute(_merge_sql(table, columns, conflict_columns, update_columns, source))
    return cursor.fetchall()


def _sqlite_upsert(
    session: Session,
    table: Table,
    batch: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    conflict_columns: Sequence[str],
    update_columns: Sequence[str],
) -> UpsertResult:
    key_cols = [table.c[c] for c in conflict_columns]
    keys = {tuple(row[c] for c in conflict_columns) for row in batch}
    existing: set[tuple[Any, ...]] = set()
    key_list = list(keys)
    for start in range(0, len(key_list), 400):  # SQLite caps bound parameters per statement
        chunk = key_list[start : start + 400]
        found = session.execute(select(*key_cols).where(tuple_(*key_cols).in_(chunk)))
        existing.update(tuple(r) for r in found)
    stmt = sqlite_insert(table)
    if update_columns:
        changed = None
        for c in update_columns:
            clause = table.c[c].is_distinct_from(stmt.excluded[c])
            changed = clause if changed is None else changed | clause
        stmt = stmt.on_conflict_do_update(
            index_elements=list(conflict_columns),
            set_={c: stmt.excluded[c] for c in update_columns},
            where=changed,
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict_columns))
    written = session.execute(stmt, [dict(row) for row in batch])
    inserted = len(keys - existing)
    updated = max(written.rowcount - inserted, 0)
    return UpsertResult(inserted, updated, len(batch) - inserted - updated)


def _dedupe_last(
    rows: Iterable[Mapping[str, Any]], conflict_columns: Sequence[str]
) -> list[Mapping[str, Any]]:
    """Keep the last row per key: one statement may not touch the same row twice."""
    latest: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for row in rows:
        latest[tuple(row[c] for c in conflict_columns)] = row
    return list(latest.values())


def _qualified(table: Table) -> str:
    return f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'


def _pg_param(value: Any) -> Any:
    if isinstance(value, dict | list):
        return Json(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        value = value.value
    elif isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"))
    return str(value).translate(_COPY_ESCAPES)
