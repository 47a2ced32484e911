"""The sandbox BigQuery's table storage: rows in DuckDB, loads from NDJSON files, the MERGE.

Each table's rows live in a DuckDB table (one in-memory database for the sandbox) with the
column types the BigQuery ones read into. A load first tries one DuckDB statement over the file:
`read_ndjson_objects` + `from_json`, taken only when every line is exactly the compact JSON
object DuckDB writes back for it (the schema's keys, in its order, each once, no extras) and
every value is of a form the row checker below reads the same way (a JSON integer for INTEGER,
a finite number for FLOAT, a quoted ISO 8601 string for TIMESTAMP, …). Those conditions make the
fast path a subset of what the checker accepts, with the same values, so anything else — a bad
row, a key out of order, a number DuckDB would print differently, a DuckDB parse error — rolls
back and goes through `parse_rows`, the row-by-row checker, which builds BigQuery's errors (row
byte positions, unknown field, missing required field, unconvertible value, maxBadRecords) and
whose accepted rows are then stored. So errors are shaped as before; only valid files take the
fast path. The MERGE runs as DuckDB statements in one transaction with BigQuery's DML counts.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pandas as pd

# BigQuery type → DuckDB column type. NUMERIC is kept as DOUBLE: the checker reads it with float().
DUCK_TYPES = {
    "INTEGER": "BIGINT",
    "INT64": "BIGINT",
    "FLOAT": "DOUBLE",
    "FLOAT64": "DOUBLE",
    "NUMERIC": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "BOOL": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMPTZ",
    "DATE": "DATE",
    "JSON": "JSON",
    "STRING": "VARCHAR",
}
INT64 = range(-(2**63), 2**63)


class LoadError(Exception):
    """A load or query BigQuery would fail: `errors` as in the job's `errors[]`."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or [{"reason": "invalid", "message": message}]


def field_type(field: dict[str, Any]) -> str:
    return str(field.get("type") or "STRING").upper()


# ---- the row-by-row checker: BigQuery's conversions and error messages -------------------------
_TYPE_WORDS = {"INTEGER": "integer", "INT64": "integer", "FLOAT": "double", "FLOAT64": "double"}
_BOOL = {"true": True, "false": False, "1": True, "0": False}


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("integer")
    number = int(value)
    if number not in INT64:
        raise ValueError("integer")
    return number


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("double")
    return float(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _BOOL:
        return _BOOL[value.lower()]
    raise ValueError("boolean")


def _timestamp(value: Any) -> str:
    """ISO 8601 in UTC, from any of the forms BigQuery reads (offset, `Z`, ` UTC`, none)."""
    if not isinstance(value, str):
        raise ValueError("timestamp")
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4]
    parsed = datetime.fromisoformat(text)
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed.isoformat()


