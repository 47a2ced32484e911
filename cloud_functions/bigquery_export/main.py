"""HTTP Cloud Function that Cloud Scheduler calls (e.g. every 15 minutes) to export to BigQuery.

Deployed on its own (it imports nothing from the project): it calls
`POST {INGEST_BASE_URL}/warehouse/export` with the service API key (`X-API-Key`), optionally for
the tables named in a JSON body `{"tables": ["trips", ...]}` (or `?table=` parameters), and relays
the answer; a failed table is a 502, so Scheduler's retry policy sees a failure as a failure.
Env: `INGEST_BASE_URL`, `SERVICE_API_KEY`, optional `EXPORT_TIMEOUT_SECONDS` (default 540).
"""

from __future__ import annotations

import json
import os
import re

import functions_framework
import httpx

_TABLE = re.compile(r"^[a-z][a-z_]{1,62}$")


def _reply(body: dict, status: int) -> tuple[str, int, dict[str, str]]:
    return json.dumps(body), status, {"Content-Type": "application/json"}


@functions_framework.http
def bigquery_export(request):
    """Trigger one incremental export and relay the ingest app's per-table runs."""
    payload = request.get_json(silent=True) or {}
    tables = payload.get("tables") or request.args.getlist("table")
    if not isinstance(tables, list) or not all(
        isinstance(t, str) and _TABLE.match(t) for t in tables
    ):
        return _reply(
            {"error": "bad_request", "detail": "tables must be a list of table names"}, 400
        )
    base_url = os.environ.get("INGEST_BASE_URL", "").rstrip("/")
    api_key = os.environ.get("SERVICE_API_KEY", "")
    if not base_url or not api_key:
        return _reply(
            {
                "error": "not_configured",
                "detail": "INGEST_BASE_URL and SERVICE_API_KEY are required",
            },
            500,
        )
    timeout = float(os.environ.get("EXPORT_TIMEOUT_SECONDS", "540"))
    try:
        response = httpx.post(
            f"{base_url}/warehouse/export",
            params=[("table", t) for t in tables],
            headers={"X-API-Key": api_key},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        return _reply(
            {"error": "ingest_unreachable", "detail": f"{type(exc).__name__} calling ingest"}, 502
        )
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:500]}
    if response.status_code >= 400:
        return _reply(
            {"error": "export_refused", "ingest_status": response.status_code, **body}, 502
        )
    return _reply(body, response.status_code)
