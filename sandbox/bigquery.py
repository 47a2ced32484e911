"""Sandbox imitation of the BigQuery v2 REST API, enough for google-cloud-bigquery's load path.

Served under `/bigquery`: give the client `client_options={"api_endpoint": "<sandbox>/bigquery"}`
and `AnonymousCredentials()`. Supported: datasets and tables get/insert; load jobs through the
upload endpoint the client uses (`uploadType=multipart` below 5 MB, `resumable` above, both
newline-delimited JSON; the media is spooled to a temporary file), `jobs.get`, and query jobs
that are a MERGE of exactly the shape `logic/warehouse/bigquery.py` emits (any other statement
fails as an invalid query; this is a fake of the load path, not a SQL engine). Rows are kept in
DuckDB (sandbox/bigquery_rows.py: one DuckDB statement loads a well-formed file; anything else
goes through the row checker). Loads fail the way BigQuery does (unknown field, missing required
field, unconvertible value: `errorResult` plus `errors[]`; a provided schema that differs from an
existing table's on append) and change nothing when they fail; the MERGE is atomic and fails on
a target row matched by two source rows. `GET /_sandbox/bigquery/tables` counts each table's
rows, `.../tables/{dataset}/{table}` returns them; `POST /_sandbox/reset` clears everything.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import sqlglot
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlglot import exp

from sandbox.bigquery_rows import LoadError, RowStore

router = APIRouter(prefix="/bigquery", tags=["bigquery"])
control_router = APIRouter(prefix="/_sandbox/bigquery", tags=["sandbox"])
extra_routers = (control_router,)

API = "/bigquery/v2/projects/{project}"
UPLOAD = "/upload/bigquery/v2/projects/{project}/jobs"


class BigQueryStore:
    """Datasets, tables (resources; rows in DuckDB), jobs and open resumable uploads (each
    spooled to a file), behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.datasets: dict[tuple[str, str], dict[str, Any]] = {}
        self.tables: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.rows = RowStore()
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        with self.lock:
            for upload in self.uploads.values():
                _discard(upload["file"])
            for part in (self.datasets, self.tables, self.jobs, self.uploads):
                part.clear()
            self.rows.reset()


def _discard(spool: Any) -> None:
    spool.close()
    Path(spool.name).unlink(missing_ok=True)


store = BigQueryStore()


def init_state(state: Any) -> None:
    state.on_reset(store.reset)


def _error(status: int, reason: str, message: str) -> JSONResponse:
    names = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": names.get(status, "UNKNOWN"),
        }
    }
    return JSONResponse(body, status_code=status)


def _millis() -> str:
    return str(int(time.time() * 1000))


# ---- datasets and tables ------------------------------------------------------------------------
@router.get(API + "/datasets/{dataset}")
def get_dataset(project: str, dataset: str) -> Response:
    """datasets.get"""
    found = store.datasets.get((project, dataset))
    if found is None:
        return _error(404, "notFound", f"Not found: Dataset {project}:{dataset}")
    return JSONResponse(found)


@router.post(API + "/datasets")
async def insert_dataset(project: str, request: Request) -> Response:
    """datasets.insert"""
    body = await request.json()
    dataset = body.get("datasetReference", {}).get("datasetId", "")
    if not re.fullmatch(r"[A-Za-z0-9_]{1,1024}", dataset):
        return _error(400, "invalid", f"Invalid dataset ID {dataset!r}")
    with store.lock:
        if (project, dataset) in store.datasets:
            return _error(409, "duplicate", f"Already Exists: Dataset {project}:{dataset}")
        resource = {
            **body,
            "kind": "bigquery#dataset",
            "id": f"{project}:{dataset}",
            "datasetReference": {"projectId": project, "datasetId": dataset},
            "location": body.get("location") or "US",
            "creationTime": _millis(),
        }
        store.datasets[(project, dataset)] = resource
    return JSONResponse(resource)


def _table_resource(project: str, dataset: str, table: str, body: dict[str, Any]) -> dict:
    return {
        **body,
        "kind": "bigquery#table",
        "id": f"{project}:{dataset}.{table}",
        "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
        "schema": {"fields": list(body.get("schema", {}).get("fields", []))},
        "type": "TABLE",
        "creationTime": _millis(),
    }


