"""HTTP Cloud Function that Cloud Scheduler calls (every minute) to run one campaign tick.

Deployed on its own (it imports nothing from the project): it calls
`POST {API_BASE_URL}/campaigns/tick` with the service API key (`X-API-Key`) and relays the
answer, so Scheduler's retry policy sees a failure as a failure. Env: `API_BASE_URL`,
`SERVICE_API_KEY`, optional `TICK_TIMEOUT_SECONDS` (default 120: a tick dials up to
`CAMPAIGN_TICK_MAX_DIALS` calls).
"""

from __future__ import annotations

import json
import os

import functions_framework
import httpx


def _reply(body: dict, status: int) -> tuple[str, int, dict[str, str]]:
    return json.dumps(body), status, {"Content-Type": "application/json"}


@functions_framework.http
def campaigns_tick(request):
    """Trigger one campaign tick (outcomes recorded, due targets claimed and dialed)."""
    base_url = os.environ.get("API_BASE_URL", "").rstrip("/")
    api_key = os.environ.get("SERVICE_API_KEY", "")
    if not base_url or not api_key:
        return _reply(
            {"error": "not_configured", "detail": "API_BASE_URL and SERVICE_API_KEY are required"},
            500,
        )
    timeout = float(os.environ.get("TICK_TIMEOUT_SECONDS", "120"))
    try:
        response = httpx.post(
            f"{base_url}/campaigns/tick", headers={"X-API-Key": api_key}, timeout=timeout
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
        return _reply({"error": "tick_refused", "api_status": response.status_code, **body}, 502)
    return _reply(body, response.status_code)
