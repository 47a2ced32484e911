"""HTTP Cloud Function that Cloud Scheduler calls to trigger one ingest on the ingest app.

Deployed on its own (it imports nothing from the project). Cloud Scheduler sends a JSON body
`{"source": "samsara", "entity": "locations"}` (or the same as query parameters); the function
calls `POST {INGEST_BASE_URL}/ingest/{source}/{entity}?background=true` with the service API key
(`X-API-Key`) and answers with the ingest app's status and body, so Scheduler's own retry policy
sees a failure as a failure. Env: `INGEST_BASE_URL`, `SERVICE_API_KEY`, optional
`INGEST_TIMEOUT_SECONDS` (default 30).
"""

from __future__ import annotations

import json
import os
import re

import functions_framework
import httpx

# Only path-safe names travel into the URL; the ingest app validates the entity itself.
_NAME = re.compile(r"^[a-z][a-z-]{1,39}$")
SOURCES = ("samsara", "ditat")


def _reply(body: dict, status: int) -> tuple[str, int, dict[str, str]]:
    return json.dumps(body), status, {"Content-Type": "application/json"}


@functions_framework.http
def scheduled_ingest(request):
    """Trigger one background ingest run and relay the ingest app's answer."""
    payload = request.get_json(silent=True) or {}
    source = str(payload.get("source") or request.args.get("source") or "")
    entity = str(payload.get("entity") or request.args.get("entity") or "")
    if source not in SOURCES or not _NAME.match(entity):
        return _reply(
            {"error": "bad_request", "detail": "give source (samsara|ditat) and entity"}, 400
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
    timeout = float(os.environ.get("INGEST_TIMEOUT_SECONDS", "30"))
    try:
        response = httpx.post(
            f"{base_url}/ingest/{source}/{entity}",
            params={"background": "true"},
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
    if response.status_code == 409:
        # The previous tick's run is still going: not a failure Scheduler should retry.
        return _reply({"status": "already_running", **body}, 200)
    if response.status_code >= 400:
        return _reply(
            {"error": "ingest_refused", "ingest_status": response.status_code, **body}, 502
        )
    return _reply(body, response.status_code)
