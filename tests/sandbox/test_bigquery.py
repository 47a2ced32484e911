"""The sandbox BigQuery, driven by google-cloud-bigquery itself (anonymous, custom endpoint)."""

from __future__ import annotations

import io
import json

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from sandbox.credentials import BIGQUERY_PROJECT

SCHEMA = [
    bigquery.SchemaField("id", "INTEGER", mode="REQUIRED"),
    bigquery.SchemaField("name", "STRING"),
    bigquery.SchemaField("seen_at", "TIMESTAMP"),
    bigquery.SchemaField("details", "JSON"),
]


@pytest.fixture
def client(sandbox_clean):
    client = bigquery.Client(
        project=BIGQUERY_PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": f"{sandbox_clean.url}/bigquery"},
    )
    client.create_dataset("ds")
    yield client
    client.close()


def _ndjson(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _start(
    client, table, data: bytes, *, size_known=True, disposition="WRITE_TRUNCATE", schema=SCHEMA
):
    config = bigquery.LoadJobConfig(
        source_format="NEWLINE_DELIMITED_JSON", schema=schema, write_disposition=disposition
    )
    return client.load_table_from_file(
        io.BytesIO(data), f"ds.{table}", size=len(data) if size_known else None, job_config=config
    )


def _load(client, table, data: bytes, **options):
    return _start(client, table, data, **options).result()


def _rows(sandbox, table):
    return sandbox._http.get(f"/_sandbox/bigquery/tables/ds/{table}").json()["rows"]


def test_datasets_and_tables_get_and_insert(client):
    assert client.get_dataset("ds").dataset_id == "ds"
    with pytest.raises(exceptions.Conflict):
        client.create_dataset("ds")
    with pytest.raises(exceptions.NotFound, match="Not found: Table"):
        client.get_table("ds.nope")
    table = bigquery.Table(f"{BIGQUERY_PROJECT}.ds.points", schema=SCHEMA)
    table.time_partitioning = bigquery.TimePartitioning(field="seen_at")
    table.clustering_fields = ["id"]
    client.create_table(table)
    got = client.get_table("ds.points")
    assert [f.name for f in got.schema] == ["id", "name", "seen_at", "details"]
    assert got.time_partitioning.field == "seen_at" and got.clustering_fields == ["id"]
    client.create_table(table, exists_ok=True)


def test_a_small_file_goes_multipart_and_a_big_one_resumable(client, sandbox_clean):
    rows = [{"id": n, "name": f"n{n}", "seen_at": "2026-01-02T03:04:05.5+00:00",
             "details": {"k": [n]}} for n in range(3)]  # fmt: skip
    job = _load(client, "small", _ndjson(rows))
    assert job.output_rows == 3
    big = [{"id": n, "name": "x" * 200} for n in range(30_000)]  # ~6.5 MB: over the 5 MB limit
    assert _load(client, "big", _ndjson(big), size_known=True).output_rows == 30_000
    assert _load(client, "stream", _ndjson(rows), size_known=False).output_rows == 3
    kinds = [r["query"].get("uploadType") for r in sandbox_clean.requests("bigquery")
             if "/upload/" in r["path"] and r["method"] == "POST"]  # fmt: skip
    assert kinds == ["multipart", "resumable", "resumable"]
    stored = _rows(sandbox_clean, "small")
    assert stored[0] == {"id": 0, "name": "n0", "seen_at": "2026-01-02T03:04:05.500000+00:00",
                         "details": {"k": [0]}}  # fmt: skip
    assert len(_rows(sandbox_clean, "big")) == 30_000


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": 1, "color": "red"}, "No such field: color."),
        ({"name": "x"}, "Missing required field: id."),
        ({"id": "one"}, "Could not convert value 'one' to integer. Field: id; Value: one"),
        ({"id": 1, "seen_at": "yesterday"}, "Could not convert value 'yesterday' to timestamp."),
    ],
)
def test_bad_rows_fail_the_job_as_bigquery_does(client, sandbox_clean, row, message):
    job = _start(client, "bad", _ndjson([{"id": 7}, row]))
    with pytest.raises(exceptions.BadRequest, match="JSON table encountered too many errors"):
        job.result()
    errors = job.errors
    assert job.error_result["reason"] == "invalid"
    assert errors[0]["message"].startswith(
        "Error while reading data, error message: JSON table encountered too many errors, "
        "giving up. Rows: 2; errors: 1."
    )
    assert errors[1]["reason"] == "invalid"
    assert errors[1]["message"].startswith(
        "Error while reading data, error message: JSON parsing error in row starting at "
        "position 10: "
    )
    assert message in errors[1]["message"]
    assert sandbox_clean._http.get("/_sandbox/bigquery/tables").json()["tables"] == []


