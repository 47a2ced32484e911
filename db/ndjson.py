"""Stream the rows of a SELECT to a binary file as newline-delimited JSON, in constant memory.

PostgreSQL renders the JSON itself (`to_json` of each row) and streams it with `COPY … TO
STDOUT`: no row becomes a Python object. CSV mode with quote and delimiter bytes that JSON never
contains raw (`to_json` escapes every control character) leaves each line exactly as rendered;
timestamps come out ISO 8601 in UTC because the transaction's time zone is set to UTC. SQLite
streams through the cursor in `batch_rows` batches and renders with `json` in the same compact
UTF-8 form as `to_json` (no spaces, non-ASCII as is; datetimes ISO 8601). Either way the object
keys are the SELECT's column labels, in order, and JSON columns nest as JSON.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, BinaryIO

from sqlalchemy import Connection, Select


def write_ndjson(
    conn: Connection, stmt: Select[Any], out: BinaryIO, batch_rows: int = 10_000
) -> int:
    """Write every row of `stmt` to `out` as one JSON object per line; return the row count."""
    if conn.dialect.name == "postgresql":
        return _pg_copy(conn, stmt, out)
    rows = 0
    result = conn.execution_options(yield_per=batch_rows).execute(stmt)
    keys = list(result.keys())
    for batch in result.partitions():
        out.write(
            "".join(
                json.dumps(
                    dict(zip(keys, row, strict=True)),
                    default=_json_value,
                    separators=(",", ":"),
                    ensure_ascii=False,
                )
                + "\n"
                for row in batch
            ).encode()
        )
        rows += len(batch)
    return rows


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _pg_copy(conn: Connection, stmt: Select[Any], out: BinaryIO) -> int:
    compiled = stmt.compile(dialect=conn.dialect)
    params = compiled.construct_params()
    for name, bind in compiled.binds.items():
        processor = bind.type.bind_processor(conn.dialect)
        if processor is not None and name in params:
            params[name] = processor(params[name])
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("SET LOCAL TimeZone = 'UTC'")
        select_sql = cursor.mogrify(str(compiled), params).decode()
        cursor.copy_expert(
            f"COPY (SELECT to_json(r) FROM ({select_sql}) AS r) TO STDOUT "
            "WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')",
            out,
        )
        return cursor.rowcount
    finally:
        cursor.close()