def _with_counts(key: tuple[str, str, str]) -> dict[str, Any]:
    return {**store.tables[key], "numRows": str(store.rows.count(key))}


@router.get(API + "/datasets/{dataset}/tables/{table}")
def get_table(project: str, dataset: str, table: str) -> Response:
    """tables.get"""
    key = (project, dataset, table)
    if key not in store.tables:
        return _error(404, "notFound", f"Not found: Table {project}:{dataset}.{table}")
    return JSONResponse(_with_counts(key))


@router.post(API + "/datasets/{dataset}/tables")
async def insert_table(project: str, dataset: str, request: Request) -> Response:
    """tables.insert"""
    body = await request.json()
    table = body.get("tableReference", {}).get("tableId", "")
    with store.lock:
        if (project, dataset) not in store.datasets:
            return _error(404, "notFound", f"Not found: Dataset {project}:{dataset}")
        key = (project, dataset, table)
        if key in store.tables:
            return _error(409, "duplicate", f"Already Exists: Table {project}:{dataset}.{table}")
        resource = _table_resource(project, dataset, table, body)
        try:
            store.rows.create(key, resource["schema"]["fields"])
        except LoadError as exc:
            return _error(400, "invalid", exc.message)
        store.tables[key] = resource
        return JSONResponse(_with_counts(key))


# ---- load jobs ----------------------------------------------------------------------------------
def _schema_difference(provided: list[dict], existing: list[dict], table_id: str) -> str | None:
    current = {f["name"]: f for f in existing}
    for field in provided:
        old = current.get(field["name"])
        if old is None:
            return (
                f"Provided Schema does not match Table {table_id}. "
                f"Cannot add fields (field: {field['name']})"
            )
        if old.get("type", "").upper() != field.get("type", "").upper():
            return (
                f"Provided Schema does not match Table {table_id}. Field {field['name']} has "
                f"changed type from {old['type']} to {field['type']}"
            )
        old_mode, new_mode = old.get("mode", "NULLABLE"), field.get("mode", "NULLABLE")
        if old_mode != new_mode:
            return (
                f"Provided Schema does not match Table {table_id}. Field {field['name']} has "
                f"changed mode from {old_mode} to {new_mode}"
            )
    return None


def _run_load(project: str, job: dict[str, Any], path: str, size: int) -> dict[str, Any]:
    load = job.get("configuration", {}).get("load", {})
    ref = load.get("destinationTable", {})
    key = (ref.get("projectId", project), ref.get("datasetId", ""), ref.get("tableId", ""))
    table_id = f"{key[0]}:{key[1]}.{key[2]}"
    disposition = load.get("writeDisposition") or "WRITE_APPEND"
    fields = load.get("schema", {}).get("fields")
    if (load.get("sourceFormat") or "CSV") != "NEWLINE_DELIMITED_JSON":
        raise LoadError("The sandbox loads newline-delimited JSON only")
    with store.lock:
        if key[:2] not in store.datasets:
            raise LoadError(
                f"Not found: Dataset {key[0]}:{key[1]}",
                [{"reason": "notFound", "message": f"Not found: Dataset {key[0]}:{key[1]}"}],
            )
        existing = store.tables.get(key)
        if existing is None and load.get("createDisposition") == "CREATE_NEVER":
            raise LoadError(
                f"Not found: Table {table_id}",
                [{"reason": "notFound", "message": f"Not found: Table {table_id}"}],
            )
        if existing is not None and fields and disposition != "WRITE_TRUNCATE":
            difference = _schema_difference(fields, existing["schema"]["fields"], table_id)
            if difference:
                raise LoadError(difference)
        if existing is not None and not fields:
            fields = existing["schema"]["fields"]
        if not fields:
            raise LoadError("No schema specified on job or table.")
        if existing is not None and disposition == "WRITE_EMPTY" and store.rows.count(key):
            raise LoadError(
                f"Already Exists: Table {table_id}",
                [{"reason": "duplicate", "message": f"Already Exists: Table {table_id}"}],
            )
        replace = existing is None or disposition == "WRITE_TRUNCATE"
        loaded = store.rows.load(key, fields, path, load, replace=replace)
        if replace:
            keep = existing or {}
            store.tables[key] = {
                **_table_resource(*key, {"schema": {"fields": fields}}),
                **{k: keep[k] for k in ("timePartitioning", "clustering") if k in keep},
                "schema": {"fields": fields},
            }
    return {"load": {"outputRows": str(loaded), "inputFiles": "1", "inputFileBytes": str(size)}}


