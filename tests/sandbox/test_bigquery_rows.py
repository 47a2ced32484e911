"""The sandbox BigQuery's DuckDB storage: the one-statement load reads exactly what the row
checker reads, and every line DuckDB's lenient JSON reader would take but BigQuery's checker
refuses still fails as BigQuery does."""

from __future__ import annotations

import json
import math

import pytest

from sandbox import bigquery_rows
from sandbox.bigquery_rows import LoadError, RowStore

FIELDS = [
    {"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
    {"name": "f", "type": "FLOAT"},
    {"name": "s", "type": "STRING"},
    {"name": "b", "type": "BOOLEAN"},
    {"name": "ts", "type": "TIMESTAMP"},
    {"name": "d", "type": "DATE"},
    {"name": "j", "type": "JSON"},
]
KEY = ("p", "ds", "t")

VALID = [
    {"id": 0, "f": 35, "s": "plain", "b": True, "ts": "2026-01-02T03:04:05.5+00:00",
     "d": "2026-03-01", "j": {"k": [1, 2]}},
    {"id": -5, "f": -90.001, "s": 'quote " and backslash \\ and\nnewline', "b": False,
     "ts": "2026-01-02 03:04:05Z", "d": None, "j": "text"},
    {"id": 2**63 - 1, "f": 0.5, "s": "é ünï 😀", "b": None, "ts": "2026-01-02T03:04:05-05:30",
     "d": "0001-01-01", "j": 5},
    {"id": 7, "f": None, "s": "", "b": True, "ts": "2026-01-02T03:04:05.123456", "d": None,
     "j": [None, {"a": "b"}]},
    {"id": 8, "f": 1, "s": None, "b": None, "ts": None, "d": None, "j": None},
]  # fmt: skip


@pytest.fixture
def rows_store():
    store = RowStore()
    yield store
    store.reset()


@pytest.fixture
def checker_calls(monkeypatch):
    calls = []
    checker = bigquery_rows.parse_rows

    def counted(*args):
        calls.append(args)
        return checker(*args)

    monkeypatch.setattr(bigquery_rows, "parse_rows", counted)
    return calls


def _file(tmp_path, lines: list[str], name="rows.ndjson") -> str:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def _compact(row) -> str:
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False)


def test_a_compact_file_takes_one_statement_and_stores_what_the_checker_reads(
    rows_store, checker_calls, tmp_path
):
    compact = _file(tmp_path, [_compact(r) for r in VALID], "compact.ndjson")
    assert rows_store.load(KEY, FIELDS, compact, {}, replace=True) == len(VALID)
    assert checker_calls == []
    fast = rows_store.rows(KEY, FIELDS)

    # The same rows spaced out (json.dumps' default) are not DuckDB's own form: the checker runs.
    spaced = _file(tmp_path, [json.dumps(r) for r in VALID], "spaced.ndjson")
    other = ("p", "ds", "other")
    assert rows_store.load(other, FIELDS, spaced, {}, replace=True) == len(VALID)
    assert len(checker_calls) == 1

    assert fast == rows_store.rows(other, FIELDS)
    assert fast[0] == {"id": 0, "f": 35.0, "s": "plain", "b": True,
                       "ts": "2026-01-02T03:04:05.500000+00:00", "d": "2026-03-01",
                       "j": {"k": [1, 2]}}  # fmt: skip
    assert fast[1]["ts"] == "2026-01-02T03:04:05+00:00"
    assert fast[2]["ts"] == "2026-01-02T08:34:05+00:00" and fast[2]["id"] == 2**63 - 1
    assert fast[3]["ts"] == "2026-01-02T03:04:05.123456+00:00"  # no offset: UTC
    assert [r["s"] for r in fast[1:3]] == [VALID[1]["s"], VALID[2]["s"]]