def _date(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("date")
    return date.fromisoformat(value.strip()).isoformat()


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("string")
    return value


_CONVERTERS: dict[str, Any] = {
    "INTEGER": _integer,
    "INT64": _integer,
    "FLOAT": _float,
    "FLOAT64": _float,
    "NUMERIC": _float,
    "BOOLEAN": _boolean,
    "BOOL": _boolean,
    "TIMESTAMP": _timestamp,
    "DATE": _date,
    "JSON": lambda value: value,
    "STRING": _string,
}


def parse_rows(data: bytes, fields: list[dict[str, Any]], config: dict[str, Any]) -> list[dict]:
    """Newline-delimited JSON rows checked against `fields`; LoadError past maxBadRecords."""
    by_name = {f["name"]: f for f in fields}
    convert = {f["name"]: _CONVERTERS[field_type(f)] for f in fields}
    required = [f["name"] for f in fields if f.get("mode") == "REQUIRED"]
    ignore_unknown = bool(config.get("ignoreUnknownValues"))
    allowed_bad = int(config.get("maxBadRecords") or 0)
    rows, errors, position = [], [], 0
    for line in data.split(b"\n"):
        start, position = position, position + len(line) + 1
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("Only JSON objects may be loaded as rows.")
            row = {}
            for name, value in record.items():
                field = by_name.get(name)
                if field is None:
                    if ignore_unknown:
                        continue
                    raise ValueError(f"No such field: {name}.")
                if value is None:
                    row[name] = None
                    continue
                try:
                    row[name] = convert[name](value)
                except (ValueError, TypeError, OverflowError):
                    kind = _TYPE_WORDS.get(field_type(field), field_type(field).lower())
                    raise ValueError(
                        f"Could not convert value '{value}' to {kind}. "
                        f"Field: {name}; Value: {value}"
                    ) from None
            missing = [name for name in required if row.get(name) is None]
            if missing:
                raise ValueError(f"Missing required field: {missing[0]}.")
        except ValueError as exc:
            errors.append(
                {
                    "reason": "invalid",
                    "location": f"position {start}",
                    "message": "Error while reading data, error message: JSON parsing error "
                    f"in row starting at position {start}: {exc}",
                }
            )
            continue
        rows.append({f["name"]: row.get(f["name"]) for f in fields})
    if len(errors) > allowed_bad:
        summary = (
            "Error while reading data, error message: JSON table encountered too many errors, "
            f"giving up. Rows: {len(rows) + len(errors)}; errors: {len(errors)}. Please look "
            "into the errors[] collection for more details."
        )
        raise LoadError(summary, [{"reason": "invalid", "message": summary}, *errors[:100]])
    return rows


# ---- the fast path: one DuckDB statement, taken only for lines the checker reads the same ------
_TIMESTAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?"
)
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
# DuckDB's JSON reader also takes NaN / Infinity / inf in any case; the checker takes only some.
_NON_FINITE = r"(?i)(^|[:,\[])\s*-?(nan|inf)"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fast_value(kind: str, value: str) -> tuple[str, str]:
    """(the checker would read it the same, the DuckDB value) for JSON text `value`, not null."""
    text = f"{value}::VARCHAR"
    inner = f"substr({text}, 2, length({text}) - 2)"  # a string without escapes, unquoted
    number = f"(left({text}, 1) BETWEEN '0' AND '9' OR left({text}, 1) = '-')"
    quoted = f"left({text}, 1) = '\"'"
    if kind in ("INTEGER", "INT64"):
        cast = f"TRY_CAST({text} AS BIGINT)"
        ok = f"{number} AND NOT regexp_matches({text}, '[.eE]') AND {cast} IS NOT NULL"
        return ok, cast
    if kind in ("FLOAT", "FLOAT64", "NUMERIC"):
        cast = f"TRY_CAST({text} AS DOUBLE)"
        return f"{number} AND isfinite({cast})", cast
    if kind in ("BOOLEAN", "BOOL"):
        return f"{text} IN ('true', 'false')", f"{text} = 'true'"
    if kind == "STRING":
        unescaped = f"CASE WHEN contains({text}, '\\') THEN json_extract_string({value}, '$') "
        return quoted, f"{unescaped}ELSE {inner} END"
    if kind in ("TIMESTAMP", "DATE"):
        duck, pattern = ("TIMESTAMPTZ", _TIMESTAMP) if kind == "TIMESTAMP" else ("DATE", _DATE)
        cast = f"TRY_CAST({inner} AS {duck})"
        ok = (
            f"{quoted} AND regexp_full_match({inner}, {_literal(pattern)}) "
            f"AND {inner} >= '0001' AND {cast} IS NOT NULL"
        )
        return ok, cast
    if kind == "JSON":
        return f"NOT regexp_matches({text}, {_literal(_NON_FINITE)})", value
    raise LoadError(f"The sandbox does not store fields of type {kind}")


def _fast_select(fields: list[dict[str, Any]]) -> str:
    """SELECT of the converted columns of file `?`; fails (error()) on any line it cannot take."""
    struct = json.dumps({f["name"]: "JSON" for f in fields})
    canonical, checks, values = [], [], []
    for n, field in enumerate(fields):
        value = f"v.{_ident(field['name'])}"
        ok, converted = _fast_value(field_type(field), value)
        separator = "{" if n == 0 else ","
        canonical.append(_literal(separator + json.dumps(field["name"]) + ":"))
        canonical.append(f"coalesce({value}::VARCHAR, 'null')")
        null_ok = "false" if field.get("mode") == "REQUIRED" else "true"
        checks.append(f"CASE WHEN {value} IS NULL THEN {null_ok} ELSE {ok} END")
        values.append(f"CASE WHEN {value} IS NOT NULL THEN {converted} END")
    canonical.append("'}'")
    accepted = " AND ".join([f"line = {' || '.join(canonical)}", *checks])
    return (
        f"SELECT {', '.join(values)} FROM (SELECT json::VARCHAR AS line, "
        f"from_json(json, {_literal(struct)}) AS v "
        "FROM read_ndjson_objects(?, compression = 'uncompressed')) "
        f"WHERE CASE WHEN {accepted} THEN true ELSE error('not a fast-path line') END"
    )


def _duck_text(kind: str, value: Any) -> str | None:
    """A checked value as text DuckDB casts to the column's type (rows the fast path left)."""
    if value is None:
        return None
    if kind == "JSON":
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return str(value)