def _finish_job(project: str, job: dict[str, Any], run) -> dict[str, Any]:
    """Run the job at once (the sandbox has no queue) and store its final resource."""
    ref = dict(job.get("jobReference") or {})
    ref.setdefault("jobId", f"sandbox_{uuid.uuid4().hex}")
    ref["projectId"] = project
    ref.setdefault("location", "US")
    resource = {
        **job,
        "kind": "bigquery#job",
        "id": f"{project}:{ref['location']}.{ref['jobId']}",
        "jobReference": ref,
        "user_email": "sandbox@example.com",
        "status": {"state": "DONE"},
        "statistics": {"creationTime": _millis(), "startTime": _millis()},
    }
    try:
        resource["statistics"].update(run())
    except LoadError as exc:
        resource["status"] = {
            "state": "DONE",
            "errorResult": {**exc.errors[0], "message": exc.message},
            "errors": exc.errors,
        }
    resource["statistics"]["endTime"] = _millis()
    with store.lock:
        store.jobs[(project, ref["jobId"])] = resource
    return resource


def _multipart(body: bytes, content_type: str) -> tuple[dict[str, Any], bytes]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ValueError("multipart upload without a boundary")
    boundary = b"--" + match.group(1).encode()
    parts = [p for p in body.split(boundary) if p.strip() not in (b"", b"--")]
    if len(parts) != 2:
        raise ValueError("a multipart upload has two parts: metadata, then media")
    metadata_part, media_part = (p.split(b"\r\n\r\n", 1)[1] for p in parts)
    media = media_part.removesuffix(b"\r\n")
    return json.loads(metadata_part), media


def _spool() -> Any:
    return tempfile.NamedTemporaryFile(prefix="bigquery-upload-", suffix=".ndjson", delete=False)


async def _load_spooled(project: str, job: dict[str, Any], spool: Any, size: int) -> Response:
    """Run the load job on a finished upload's file (off the event loop), then drop the file."""
    spool.close()
    try:
        resource = await run_in_threadpool(
            _finish_job, project, job, lambda: _run_load(project, job, spool.name, size)
        )
    finally:
        _discard(spool)
    return JSONResponse(resource)


@router.post(UPLOAD)
async def upload_job(project: str, request: Request, uploadType: str = "") -> Response:
    """jobs.insert with media: multipart (one request) or the start of a resumable upload."""
    body = await request.body()
    if uploadType == "multipart":
        try:
            job, media = _multipart(body, request.headers.get("content-type", ""))
        except (ValueError, IndexError) as exc:
            return _error(400, "invalid", f"Bad multipart upload: {exc}")
        spool = _spool()
        spool.write(media)
        return await _load_spooled(project, job, spool, len(media))
    if uploadType == "resumable":
        upload_id = uuid.uuid4().hex
        with store.lock:
            store.uploads[upload_id] = {
                "job": json.loads(body or b"{}"),
                "file": _spool(),
                "size": 0,
            }
        location = str(request.url.include_query_params(upload_id=upload_id))
        return Response(status_code=200, headers={"location": location})
    return _error(400, "invalid", f"Unsupported uploadType {uploadType!r}")


