"""Run the BigQuery queries on DuckDB over the exporter's own NDJSON files.

Each `.sql` is parsed with sqlglot's BigQuery dialect and transpiled to DuckDB. DuckDB's spatial
extension is a download this machine cannot make, so the few GEOGRAPHY functions the queries use
are DuckDB macros in plain math on a (lon, lat) struct: ST_GEOGPOINT builds it, ST_X / ST_Y read
it, ST_SNAPTOGRID rounds both coordinates to the nearest multiple of the grid size (BigQuery's
definition for points).
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Any

import duckdb
import sqlglot

from logic.warehouse.export import dump_changes
from logic.warehouse.tables import QUERY_DIR, TABLES

DUCKDB_TYPES = {
    "INTEGER": "BIGINT",
    "FLOAT": "DOUBLE",
    "NUMERIC": "DECIMAL(38, 9)",
    "STRING": "VARCHAR",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMPTZ",
    "DATE": "DATE",
    "JSON": "JSON",
}

GEOGRAPHY_MACROS = [
    "CREATE MACRO st_geogpoint(lon, lat) AS {'lon': lon, 'lat': lat}",
    "CREATE MACRO st_x(g) AS g.lon",
    "CREATE MACRO st_y(g) AS g.lat",
    "CREATE MACRO st_snaptogrid(g, size) AS "
    "{'lon': round(g.lon / size) * size, 'lat': round(g.lat / size) * size}",
]


def export_files(directory: Path, cutoff: datetime) -> dict[str, Path]:
    """Every registered table dumped as the exporter dumps it (all rows up to `cutoff`)."""
    files = {}
    for table in TABLES.values():
        path = directory / f"{table.name}.ndjson"
        with path.open("wb") as out:
            dump_changes(table, None, cutoff, out)
        files[table.name] = path
    return files


def connect(files: dict[str, Path]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for statement in GEOGRAPHY_MACROS:
        con.execute(statement)
    for name, path in files.items():
        columns = {f["name"]: DUCKDB_TYPES[f["type"]] for f in TABLES[name].schema}
        con.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_json(?, format = 'newline_delimited', "
            f"columns = {columns!r})",
            [str(path)],
        )
    return con


def query_names() -> list[str]:
    return sorted(path.stem for path in QUERY_DIR.glob("*.sql"))


def transpiled(name: str) -> str:
    sql = (QUERY_DIR / f"{name}.sql").read_text()
    return sqlglot.transpile(sql, read="bigquery", write="duckdb")[0]


def run(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[dict[str, Any]]:
    cursor = con.execute(transpiled(name), params)
    columns = [d[0] for d in cursor.description]
    return [
        dict(zip(columns, (_as_bigquery(v) for v in row), strict=True)) for row in cursor.fetchall()
    ]


def _as_bigquery(value: Any) -> Any:
    # DuckDB's date_trunc of a DATE is a (naive) TIMESTAMP; BigQuery's DATE_TRUNC keeps a DATE.
    if isinstance(value, datetime) and value.tzinfo is None and value.time() == time():
        return value.date()
    return value
