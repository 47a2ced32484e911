"""HTTP Cloud Function that Cloud Scheduler calls (e.g. every 5 minutes) to reconcile calls.

Deployed on its own (it imports nothing from the project): it calls
`POST {API_BASE_URL}/calls/reconcile` with the service API key (`X-API-Key`), which polls VAPI /
ElevenLabs for calls whose final webhook never came, and relays the answer so Scheduler's retry
policy sees a failure as a failure. Env: `API_BASE_URL`, `SERVICE_API_KEY`, optional
`RECONCILE_TIMEOUT_SECONDS` (default 120).
"""

from __future__ import annotations

import json
import os

import functions_framework
import httpx


def _reply(body: dict, status: int) -> tuple[str, int, dict[str, str]]:
    return json.dumps(body), status, {"Content-Type": "application/json"}


@functions_framework.http
def reconcile_calls(request):
    """Trigger one reconciliation pass on the main API."""
    base_url = os.environ.get("API_BASE_URL", "").rstrip("/")
    api_key = os.environ.get("SERVICE_API_KEY", "")
    if not base_url or not api_key:
        return _reply(
            {"error": "not_configured", "detail": "API_BASE_URL and SERVICE_API_KEY are required"},
            500,
        )
    timeout = float(os.environ.get("RECONCILE_TIMEOUT_SECONDS", "120"))
    try:
        response = httpx.post(
            f"{base_url}/calls/reconcile", headers={"X-API-Key": api_key}, timeout=timeout
        )
    except httpx.HTTPError as exc:
        return _reply(
            {"error": "api_unreachable", "detail": f"{type(exc).__name__} calling the API"}, 502
        )
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:500]}
    if response.status_code >= 400:
        return _reply(
            {"error": "reconcile_refused", "api_status": response.status_code, **body}, 502
        )
    return _reply(body, response.status_code)