@router.put(UPLOAD)
async def upload_chunk(project: str, request: Request, upload_id: str = "") -> Response:
    """One chunk of a resumable upload (`Content-Range`); the last one runs the load job."""
    upload = store.uploads.get(upload_id)
    if upload is None:
        return _error(404, "notFound", f"No upload session {upload_id!r}")
    body = await request.body()
    match = re.fullmatch(
        r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", request.headers.get("content-range", "")
    )
    if not match:
        return _error(400, "invalid", "Content-Range is required")
    first, _last, total = match.groups()
    if first is not None and int(first) != upload["size"]:
        return _error(400, "invalid", f"chunk starts at {first}, expected {upload['size']}")
    upload["file"].write(body)
    upload["size"] += len(body)
    if total == "*" or int(total) > upload["size"]:
        return Response(status_code=308, headers={"range": f"bytes=0-{upload['size'] - 1}"})
    with store.lock:
        store.uploads.pop(upload_id, None)
    return await _load_spooled(project, upload["job"], upload["file"], upload["size"])


# ---- query jobs: the exporter's MERGE -----------------------------------------------------------
def _table_key(table: exp.Table, project: str) -> tuple[str, str, str]:
    return (table.catalog or project, table.db, table.name)


def _merge_plan(sql: str, project: str) -> dict[str, Any]:
    """The MERGE's parts, or LoadError(invalidQuery) when it is not the supported shape:
    `MERGE target AS t USING source AS s ON t.k = s.k [AND …] WHEN MATCHED THEN UPDATE SET
    c = s.c, … WHEN NOT MATCHED THEN INSERT (c, …) VALUES (s.c, …)`."""

    def refuse(why: str) -> LoadError:
        message = f"The sandbox runs only the exporter's MERGE statement: {why}"
        return LoadError(message, [{"reason": "invalidQuery", "message": message}])

    try:
        statement = sqlglot.parse_one(sql, read="bigquery")
    except sqlglot.errors.ParseError as exc:
        raise refuse(f"syntax error: {exc}") from None
    if not isinstance(statement, exp.Merge):
        raise refuse(f"{type(statement).__name__.upper()} is not a MERGE")
    target, source = statement.this, statement.args.get("using")
    if not isinstance(target, exp.Table) or not isinstance(source, exp.Table):
        raise refuse("target and source must be tables")
    t_alias, s_alias = target.alias, source.alias
    keys = []
    for eq in (
        statement.args["on"].flatten()
        if isinstance(statement.args["on"], exp.And)
        else [statement.args["on"]]
    ):
        if not isinstance(eq, exp.EQ) or not all(
            isinstance(side, exp.Column) for side in (eq.this, eq.expression)
        ):
            raise refuse("ON must compare target and source columns with AND")
        left, right = eq.this, eq.expression
        if left.table != t_alias or right.table != s_alias or left.name != right.name:
            raise refuse("ON must be t.<key> = s.<key>")
        keys.append(left.name)
    whens = statement.args.get("whens")
    clauses = whens.expressions if whens is not None else []
    update, insert = None, None
    for when in clauses:
        then = when.args.get("then")
        if (
            when.args.get("matched")
            and isinstance(then, exp.Update)
            and not when.args.get("condition")
        ):
            update = [(eq.this.name, eq.expression) for eq in then.expressions]
        elif (
            not when.args.get("matched")
            and isinstance(then, exp.Insert)
            and not when.args.get("condition")
        ):
            insert = (then.this.expressions, then.expression.expressions)
        else:
            raise refuse("only unconditional WHEN MATCHED UPDATE / WHEN NOT MATCHED INSERT")
    if update is None or insert is None:
        raise refuse("both WHEN MATCHED and WHEN NOT MATCHED are required")
    for name, value in update:
        if not (isinstance(value, exp.Column) and value.table == s_alias and value.name == name):
            raise refuse("UPDATE SET must assign each column its source value")
    names, values = insert
    if [c.name for c in names] != [v.name for v in values] or any(
        v.table != s_alias for v in values
    ):
        raise refuse("INSERT must insert each column's source value")
    return {
        "target": _table_key(target, project),
        "source": _table_key(source, project),
        "keys": keys,
        "update": [name for name, _ in update],
        "insert": [c.name for c in names],
    }