class RowStore:
    """Every table's rows, in one DuckDB database; callers hold the sandbox lock around calls."""

    def __init__(self) -> None:
        self._open()

    def _open(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.names: dict[tuple[str, ...], str] = {}
        self._next = 0

    def reset(self) -> None:
        self.con.close()
        self._open()

    def _name(self, key: tuple[str, ...]) -> str:
        if key not in self.names:
            self._next += 1
            self.names[key] = f"bq_{self._next}"
        return self.names[key]

    def _create(self, key: tuple[str, ...], fields: list[dict[str, Any]]) -> None:
        columns = []
        for field in fields:
            kind = field_type(field)
            if kind not in DUCK_TYPES:
                raise LoadError(f"The sandbox does not store fields of type {kind}")
            columns.append(f"{_ident(field['name'])} {DUCK_TYPES[kind]}")
        self.con.execute(f"CREATE OR REPLACE TABLE {self._name(key)} ({', '.join(columns)})")

    def create(self, key: tuple[str, ...], fields: list[dict[str, Any]]) -> None:
        """An empty table (tables.insert); a schema-less one gets its columns on first load."""
        if fields:
            self._create(key, fields)

    def count(self, key: tuple[str, ...]) -> int:
        if key not in self.names:
            return 0
        return int(self.con.execute(f"SELECT count(*) FROM {self.names[key]}").fetchall()[0][0])

    def load(
        self,
        key: tuple[str, ...],
        fields: list[dict[str, Any]],
        path: str,
        config: dict[str, Any],
        *,
        replace: bool,
    ) -> int:
        """Append (or, with `replace`, replace the table with) the rows of NDJSON file `path`,
        all or nothing; LoadError as BigQuery's when rows are bad."""
        try:
            return self._insert(key, fields, replace, _fast_select(fields), [path])
        except duckdb.Error:
            with open(path, "rb") as data:
                rows = parse_rows(data.read(), fields, config)
        kinds = [field_type(f) for f in fields]
        checked = pd.DataFrame(
            [[_duck_text(kind, row[f["name"]]) for kind, f in zip(kinds, fields, strict=True)]
             for row in rows],
            columns=[f"c{n}" for n in range(len(fields))], dtype=object,
        )  # fmt: skip
        select = ", ".join(f"CAST(c{n} AS {DUCK_TYPES[kind]})" for n, kind in enumerate(kinds))
        self.con.register("checked", checked)
        try:
            return self._insert(key, fields, replace, f"SELECT {select} FROM checked", [])
        except duckdb.Error as exc:
            raise LoadError(f"Error while reading data, error message: {exc}") from None
        finally:
            self.con.unregister("checked")

    def _insert(self, key, fields, replace: bool, select: str, params: list) -> int:
        con = self.con
        con.begin()
        try:
            if replace or key not in self.names:
                self._create(key, fields)
            columns = ", ".join(_ident(f["name"]) for f in fields)
            loaded = con.execute(
                f"INSERT INTO {self.names[key]} ({columns}) {select}", params
            ).fetchall()
            con.commit()
        except BaseException:
            con.rollback()
            if not self._exists(key):  # created by this load, gone with the rollback
                self.names.pop(key, None)
            raise
        return int(loaded[0][0])

    def _exists(self, key: tuple[str, ...]) -> bool:
        if key not in self.names:
            return False
        found = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [self.names[key]]
        ).fetchall()
        return bool(found[0][0])

    def merge(
        self,
        target: tuple[str, ...],
        source: tuple[str, ...],
        keys: list[str],
        update: list[str],
        insert: list[str],
    ) -> tuple[int, int]:
        """The MERGE's effect, atomically: (inserted, updated). A target row matched by several
        source rows fails it as BigQuery does; unmatched source rows are all inserted."""
        t, s = self.names.get(target), self.names.get(source)
        if t is None or s is None:
            return 0, 0
        on = " AND ".join(f"t.{_ident(k)} = s.{_ident(k)}" for k in keys)
        con = self.con
        con.begin()
        try:
            twice = con.execute(
                f"SELECT 1 FROM {t} AS t JOIN {s} AS s ON {on} GROUP BY t.rowid "
                "HAVING count(*) > 1 LIMIT 1"
            ).fetchall()
            if twice:
                message = "UPDATE/MERGE must match at most one source row for each target row"
                raise LoadError(message, [{"reason": "invalidQuery", "message": message}])
            sets = ", ".join(f"{_ident(c)} = s.{_ident(c)}" for c in update)
            updated = int(
                con.execute(f"UPDATE {t} AS t SET {sets} FROM {s} AS s WHERE {on}").fetchall()[0][0]
            )
            columns = ", ".join(_ident(c) for c in insert)
            sourced = ", ".join(f"s.{_ident(c)}" for c in insert)
            inserted = int(
                con.execute(
                    f"INSERT INTO {t} ({columns}) SELECT {sourced} FROM {s} AS s "
                    f"WHERE NOT EXISTS (SELECT 1 FROM {t} AS t WHERE {on})"
                ).fetchall()[0][0]
            )
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return inserted, updated

    def rows(self, key: tuple[str, ...], fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The stored rows in load order, as the checker writes them (timestamps ISO 8601 UTC)."""
        if key not in self.names:
            return []
        kinds = [field_type(f) for f in fields]
        # TIMESTAMPTZ leaves DuckDB as a naive UTC TIMESTAMP (the session is UTC): no pytz needed.
        columns = ", ".join(
            f"CAST({_ident(f['name'])} AS TIMESTAMP)" if kind == "TIMESTAMP" else _ident(f["name"])
            for f, kind in zip(fields, kinds, strict=True)
        )
        found = self.con.execute(f"SELECT {columns} FROM {self.names[key]} ORDER BY rowid")
        return [
            {f["name"]: _as_loaded(kind, v) for f, kind, v in zip(fields, kinds, row, strict=True)}
            for row in found.fetchall()
        ]


def _as_loaded(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "TIMESTAMP":
        return value.replace(tzinfo=UTC).isoformat()
    if kind == "DATE":
        return value.isoformat()
    if kind == "JSON":
        return json.loads(value)
    return value