def test_appending_with_a_different_schema_is_a_schema_mismatch(client):
    _load(client, "t", _ndjson([{"id": 1}]))
    other = [bigquery.SchemaField("id", "STRING", mode="REQUIRED"), *SCHEMA[1:]]
    expected = (
        f"Provided Schema does not match Table {BIGQUERY_PROJECT}:ds.t. "
        "Field id has changed type from INTEGER to STRING"
    )
    with pytest.raises(exceptions.BadRequest, match=expected):
        _load(client, "t", _ndjson([{"id": "2"}]), disposition="WRITE_APPEND", schema=other)
    _load(client, "t", _ndjson([{"id": 2}]), disposition="WRITE_APPEND")
    assert client.get_table("ds.t").num_rows == 2


MERGE = (
    f"MERGE `{BIGQUERY_PROJECT}.ds.t` AS t USING `{BIGQUERY_PROJECT}.ds.s` AS s ON t.id = s.id "
    "WHEN MATCHED THEN UPDATE SET name = s.name "
    "WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, s.name)"
)


def test_the_exporters_merge_upserts_on_the_key(client, sandbox_clean):
    schema = SCHEMA[:2]
    _load(
        client, "t", _ndjson([{"id": 1, "name": "old"}, {"id": 2, "name": "keep"}]), schema=schema
    )
    _load(
        client, "s", _ndjson([{"id": 1, "name": "new"}, {"id": 3, "name": "added"}]), schema=schema
    )

    job = client.query(MERGE)
    job.result()

    assert (job.dml_stats.inserted_row_count, job.dml_stats.updated_row_count) == (1, 1)
    assert sorted((r["id"], r["name"]) for r in _rows(sandbox_clean, "t")) == [
        (1, "new"), (2, "keep"), (3, "added")
    ]  # fmt: skip
    client.query(MERGE).result()  # the same MERGE again: nothing new
    assert len(_rows(sandbox_clean, "t")) == 3


def test_a_merge_with_two_source_rows_for_one_target_row_fails_and_changes_nothing(
    client, sandbox_clean
):
    _load(client, "t", _ndjson([{"id": 1, "name": "a"}]), schema=SCHEMA[:2])
    rows = [{"id": 2, "name": "new"}, {"id": 1, "name": "b"}, {"id": 1, "name": "c"}]
    _load(client, "s", _ndjson(rows), schema=SCHEMA[:2])
    with pytest.raises(exceptions.BadRequest, match="must match at most one source row"):
        client.query(MERGE).result()
    assert _rows(sandbox_clean, "t") == [{"id": 1, "name": "a"}]


def test_unmatched_source_rows_are_all_inserted_even_with_one_key(client, sandbox_clean):
    # BigQuery refuses only a target row matched twice; NOT MATCHED inserts every source row.
    _load(client, "t", _ndjson([{"id": 1, "name": "a"}]), schema=SCHEMA[:2])
    _load(client, "s", _ndjson([{"id": 5, "name": "x"}, {"id": 5, "name": "y"}]), schema=SCHEMA[:2])
    job = client.query(MERGE)
    job.result()
    assert (job.dml_stats.inserted_row_count, job.dml_stats.updated_row_count) == (2, 0)
    assert [r["name"] for r in _rows(sandbox_clean, "t")] == ["a", "x", "y"]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        f"DELETE FROM `{BIGQUERY_PROJECT}.ds.t` WHERE true",
        MERGE.replace("UPDATE SET name = s.name", "UPDATE SET name = 'x'"),
        MERGE.replace("ON t.id = s.id", "ON t.id > s.id"),
        MERGE.replace("WHEN MATCHED THEN", "WHEN MATCHED AND s.id > 0 THEN"),
    ],
)
def test_any_other_statement_is_refused(client, sql):
    _load(client, "t", _ndjson([{"id": 1}]), schema=SCHEMA[:2])
    _load(client, "s", _ndjson([{"id": 1}]), schema=SCHEMA[:2])
    with pytest.raises(exceptions.BadRequest, match="runs only the exporter's MERGE"):
        client.query(sql).result()
