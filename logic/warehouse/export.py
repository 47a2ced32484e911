"""Incremental export of the hub's tables to BigQuery, one recorded run per table.

Each table's run is an ingest-style run (`IngestRun` with source `bigquery`, entity = the
BigQuery table; see logic/ingest/runner.py): it takes the per-table lock, and its watermark is the
run's cursor (`IngestCursor`), an ISO timestamp. A run selects the rows whose watermark column is
after the stored watermark and at most `cutoff` = now - `WAREHOUSE_SETTLE_SECONDS` (a transaction
still open now may yet commit rows stamped a little earlier; the settle time lets it finish),
streams them to a temporary newline-delimited JSON file (db/ndjson.py: never the table in
memory), loads the file into a staging table and MERGEs it in on the key (logic/warehouse/
bigquery.py explains why that is idempotent). Only then is the watermark moved to `cutoff`,
together with the run's counts, in one transaction; a failure anywhere leaves the watermark where
it was and records BigQuery's message as the run's error, and the next run sends the rows again.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session

from config import Settings, get_settings
from db.database import session_scope
from db.ndjson import write_ndjson
from db.types import UTCDateTime
from db.upsert import UpsertResult
from helpers.errors import NotFound, UpstreamNotConfigured
from helpers.time_utils import utc_now
from logic.ingest.runner import IngestAlreadyRunning, PageWrite, RunHandle, execute, start_run
from logic.warehouse.tables import TABLES, WarehouseTable
from models.ingest import IngestRunPublic, IngestStatus
from utils.http import VendorError

if TYPE_CHECKING:
    from logic.warehouse.bigquery import Warehouse

SOURCE = "bigquery"


class ExportResult(BaseModel):
    """One run per exported table, plus the tables skipped because an export was running."""

    runs: list[IngestRunPublic]
    already_running: list[str]

    @property
    def ok(self) -> bool:
        return all(run.status == IngestStatus.SUCCEEDED for run in self.runs)


def build_warehouse(settings: Settings | None = None) -> Warehouse:
    """The BigQuery warehouse of `settings`. google-cloud-bigquery (which loads pandas and
    pyarrow) is imported here, on the first export: it was a third of the ingest app's start-up."""
    from logic.warehouse.bigquery import Warehouse, build_client

    settings = settings or get_settings()
    return Warehouse(build_client(settings), settings.BIGQUERY_DATASET, settings.BIGQUERY_LOCATION)


def resolve_tables(names: Sequence[str] | None) -> list[WarehouseTable]:
    """The registry entries for `names` (every table when empty), or NotFound."""
    if not names:
        return list(TABLES.values())
    unknown = [name for name in names if name not in TABLES]
    if unknown:
        raise NotFound(
            f"unknown warehouse table(s) {', '.join(unknown)}; one of {', '.join(TABLES)}"
        )
    return [TABLES[name] for name in dict.fromkeys(names)]


def export_tables(
    names: Sequence[str] | None = None,
    *,
    trigger: str = "api",
    triggered_by: str | None = None,
    warehouse: Warehouse | None = None,
) -> ExportResult:
    """Export every table (or `names`) in registry order; each table succeeds or fails alone."""
    tables = resolve_tables(names)
    if warehouse is None:
        if not get_settings().GOOGLE_CLOUD_PROJECT:
            raise UpstreamNotConfigured("bigquery: GOOGLE_CLOUD_PROJECT is not set")
        warehouse = build_warehouse()
    runs, busy = [], []
    for table in tables:
        try:
            handle = start_run(SOURCE, table.name, trigger=trigger, triggered_by=triggered_by)
        except IngestAlreadyRunning:
            busy.append(table.name)
            continue
        runs.append(execute(handle, lambda run, table=table: export_table(run, table, warehouse)))
    return ExportResult(runs=runs, already_running=busy)


def export_table(run: RunHandle, table: WarehouseTable, warehouse: Warehouse) -> None:
    """Send `table`'s rows changed since the run's watermark; move it only after the MERGE."""
    since = datetime.fromisoformat(run.cursor_before) if run.cursor_before else None
    cutoff = utc_now() - timedelta(seconds=get_settings().WAREHOUSE_SETTLE_SECONDS)
    if since is not None and cutoff <= since:
        return
    warehouse.ensure_table(table)
    inserted = updated = 0
    with tempfile.TemporaryFile(prefix=f"export-{table.name}-", suffix=".ndjson") as spool:
        rows = dump_changes(table, since, cutoff, spool)
        if rows:
            loaded = warehouse.load_staging(table, spool, spool.tell())
            if loaded != rows:
                raise VendorError("bigquery", f"staging holds {loaded} rows, {rows} were sent")
            inserted, updated = warehouse.merge_staging(table)
    outcome = PageWrite(fetched=rows, result=UpsertResult(inserted, updated, 0))
    run.write_page(lambda _session: outcome, cursor_after=cutoff.isoformat())


def watermark_of(session: Session, table: WarehouseTable) -> ColumnElement[datetime]:
    """The row's change time: its watermark column, or the latest of several (NULLs ignored)."""
    first, *others = (table.table.c[name] for name in table.watermark)
    if not others:
        return first
    latest = func.greatest if session.get_bind().dialect.name == "postgresql" else func.max
    return latest(first, *(func.coalesce(c, first) for c in others), type_=UTCDateTime())


def dump_changes(table: WarehouseTable, since: datetime | None, cutoff: datetime, out) -> int:
    """Write `table`'s rows with watermark in (since, cutoff] to `out`; return how many."""
    with session_scope(immediate=False) as session:
        changed = watermark_of(session, table)
        stmt = select(*(table.table.c[name] for name in table.columns)).where(changed <= cutoff)
        if since is not None:
            stmt = stmt.where(changed > since)
        return write_ndjson(session.connection(), stmt, out)
