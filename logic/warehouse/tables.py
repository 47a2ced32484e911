"""Which hub tables go to BigQuery, and how: one registry entry per table.

An entry names the model, the merge key, the watermark column(s), and the BigQuery layout
(partitioning, clustering); the columns and their BigQuery types live in the table's schema file,
`bigquery/schemas/<name>.json` (the standard `bq` schema format, so `bq mk --schema` reads it
too). Adding a table is one entry here plus one schema file; `tests/logic/warehouse` checks every
schema against its model's columns and types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, Numeric, String, Table
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import SQLModel

from db.types import UTCDateTime
from models.alert import Alert
from models.call import Call, CallInsight
from models.hos import HosLog, HosViolation
from models.location import VehicleLocation
from models.report import DriverReport
from models.safety_event import SafetyEvent
from models.stop_visit import StopVisit
from models.trip import Trip, TripStop

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "bigquery" / "schemas"
QUERY_DIR = SCHEMA_DIR.parent / "queries"


@dataclass(frozen=True)
class WarehouseTable:
    """One exported table. `watermark`: the row's change time; several columns mean the latest
    of them (a trip also changes when the ETA pass rewrites it, which stamps `eta_updated_at`)."""

    name: str
    model: type[SQLModel]
    key: tuple[str, ...]
    watermark: tuple[str, ...] = ("updated_at",)
    partition_by: str | None = None  # a TIMESTAMP or DATE column: daily partitions
    cluster_by: tuple[str, ...] = ()

    @property
    def table(self) -> Table:
        return self.model.__table__  # type: ignore[attr-defined]

    @property
    def schema(self) -> list[dict[str, Any]]:
        return load_schema(self.name)

    @property
    def columns(self) -> list[str]:
        return [field["name"] for field in self.schema]


TABLES: dict[str, WarehouseTable] = {
    t.name: t
    for t in (
        WarehouseTable(
            "trips", Trip, ("id",), watermark=("updated_at", "eta_updated_at"),
            cluster_by=("customer", "terminal"),
        ),
        WarehouseTable("trip_stops", TripStop, ("id",), cluster_by=("trip_id",)),
        WarehouseTable(
            "vehicle_locations", VehicleLocation, ("vehicle_id", "recorded_at"),
            partition_by="recorded_at", cluster_by=("vehicle_id",),
        ),
        WarehouseTable(
            "hos_logs", HosLog, ("id",), partition_by="start_at", cluster_by=("driver_id",)
        ),
        WarehouseTable("hos_violations", HosViolation, ("id",), cluster_by=("driver_id",)),
        WarehouseTable(
            "safety_events", SafetyEvent, ("id",), partition_by="occurred_at",
            cluster_by=("driver_id",),
        ),
        WarehouseTable(
            "stop_visits", StopVisit, ("id",), partition_by="arrived_at",
            cluster_by=("customer", "facility"),
        ),
        WarehouseTable("alerts", Alert, ("id",), cluster_by=("type", "fingerprint")),
        WarehouseTable(
            "calls", Call, ("id",), partition_by="created_at", cluster_by=("driver_id",)
        ),
        WarehouseTable("call_insights", CallInsight, ("id",), cluster_by=("driver_id",)),
        # A report is rebuilt in place for its driver and day; `generated_at` is when.
        WarehouseTable(
            "driver_reports", DriverReport, ("driver_id", "report_date"),
            watermark=("generated_at",), partition_by="report_date", cluster_by=("driver_id",),
        ),
    )
}  # fmt: skip


@cache
def load_schema(name: str) -> list[dict[str, Any]]:
    """The BigQuery schema of table `name` (a list of {name, type, mode, description})."""
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text())


def bigquery_type(sa_type: TypeEngine[Any]) -> str:
    """The BigQuery column type that holds values of a SQLAlchemy column type."""
    if isinstance(sa_type, UTCDateTime):
        return "TIMESTAMP"
    if isinstance(sa_type, TypeDecorator):  # e.g. SQLModel's AutoString over String
        return bigquery_type(sa_type.impl_instance)
    checks: list[tuple[type, str]] = [
        (Boolean, "BOOLEAN"),
        (Integer, "INTEGER"),
        (Float, "FLOAT"),
        (Numeric, "NUMERIC"),
        (DateTime, "TIMESTAMP"),
        (Date, "DATE"),
        (JSON, "JSON"),
        (String, "STRING"),
    ]
    # A with_variant() type (JSONB on PostgreSQL) is judged by its generic implementation.
    for kind, name in checks:
        if isinstance(sa_type, kind):
            return name
    raise TypeError(f"no BigQuery type for {sa_type!r}")


def expected_schema(table: WarehouseTable) -> dict[str, tuple[str, str]]:
    """{column: (BigQuery type, mode)} derived from the model, for the schema check."""
    return {
        c.name: (bigquery_type(c.type), "NULLABLE" if c.nullable else "REQUIRED")
        for c in table.table.columns
    }


def schema_problems(table: WarehouseTable, fields: list[dict[str, Any]] | None = None) -> list[str]:
    """How `fields` (default: the schema file) disagree with the model; empty when they agree."""
    declared = {f["name"]: (f["type"], f.get("mode", "NULLABLE")) for f in fields or table.schema}
    expected = expected_schema(table)
    problems = [f"{c}: missing from the schema" for c in expected if c not in declared]
    problems += [f"{c}: not a column of the model" for c in declared if c not in expected]
    problems += [
        f"{c}: declared {declared[c][0]} {declared[c][1]}, the model needs "
        f"{expected[c][0]} {expected[c][1]}"
        for c in expected
        if c in declared and declared[c] != expected[c]
    ]
    return problems


def get_table(name: str) -> WarehouseTable:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown warehouse table {name!r}; one of {', '.join(TABLES)}") from None
