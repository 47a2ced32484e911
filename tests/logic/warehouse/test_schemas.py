"""Every exported table's schema file matches its model: same columns, mapped types and modes."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import JSON, Boolean, Column, Date, Float, Integer, MetaData, String, Table

from db.types import JSONType, UTCDateTime
from logic.warehouse.tables import SCHEMA_DIR, TABLES, bigquery_type, schema_problems

BIGQUERY_TYPES = {"STRING", "INTEGER", "FLOAT", "NUMERIC", "BOOLEAN", "TIMESTAMP", "DATE", "JSON"}


@pytest.mark.parametrize("name", list(TABLES))
def test_schema_file_matches_the_model(name):
    assert schema_problems(TABLES[name]) == []


@pytest.mark.parametrize("name", list(TABLES))
def test_schema_file_is_well_formed(name):
    table = TABLES[name]
    for field in table.schema:
        assert set(field) == {"name", "type", "mode", "description"}, field
        assert field["type"] in BIGQUERY_TYPES and field["description"].strip()
    assert set(table.key) <= set(table.columns)
    assert set(table.watermark) <= set(table.columns)
    assert set(table.cluster_by) <= set(table.columns)
    if table.partition_by:
        types = {f["name"]: f["type"] for f in table.schema}
        assert types[table.partition_by] in ("TIMESTAMP", "DATE")


def test_every_schema_file_is_registered():
    files = {path.stem for path in SCHEMA_DIR.glob("*.json")}
    assert files == set(TABLES)
    for path in SCHEMA_DIR.glob("*.json"):
        assert isinstance(json.loads(path.read_text()), list)


def test_vehicle_locations_are_partitioned_by_day_and_clustered_by_vehicle():
    table = TABLES["vehicle_locations"]
    assert (table.partition_by, table.cluster_by) == ("recorded_at", ("vehicle_id",))


def test_type_mapping():
    t = Table(
        "probe",
        MetaData(),
        Column("a", Integer),
        Column("b", Float),
        Column("c", String(10)),
        Column("d", Boolean),
        Column("e", UTCDateTime),
        Column("f", JSONType),
        Column("g", JSON),
        Column("h", Date),
    )
    assert [bigquery_type(c.type) for c in t.columns] == [
        "INTEGER", "FLOAT", "STRING", "BOOLEAN", "TIMESTAMP", "JSON", "JSON", "DATE",
    ]  # fmt: skip


def test_a_drifted_schema_fails_the_check():
    table = TABLES["trips"]
    drifted = [f for f in table.schema if f["name"] != "customer"]
    drifted = [{**f, "type": "STRING"} if f["name"] == "id" else f for f in drifted]
    drifted = [{**f, "mode": "NULLABLE"} if f["name"] == "status" else f for f in drifted]
    drifted.append({"name": "extra", "type": "STRING", "mode": "NULLABLE"})

    assert schema_problems(table, drifted) == [
        "customer: missing from the schema",
        "extra: not a column of the model",
        "id: declared STRING REQUIRED, the model needs INTEGER REQUIRED",
        "status: declared STRING NULLABLE, the model needs STRING REQUIRED",
    ]


def test_a_new_model_column_fails_the_check(monkeypatch):
    table = TABLES["hos_logs"]
    grown = Table("hos_log_probe", MetaData(), *(c._copy() for c in table.table.columns),
                  Column("odometer_miles", Float))  # fmt: skip
    monkeypatch.setattr(type(table), "table", property(lambda _self: grown))
    assert schema_problems(table) == ["odometer_miles: missing from the schema"]
