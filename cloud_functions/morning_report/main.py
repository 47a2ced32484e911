"""HTTP Cloud Function that Cloud Scheduler calls each morning to build and send the report.

Deployed on its own (it imports nothing from the project): it calls
`POST {API_BASE_URL}/reports/morning/generate` with the service API key (`X-API-Key`), passing
on `date` (YYYY-MM-DD, default today) and `terminal` from its own query string or JSON body,
and relays the answer, so Scheduler's retry policy sees a failure as a failure.
Env: `API_BASE_URL`, `SERVICE_API_KEY`, optional `MORNING_REPORT_TIMEOUT_SECONDS` (default 120).
"""

from __future__ import annotations

import json
import os

import functions_framework
import httpx

FORWARDED = ("date", "terminal", "deliver")


def _reply(body: dict, status: int) -> tuple[str, int, dict[str, str]]:
    return json.dumps(body), status, {"Content-Type": "application/json"}


@functions_framework.http
def morning_report(request):
    """Generate and deliver the morning report on the main API."""
    base_url = os.environ.get("API_BASE_URL", "").rstrip("/")
    api_key = os.environ.get("SERVICE_API_KEY", "")
    if not base_url or not api_key:
        return _reply(
            {"error": "not_configured", "detail": "API_BASE_URL and SERVICE_API_KEY are required"},
            500,
        )
    body = request.get_json(silent=True) or {}
    params = {k: str(v) for k, v in {**body, **request.args}.items() if k in FORWARDED}
    timeout = float(os.environ.get("MORNING_REPORT_TIMEOUT_SECONDS", "120"))
    try:
        response = httpx.post(
            f"{base_url}/reports/morning/generate",
            params=params,
            headers={"X-API-Key": api_key},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        return _reply(
            {"error": "api_unreachable", "detail": f"{type(exc).__name__} calling the API"}, 502
        )
    try:
        answer = response.json()
    except ValueError:
        answer = {"detail": response.text[:500]}
    if response.status_code >= 400:
        return _reply(
            {"error": "morning_report_refused", "api_status": response.status_code, **answer}, 502
        )
    return _reply(answer, response.status_code)
