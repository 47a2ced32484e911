"""Dialect-aware batched upsert (`INSERT … ON CONFLICT DO UPDATE`) for ingest-sized writes.

On PostgreSQL, large batches are streamed with COPY into a temporary staging table and merged
with one `INSERT … SELECT … ON CONFLICT`; small ones use psycopg2's `execute_values`. Both are
genuinely batched (SQLAlchemy's executemany of an `on_conflict_do_update` is not, on psycopg2).
Rows whose values did not change are left alone, so re-ingesting unchanged data writes nothing.
`insert_new` is the cheaper insert-only variant for immutable facts (GPS points): existing keys
are never touched, and rows may be rendered to COPY text ahead of time, off the writing thread.
"""

from __future__ import annotations

import enum
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
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
    touch_columns: Sequence[str] = (),
) -> UpsertResult:
    """Insert `rows`, updating the existing row on a `conflict_columns` clash.

    Every row must have the same keys. `update_columns` defaults to every given column that is
    not part of the conflict key. `touch_columns` (e.g. `updated_at`) are written on update only
    when an update column changed and never count as a change themselves, so re-ingesting
    unchanged data stays a no-op. Runs inside the caller's transaction (flushes, never commits).
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
        update_columns = [
            c for c in columns if c not in conflict_columns and c not in touch_columns
        ]
    # Internally a touch column is an update column that the change test leaves out.
    compare_columns = list(update_columns)
    update_columns = [*update_columns, *(c for c in touch_columns if c not in update_columns)]
    session.flush()
    dialect = session.get_bind().dialect.name
    unique_rows = _dedupe_last(rows, conflict_columns)
    for start in range(0, len(unique_rows), batch_size):
        batch = unique_rows[start : start + batch_size]
        if dialect == "postgresql":
            result += _pg_upsert(
                session, table, batch, columns, conflict_columns, update_columns, compare_columns
            )
        else:
            result += _sqlite_upsert(
                session, table, batch, columns, conflict_columns, update_columns, compare_columns
            )
    return result


def _merge_sql(
    table: Table,
    columns: Sequence[str],
    conflict_columns: Sequence[str],
    update_columns: Sequence[str],
    source: str,
    compare_columns: Sequence[str] | None = None,
) -> str:
    target = _qualified(table)
    cols = ", ".join(f'"{c}"' for c in columns)
    keys = ", ".join(f'"{c}"' for c in conflict_columns)
    if update_columns:
        sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in update_columns)
        compare = update_columns if compare_columns is None else compare_columns
        changed = " OR ".join(f't."{c}" IS DISTINCT FROM EXCLUDED."{c}"' for c in compare)
        action = f"DO UPDATE SET {sets} WHERE {changed}" if compare else f"DO UPDATE SET {sets}"
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
    compare_columns: Sequence[str] | None = None,
) -> UpsertResult:
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cursor:
        if len(batch) >= COPY_THRESHOLD:
            flags = _pg_copy_merge(
                cursor, table, batch, columns, conflict_columns, update_columns, compare_columns
            )
        else:
            sql = _merge_sql(
                table, columns, conflict_columns, update_columns, "VALUES %s", compare_columns
            )
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
    compare_columns: Sequence[str] | None = None,
) -> list[tuple[bool]]:
    cols = ", ".join(f'"{c}"' for c in columns)
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS _upsert_stage_{table.name} "
        f"ON COMMIT DROP AS SELECT {cols} FROM {_qualified(table)} WITH NO DATA"
    )
    stage = f"_upsert_stage_{table.name}"
    cursor.execute(f"TRUNCATE {stage}")
    data = _copy_lines(batch, columns).encode()
    cursor.copy_expert(f"COPY {stage} ({cols}) FROM STDIN", io.BytesIO(data), len(data))
    source = f"SELECT {cols} FROM {stage}"
    merge = _merge_sql(table, columns, conflict_columns, update_columns, source, compare_columns)
    # Count in the database: shipping one flag per row back to Python costs more than the merge.
    cursor.execute(
        f"WITH merged AS ({merge}) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
    )
    inserted, updated = cursor.fetchone()
    return [(True,)] * inserted + [(False,)] * updated


def insert_new(
    session: Session,
    model: type[SQLModel] | Table,
    columns: Sequence[str],
    groups: Iterable[tuple[Any, Sequence[Any]]],
    *,
    conflict_columns: Sequence[str],
) -> UpsertResult:
    """Insert the rows whose `conflict_columns` key is not stored yet; leave stored rows alone.

    For immutable facts, where an update is never meaningful: `ON CONFLICT DO NOTHING` skips the
    change test and the per-row result of an upsert. Rows come in groups sharing the value of
    the first column, `(value, rows)`, each row holding the other columns in `columns` order
    as a tuple, or as the line `row_renderer` made for this dialect (so the text can be built
    on a producer thread while the writer only adds a value resolved late, e.g. a foreign key).
    A key repeated in the input is inserted once. Runs in the caller's transaction.
    """
    table: Table = model if isinstance(model, Table) else model.__table__  # type: ignore[attr-defined]
    missing = [c for c in [*columns, *conflict_columns] if c not in table.c]
    if missing:
        raise ValueError(f"{table.name} has no column(s) {missing}")
    groups = [(lead, rows) for lead, rows in groups if rows]
    total = sum(len(rows) for _lead, rows in groups)
    if not total:
        return UpsertResult()
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        inserted = _pg_copy_insert(session, table, columns, groups, conflict_columns)
    else:
        stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
        params = [
            dict(zip(columns, (lead, *row), strict=True)) for lead, rows in groups for row in rows
        ]
        inserted = max(session.execute(stmt, params).rowcount, 0)
    return UpsertResult(inserted=inserted, unchanged=total - inserted)


def row_renderer(dialect: str) -> Callable[[Sequence[Any]], Any]:
    """How `insert_new` wants rows prepared on `dialect`: a COPY line on PostgreSQL, else as is."""
    return copy_line if dialect == "postgresql" else tuple


def copy_line(values: Sequence[Any]) -> str:
    """`values` as one line of PostgreSQL COPY text (pure Python: safe on any thread)."""
    return (
        "\t".join(
            [_COPY_FAST[type(v)](v) if type(v) in _COPY_FAST else _copy_text(v) for v in values]
        )
        + "\n"
    )


def _pg_copy_insert(
    session: Session,
    table: Table,
    columns: Sequence[str],
    groups: Sequence[tuple[Any, Sequence[Any]]],
    conflict_columns: Sequence[str],
) -> int:
    chunks = []
    for lead, rows in groups:
        lines = rows if isinstance(rows[0], str) else [copy_line(row) for row in rows]
        prefix = _copy_text(lead) + "\t"
        chunks.append(prefix)
        chunks.append(prefix.join(lines))
    cols = ", ".join(f'"{c}"' for c in columns)
    keys = ", ".join(f'"{c}"' for c in conflict_columns)
    stage = f"_insert_stage_{table.name}"
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cursor:
        # One round trip for both: each costs the writer a wait for the GIL (see below).
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
            f"ON COMMIT DROP AS SELECT {cols} FROM {_qualified(table)} WITH NO DATA; "
            f"TRUNCATE {stage}"
        )
        data = "".join(chunks).encode()
        # One read of the whole buffer: psycopg2 takes the GIL back for every `size` chunk, and
        # with a producer thread busy each take can wait a full switch interval (5 ms).
        cursor.copy_expert(f"COPY {stage} ({cols}) FROM STDIN", io.BytesIO(data), len(data))
        cursor.execute(
            f"INSERT INTO {_qualified(table)} ({cols}) SELECT {cols} FROM {stage} "
            f"ON CONFLICT ({keys}) DO NOTHING"
        )
        return cursor.rowcount


def _sqlite_upsert(
    session: Session,
    table: Table,
    batch: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    conflict_columns: Sequence[str],
    update_columns: Sequence[str],
    compare_columns: Sequence[str] | None = None,
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
        for c in update_columns if compare_columns is None else compare_columns:
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
    key = itemgetter(*conflict_columns)
    latest = {key(row): row for row in rows}
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


def _copy_lines(batch: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """COPY text for `batch`, built column by column with a converter fitted to each column's
    value types (the per-value generic path costs more than the database merge itself)."""
    converted = []
    for c in columns:
        values = [row[c] for row in batch]
        kinds = {type(v) for v in values}
        kinds.discard(type(None))
        if kinds <= {float, int}:
            converted.append(["\\N" if v is None else repr(v) for v in values])
        elif kinds == {datetime}:
            converted.append(["\\N" if v is None else v.isoformat() for v in values])
        elif kinds == {str}:
            converted.append(["\\N" if v is None else v.translate(_COPY_ESCAPES) for v in values])
        else:
            converted.append([_copy_text(v) for v in values])
    return "".join(f"{line}\n" for line in map("\t".join, zip(*converted, strict=True)))


_COPY_FAST: dict[type, Callable[[Any], str]] = {
    float: float.__repr__,
    int: int.__repr__,
    str: lambda s: s.translate(_COPY_ESCAPES),
    datetime: datetime.isoformat,
    type(None): lambda _v: "\\N",
}


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
