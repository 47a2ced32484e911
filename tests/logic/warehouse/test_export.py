"""The incremental export against the sandbox BigQuery: first run loads everything, the next
only changes; a crash anywhere and a re-run leave one copy of every row; a load error is recorded
and the watermark stays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.cloud.bigquery import SchemaField
from sqlalchemy import func, select

from helpers.time_utils import utc_now
from logic.warehouse import export
from logic.warehouse.bigquery import Warehouse
from logic.warehouse.tables import TABLES
from models.ingest import IngestCursor, IngestRun
from models.vehicle import Vehicle
from tests.factories import make_location
from tests.logic.warehouse.support import bq_fixture, make_fleet, warehouse_rows  # noqa: F401

pytestmark = pytest.mark.usefixtures("bq")


def _db_count(session, table) -> int:
    return session.scalar(select(func.count()).select_from(table.table))


def _watermark(session, name: str) -> str | None:
    row = IngestCursor.get_for(session, export.SOURCE, name)
    session.expire_all()
    return row.cursor if row else None


def test_first_run_loads_every_table_and_the_next_only_changes(session, bq):
    fleet = make_fleet(session)

    first = export.export_tables(trigger="test")

    assert first.ok and not first.already_running
    assert [run.entity for run in first.runs] == list(TABLES)
    for table in TABLES.values():
        rows = warehouse_rows(bq, table.name)
        assert len(rows) == _db_count(session, table) > 0, table.name
    trip_row = next(r for r in warehouse_rows(bq, "trips") if r["id"] == fleet["trips"][0].id)
    assert trip_row["customer"] == "Acme Foods"
    run = first.runs[0]
    assert (run.source, run.fetched, run.inserted, run.updated) == ("bigquery", 2, 2, 0)

    trip = fleet["trips"][0]
    trip.customer = "Acme Frozen"
    session.add(trip)
    make_location(session, vehicle=fleet["trucks"][0], recorded_at=utc_now() - timedelta(days=3))
    session.commit()

    second = export.export_tables(trigger="test")

    counts = {run.entity: (run.fetched, run.inserted, run.updated) for run in second.runs}
    assert counts["trips"] == (1, 0, 1)
    # A late point (recorded days ago, stored now) is still found: the watermark is storage time.
    assert counts["vehicle_locations"] == (1, 1, 0)
    assert all(
        counts[name] == (0, 0, 0) for name in counts if name not in ("trips", "vehicle_locations")
    )
    rows = warehouse_rows(bq, "trips")
    assert len(rows) == 2
    assert next(r for r in rows if r["id"] == trip.id)["customer"] == "Acme Frozen"
    assert len(warehouse_rows(bq, "vehicle_locations")) == 11


def test_an_eta_rewrite_is_a_trip_change(session, bq):
    fleet = make_fleet(session)
    export.export_tables(["trips"], trigger="test")
    trip = fleet["trips"][1]
    trip.eta_final = utc_now() + timedelta(hours=3)
    trip.eta_updated_at = utc_now()
    session.add(trip)
    # The ETA pass writes with Core (no ORM onupdate): only eta_updated_at moves.
    session.commit()
    session.execute(
        TABLES["trips"].table.update().where(TABLES["trips"].table.c.id == trip.id)
        .values(updated_at=utc_now() - timedelta(days=1))
    )  # fmt: skip
    session.commit()

    again = export.export_tables(["trips"], trigger="test")

    assert (again.runs[0].fetched, again.runs[0].updated) == (1, 1)


CRASH_POINTS = ["dump", "load", "merge", "watermark"]


@pytest.mark.parametrize("where", CRASH_POINTS)
def test_a_crash_then_a_rerun_leaves_one_copy_of_every_row(session, bq, monkeypatch, where):
    make_fleet(session)
    export.export_tables(["trips", "vehicle_locations"], trigger="test")
    before = _watermark(session, "vehicle_locations")
    vehicle = session.scalars(select(Vehicle)).first()
    for minute in range(1, 4):
        make_location(session, vehicle=vehicle, recorded_at=utc_now() - timedelta(minutes=minute))
    session.commit()

    class Crash(Exception):
        pass

    def half_dump(conn, stmt, out, batch_rows=10_000):
        out.write(b'{"vehicle_id": 1}\n')
        raise Crash("killed mid-table")

    def after(original):
        def run_then_die(*args):
            original(*args)
            raise Crash(f"killed after {original.__name__}")

        return run_then_die

    def die(*_args):
        raise Crash("killed before the watermark commit")

    if where == "dump":
        monkeypatch.setattr(export, "write_ndjson", half_dump)
    elif where == "load":
        monkeypatch.setattr(Warehouse, "load_staging", after(Warehouse.load_staging))
    elif where == "merge":
        monkeypatch.setattr(Warehouse, "merge_staging", after(Warehouse.merge_staging))
    else:
        monkeypatch.setattr("logic.ingest.runner.RunHandle._commit_page", die)

    crashed = export.export_tables(["vehicle_locations"], trigger="test")

    assert crashed.runs[0].status == "failed" and "killed" in crashed.runs[0].error
    assert _watermark(session, "vehicle_locations") == before
    monkeypatch.undo()

    rerun = export.export_tables(["vehicle_locations"], trigger="test")

    assert rerun.ok and rerun.runs[0].fetched == 3
    rows = warehouse_rows(bq, "vehicle_locations")
    keys = [(r["vehicle_id"], r["recorded_at"]) for r in rows]
    assert len(keys) == len(set(keys)) == _db_count(session, TABLES["vehicle_locations"])
    assert _watermark(session, "vehicle_locations") > before


def test_a_load_error_is_recorded_and_the_watermark_does_not_move(session, bq, monkeypatch):
    fleet = make_fleet(session)
    export.export_tables(["trips"], trigger="test")
    before = _watermark(session, "trips")
    fleet["trips"][0].notes = "call the receiver"
    session.add(fleet["trips"][0])
    session.commit()
    # The schema file drifts from the data: `notes` declared INTEGER, the rows carry text.
    drifted = [
        {**field, "type": "INTEGER"} if field["name"] == "notes" else field
        for field in TABLES["trips"].schema
    ]
    monkeypatch.setattr(
        "logic.warehouse.bigquery.schema_fields",
        lambda table: [SchemaField.from_api_repr(field) for field in drifted],
    )

    failed = export.export_tables(["trips"], trigger="test")

    run = failed.runs[0]
    assert run.status == "failed" and not failed.ok
    assert run.error.startswith("bigquery: Error while reading data")
    assert "Could not convert value 'call the receiver' to integer. Field: notes" in run.error
    assert _watermark(session, "trips") == before
    assert session.get(IngestRun, run.id).cursor_after == before
    monkeypatch.undo()
    assert export.export_tables(["trips"], trigger="test").runs[0].fetched == 1


def test_unknown_tables_are_refused(session, bq):
    with pytest.raises(export.NotFound):
        export.export_tables(["trips", "nope"])


def test_a_big_table_goes_up_in_parts_cut_at_line_ends(session, bq, monkeypatch):
    fleet = make_fleet(session)
    for minute in range(200):
        make_location(session, vehicle=fleet["trucks"][1], recorded_at=utc_now() - timedelta(
            days=1, minutes=minute))  # fmt: skip
    session.commit()
    monkeypatch.setattr("logic.warehouse.bigquery.LOAD_PART_BYTES", 4096)

    result = export.export_tables(["vehicle_locations"], trigger="test")

    assert result.ok and result.runs[0].fetched == 210
    uploads = [r for r in bq.requests("bigquery") if "/upload/" in r["path"]]
    assert len(uploads) > 5
    dispositions = [r["body"].split('"writeDisposition": "')[1].split('"')[0] for r in uploads]
    assert dispositions[0] == "WRITE_TRUNCATE" and set(dispositions[1:]) == {"WRITE_APPEND"}
    keys = {(r["vehicle_id"], r["recorded_at"]) for r in warehouse_rows(bq, "vehicle_locations")}
    assert len(keys) == 210


def test_the_exporters_files_take_the_fakes_one_statement_load(session, bq, monkeypatch):
    # The sandbox (in this process) falls back to its row checker only for files not in
    # DuckDB's own compact form; the exporter's dumps are, on either database.
    from sandbox import bigquery_rows

    checked = []
    checker = bigquery_rows.parse_rows
    monkeypatch.setattr(
        bigquery_rows, "parse_rows", lambda *args: checked.append(args) or checker(*args)
    )
    make_fleet(session)

    result = export.export_tables(["trips", "trip_stops", "vehicle_locations"], trigger="test")

    assert result.ok and all(run.fetched > 0 for run in result.runs)
    assert checked == []
