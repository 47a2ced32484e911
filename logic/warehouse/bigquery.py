"""The exporter's BigQuery side: make sure dataset and tables exist, load a file, MERGE it in.

Idempotence: every run loads its rows into `<table>__staging` (WRITE_TRUNCATE, so a staging
table left by a crashed run is simply replaced) and then MERGEs staging into the table on the
registry key: matched rows are overwritten, new ones inserted, in one atomic statement. A re-run
after a crash anywhere — mid-dump, after the load, after the MERGE but before the watermark was
committed — loads the same rows again and the MERGE leaves exactly one copy of each.

Credentials: Application Default Credentials for real BigQuery; anonymous when
`BIGQUERY_API_ENDPOINT` points somewhere else (the sandbox). Google API errors become
`VendorError("bigquery", …)` carrying BigQuery's own message, so a run records why it failed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from google.api_core import exceptions as google_errors
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from config import Settings
from logic.warehouse.tables import WarehouseTable
from utils.http import VendorError

STAGING_SUFFIX = "__staging"
# The library's default retries transient errors for up to 10 minutes; a scheduled export would
# rather fail, be recorded, and start over on the next tick.
API_RETRY = bigquery.DEFAULT_RETRY.with_timeout(60)
JOB_TIMEOUT_SECONDS = 1800
LOAD_PART_BYTES = 32 * 1024 * 1024


def build_client(settings: Settings) -> bigquery.Client:
    """A client for the configured project; anonymous against a custom API endpoint."""
    if not settings.GOOGLE_CLOUD_PROJECT:
        raise VendorError("bigquery", "GOOGLE_CLOUD_PROJECT is not set")
    if settings.BIGQUERY_API_ENDPOINT:
        return bigquery.Client(
            project=settings.GOOGLE_CLOUD_PROJECT,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": settings.BIGQUERY_API_ENDPOINT},
            location=settings.BIGQUERY_LOCATION,
        )
    return bigquery.Client(
        project=settings.GOOGLE_CLOUD_PROJECT, location=settings.BIGQUERY_LOCATION
    )


def schema_fields(table: WarehouseTable) -> list[bigquery.SchemaField]:
    return [bigquery.SchemaField.from_api_repr(field) for field in table.schema]


def merge_sql(table: WarehouseTable, target: str, staging: str) -> str:
    """The MERGE that folds a staging table into its target on the registry key."""
    columns = table.columns
    on = " AND ".join(f"t.{key} = s.{key}" for key in table.key)
    updates = ", ".join(f"{c} = s.{c}" for c in columns if c not in table.key)
    return (
        f"MERGE `{target}` AS t USING `{staging}` AS s ON {on} "
        f"WHEN MATCHED THEN UPDATE SET {updates} "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(columns)}) "
        f"VALUES ({', '.join(f's.{c}' for c in columns)})"
    )


class Warehouse:
    """One dataset of one project, reached through `client`."""

    def __init__(self, client: bigquery.Client, dataset: str, location: str) -> None:
        self.client = client
        self.dataset = f"{client.project}.{dataset}"
        self.location = location
        self._ready: set[str] = set()

    def table_id(self, table: WarehouseTable, suffix: str = "") -> str:
        return f"{self.dataset}.{table.name}{suffix}"

    def ensure_table(self, table: WarehouseTable) -> None:
        """Create the dataset and the table (partitioned, clustered) unless they exist; refuse a
        table whose columns lack some of the schema file's (the MERGE would fail on them)."""
        if table.name in self._ready:
            return
        with _translated():
            if not self._ready:
                dataset = bigquery.Dataset(self.dataset)
                dataset.location = self.location
                self.client.create_dataset(dataset, exists_ok=True, retry=API_RETRY)
            wanted = bigquery.Table(self.table_id(table), schema=schema_fields(table))
            if table.partition_by:
                wanted.time_partitioning = bigquery.TimePartitioning(
                    type_=bigquery.TimePartitioningType.DAY, field=table.partition_by
                )
            if table.cluster_by:
                wanted.clustering_fields = list(table.cluster_by)
            existing = self.client.create_table(wanted, exists_ok=True, retry=API_RETRY)
        missing = sorted(set(table.columns) - {f.name for f in existing.schema})
        if missing:
            raise VendorError(
                "bigquery",
                f"table {existing.full_table_id} lacks column(s) {', '.join(missing)} of "
                f"bigquery/schemas/{table.name}.json; add them (bq update) before exporting",
            )
        self._ready.add(table.name)

    def load_staging(self, table: WarehouseTable, data: BinaryIO, size: int) -> int:
        """Load `size` bytes of newline-delimited JSON into the staging table (replacing it).

        The file goes up in parts of about `LOAD_PART_BYTES`, cut at line ends, one load job
        each (the first truncates, the others append): the client holds a whole upload chunk in
        memory (100 MB by default), so parts keep the exporter's memory flat at any size.
        """
        loaded, disposition = 0, bigquery.WriteDisposition.WRITE_TRUNCATE
        for part in _parts(data, size, LOAD_PART_BYTES):
            config = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
                schema=schema_fields(table),
                write_disposition=disposition,
                create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
            )
            with _translated():
                job = self.client.load_table_from_file(
                    io.BytesIO(part),
                    self.table_id(table, STAGING_SUFFIX),
                    size=len(part),
                    job_config=config,
                    location=self.location,
                    job_id_prefix=f"export_{table.name}_",
                    num_retries=3,
                )
                job.result(retry=API_RETRY, timeout=JOB_TIMEOUT_SECONDS)
            loaded += int(job.output_rows or 0)
            disposition = bigquery.WriteDisposition.WRITE_APPEND
        return loaded

    def merge_staging(self, table: WarehouseTable) -> tuple[int, int]:
        """MERGE staging into the table; (inserted, updated) from the statement's DML stats."""
        sql = merge_sql(table, self.table_id(table), self.table_id(table, STAGING_SUFFIX))
        with _translated():
            job = self.client.query(
                sql, location=self.location, job_id_prefix=f"merge_{table.name}_", retry=API_RETRY
            )
            job.result(retry=API_RETRY, timeout=JOB_TIMEOUT_SECONDS)
        stats = job.dml_stats
        if stats is None:
            return 0, int(job.num_dml_affected_rows or 0)
        return int(stats.inserted_row_count), int(stats.updated_row_count)


def _parts(data: BinaryIO, size: int, limit: int) -> Iterator[bytes]:
    """`size` bytes of `data` from its start, in pieces of about `limit` ending at a newline."""
    data.seek(0)
    left = size
    while left > 0:
        piece = data.read(min(limit, left))
        if len(piece) < left:
            piece += data.readline()  # finish the line the cut fell in
        left -= len(piece)
        yield piece


@contextmanager
def _translated() -> Iterator[None]:
    """Turn Google API and transport failures into VendorError with BigQuery's message."""
    try:
        yield
    except google_errors.GoogleAPICallError as exc:
        status = exc.code if isinstance(exc.code, int) else None
        # A failed job's message already joins its errorResult and every row error.
        raise VendorError("bigquery", exc.message, status=status) from exc
    except (google_errors.GoogleAPIError, OSError) as exc:
        raise VendorError("bigquery", f"{type(exc).__name__}: {exc}") from exc