def _run_merge(project: str, sql: str) -> dict[str, Any]:
    plan = _merge_plan(sql, project)
    with store.lock:
        for key in (plan["target"], plan["source"]):
            if key not in store.tables:
                message = f"Not found: Table {key[0]}:{key[1]}.{key[2]}"
                raise LoadError(message, [{"reason": "notFound", "message": message}])
        target_fields = {f["name"]: f for f in store.tables[plan["target"]]["schema"]["fields"]}
        source_fields = {f["name"]: f for f in store.tables[plan["source"]]["schema"]["fields"]}
        for name in {*plan["update"], *plan["insert"], *plan["keys"]}:
            if name not in target_fields or name not in source_fields:
                message = f"Unrecognized name: {name}"
                raise LoadError(message, [{"reason": "invalidQuery", "message": message}])
            if target_fields[name]["type"] != source_fields[name]["type"]:
                message = (
                    f"Value of type {source_fields[name]['type']} cannot be assigned to "
                    f"{name}, which has type {target_fields[name]['type']}"
                )
                raise LoadError(message, [{"reason": "invalidQuery", "message": message}])
        inserted, updated = store.rows.merge(
            plan["target"], plan["source"], plan["keys"], plan["update"], plan["insert"]
        )
    return {
        "query": {
            "statementType": "MERGE",
            "numDmlAffectedRows": str(inserted + updated),
            "dmlStats": {
                "insertedRowCount": str(inserted),
                "updatedRowCount": str(updated),
                "deletedRowCount": "0",
            },
        }
    }


@router.post(API + "/jobs")
async def insert_job(project: str, request: Request) -> Response:
    """jobs.insert without media: a query job (the exporter's MERGE)."""
    job = await request.json()
    query = job.get("configuration", {}).get("query")
    if not query:
        return _error(400, "invalid", "The sandbox accepts query jobs here; loads go to /upload")
    if query.get("useLegacySql"):
        return _error(400, "invalid", "Legacy SQL is not supported")
    with store.lock:
        existing = store.jobs.get((project, (job.get("jobReference") or {}).get("jobId", "")))
    if existing is not None:
        return _error(409, "duplicate", f"Already Exists: Job {project}:{existing['id']}")
    return JSONResponse(_finish_job(project, job, lambda: _run_merge(project, query["query"])))


def _job_or_404(project: str, job_id: str) -> dict[str, Any] | JSONResponse:
    found = store.jobs.get((project, job_id))
    return (
        found
        if found is not None
        else _error(404, "notFound", f"Not found: Job {project}:{job_id}")
    )


@router.get(API + "/jobs/{job_id}")
def get_job(project: str, job_id: str) -> Response:
    """jobs.get"""
    found = _job_or_404(project, job_id)
    return found if isinstance(found, JSONResponse) else JSONResponse(found)


@router.get(API + "/queries/{job_id}")
def get_query_results(project: str, job_id: str) -> Response:
    """jobs.getQueryResults: a DML statement returns no rows, only its affected count."""
    found = _job_or_404(project, job_id)
    if isinstance(found, JSONResponse):
        return found
    error = found["status"].get("errorResult")
    if error:
        return _error(400, error.get("reason", "invalid"), error["message"])
    query = found["statistics"].get("query", {})
    return JSONResponse(
        {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": found["jobReference"],
            "jobComplete": True,
            "totalRows": "0",
            "rows": [],
            "schema": {"fields": []},
            "numDmlAffectedRows": query.get("numDmlAffectedRows", "0"),
            "cacheHit": False,
        }
    )


# ---- sandbox controls --------------------------------------------------------------------------
@control_router.get("/tables")
def list_tables() -> dict[str, Any]:
    """Every table with its row count."""
    with store.lock:
        return {
            "tables": [
                {"project": p, "dataset": d, "table": t, "rows": store.rows.count((p, d, t))}
                for (p, d, t) in sorted(store.tables)
            ]
        }


@control_router.get("/tables/{dataset}/{table}")
def table_rows(dataset: str, table: str, project: str | None = None) -> Response:
    """A table's schema and stored rows (as loaded: timestamps ISO 8601 UTC)."""
    with store.lock:
        for (p, d, t), resource in store.tables.items():
            if d == dataset and t == table and (project is None or p == project):
                rows = store.rows.rows((p, d, t), resource["schema"]["fields"])
                return JSONResponse({"schema": resource["schema"], "rows": rows})
    return _error(404, "notFound", f"Not found: Table {dataset}.{table}")
