"""Ingest app: export changed rows to BigQuery (`POST /warehouse/export`), one run per table."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from helpers.errors import AppError
from logic.warehouse import export
from logic.warehouse.tables import TABLES
from services.deps import WarehouseExportCaller

router = APIRouter(prefix="/warehouse", tags=["warehouse"])


class ExportFailed(AppError):
    """At least one table's export failed; the body lists every table's recorded run."""

    status_code = 502
    code = "warehouse_export_failed"


@router.post(
    "/export",
    responses={502: {"description": "a table's export failed; every run is in the body"}},
)
def export_to_bigquery(
    caller: WarehouseExportCaller,
    table: Annotated[
        list[str] | None, Query(description=f"Only these tables: {', '.join(TABLES)}")
    ] = None,
) -> export.ExportResult:
    """Send every table's (or `table`'s) rows changed since its watermark to BigQuery."""
    trigger = "api-key" if caller.is_service else "user"
    result = export.export_tables(table, trigger=trigger, triggered_by=caller.label)
    if not result.ok:
        failed = [run.entity for run in result.runs if run.status != "succeeded"]
        raise ExportFailed(
            f"export failed for {', '.join(failed)}", **result.model_dump(mode="json")
        )
    return result