def _raw(**values: str) -> str:
    """A line in the fast path's form (every field, schema order), with raw JSON `values`."""
    return "{" + ",".join(f'"{f["name"]}":{values.get(f["name"], "null")}' for f in FIELDS) + "}"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (_raw(id="1") + " ", None),  # the control: this form alone loads (see the test)
        (_raw(id="1")[:-1] + ",}", "JSON parsing error"),  # DuckDB allows trailing commas
        (_raw(id="1", j="[1,]"), "JSON parsing error"),
        (_raw(id="1", f="inf"), "JSON parsing error"),  # DuckDB reads inf / nan in any case
        (_raw(id="1", f="-Infinity"), None),  # the checker's json reads it: not DuckDB's path
        (_raw(id="1", j='{"x":nan}'), "JSON parsing error"),
        (_raw(id="1.5"), "Could not convert value '1.5' to integer. Field: id"),  # DuckDB: 2
        (_raw(id="1e2"), "Could not convert value '100.0' to integer"),
        (_raw(id="9223372036854775808"), "Could not convert value '9223372036854775808' to int"),
        (_raw(id='"one"'), "Could not convert value 'one' to integer"),
        (_raw(id="1", s="true"), "Could not convert value 'True' to string"),  # DuckDB: 'true'
        (_raw(id="1", s="5"), "Could not convert value '5' to string"),
        (_raw(id="1", b="1"), "Could not convert value '1' to boolean"),  # DuckDB: true
        (_raw(id="1", f='"x"'), "Could not convert value 'x' to double"),
        (_raw(id="1", f="true"), "Could not convert value 'True' to double"),
        (_raw(id="1", ts='"2026-02-30T00:00:00"'), "to timestamp"),
        (_raw(id="1", ts='"2026-01-01T24:00:00"'), "to timestamp"),  # DuckDB: the next day
        (_raw(id="1", ts='"0000-01-01T00:00:00"'), "to timestamp"),  # DuckDB: 1 BC
        (_raw(id="1", ts='"2026-01-01 00:00:00 America/Chicago"'), "to timestamp"),
        (_raw(id="1", ts="1700000000"), "to timestamp"),
        (_raw(id="1", d='"2026-01-01T00:00:00"'), "to date"),  # DuckDB: the date part
        (_raw(id="1", d='"0000-01-01"'), "to date"),
        (_raw(id="1")[:-1] + ',"extra":2}', "No such field: extra."),  # DuckDB ignores it
        (_raw(s='"x"'), "Missing required field: id."),
        ("[1]", "Only JSON objects may be loaded as rows."),
    ],
)
def test_what_duckdb_would_take_but_bigquery_refuses_fails_as_bigquery(
    rows_store, tmp_path, line, message
):
    rows_store.load(KEY, FIELDS, _file(tmp_path, [_raw(id="1")], "first.ndjson"), {}, replace=True)
    second = _raw(id="2")
    path = _file(tmp_path, [second, line])
    if message is None:
        assert rows_store.load(KEY, FIELDS, path, {}, replace=False) == 2
        return

    with pytest.raises(LoadError) as failed:
        rows_store.load(KEY, FIELDS, path, {}, replace=False)

    errors = failed.value.errors
    assert "Rows: 2; errors: 1." in errors[0]["message"]
    assert errors[1]["location"] == f"position {len(second) + 1}"
    assert message in errors[1]["message"]
    assert [r["id"] for r in rows_store.rows(KEY, FIELDS)] == [1]  # the failed load left nothing


def test_the_checkers_reading_wins_where_it_accepts_more(rows_store, tmp_path):
    lines = [
        '{"id":1,"id":2}',  # a repeated key: the last one
        '{"id":"3","b":"TRUE","ts":"2026-01-02T03:04:05 UTC","f":"2.5"}',
        '{"f":1e400,"id":4}',  # out of order; too large: infinity
        "",
        '  {"id":5}  ',
    ]
    assert rows_store.load(KEY, FIELDS, _file(tmp_path, lines), {}, replace=True) == 4
    rows = rows_store.rows(KEY, FIELDS)
    assert [r["id"] for r in rows] == [2, 3, 4, 5]
    assert (rows[1]["b"], rows[1]["ts"], rows[1]["f"]) == (True, "2026-01-02T03:04:05+00:00", 2.5)
    assert math.isinf(rows[2]["f"])


def test_bad_rows_within_max_bad_records_are_skipped(rows_store, tmp_path):
    path = _file(tmp_path, ['{"id":1}', '{"id":"x"}', '{"id":3,"extra":1}'])
    loaded = rows_store.load(KEY, FIELDS, path, {"maxBadRecords": 1, "ignoreUnknownValues": True},
                             replace=True)  # fmt: skip
    assert loaded == 2
    assert [r["id"] for r in rows_store.rows(KEY, FIELDS)] == [1, 3]


def test_replace_swaps_the_schema_and_a_failed_replace_keeps_the_old_table(rows_store, tmp_path):
    rows_store.load(KEY, FIELDS, _file(tmp_path, ['{"id":1}'], "a.ndjson"), {}, replace=True)
    narrow = [{"name": "name", "type": "STRING"}]
    with pytest.raises(LoadError):
        rows_store.load(KEY, narrow, _file(tmp_path, ['{"name":1}'], "b.ndjson"), {}, replace=True)
    assert rows_store.rows(KEY, FIELDS) == [dict.fromkeys(f["name"] for f in FIELDS) | {"id": 1}]

    rows_store.load(KEY, narrow, _file(tmp_path, ['{"name":"n"}'], "c.ndjson"), {}, replace=True)
    assert rows_store.rows(KEY, narrow) == [{"name": "n"}]
