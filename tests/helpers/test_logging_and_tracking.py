"""Log lines are Cloud Logging JSON with the request id; secrets never leave the process."""

import json
import logging

from fastapi import HTTPException
from pydantic import SecretStr

from helpers.cloud_logger import CloudJsonFormatter, redact, request_id_var
from helpers.error_tracking import before_send
from helpers.errors import NotFound, UpstreamUnavailable


def _record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("fleet", level, __file__, 1, message, None, None)


def test_json_line_has_severity_message_and_request_id():
    token = request_id_var.set("req-42")
    try:
        line = json.loads(CloudJsonFormatter().format(_record("ingest failed", logging.WARNING)))
    finally:
        request_id_var.reset(token)
    assert line["severity"] == "WARNING"
    assert line["message"] == "ingest failed"
    assert line["request_id"] == "req-42"


def test_secrets_are_masked_in_log_lines():
    text = (
        "GET /v1/current.json?key=abc123&q=1,2 Authorization: Bearer eyJhbGc.payload.sig "
        "xi-api-key=sk_live_1 slack xoxb-1234-abcd password=hunter2"
    )
    masked = redact(text)
    for secret in ("abc123", "eyJhbGc.payload.sig", "sk_live_1", "xoxb-1234-abcd", "hunter2"):
        assert secret not in masked
    assert "q=1,2" in masked
    line = CloudJsonFormatter().format(_record(text))
    assert "hunter2" not in line


def _event(level: str = "error") -> dict:
    return {
        "level": level,
        "request": {
            "headers": {"Authorization": "Bearer abc", "User-Agent": "x"},
            "query_string": "token=abc",
            "data": {"password": "p"},
        },
        "exception": {"values": [{"value": "failed with api_key=abc"}]},
    }


def test_before_send_drops_expected_and_low_level_events():
    assert before_send(_event(), {"exc_info": (None, HTTPException(404), None)}) is None
    assert before_send(_event(), {"exc_info": (None, NotFound("x"), None)}) is None
    assert before_send(_event("warning"), {}) is None


def test_before_send_keeps_real_errors_without_secrets():
    event = before_send(_event(), {"exc_info": (None, RuntimeError("boom"), None)})
    assert event is not None
    assert event["request"]["headers"]["Authorization"] == "[Filtered]"
    assert "abc" not in event["request"]["query_string"]
    assert "data" not in event["request"]
    assert "abc" not in event["exception"]["values"][0]["value"]
    upstream = before_send(_event(), {"exc_info": (None, UpstreamUnavailable("x"), None)})
    assert upstream is not None  # a vendor outage is worth knowing about


def test_unhandled_error_reaches_sentry_scrubbed(session):
    """End to end: an unhandled error in a route is captured once, without the bearer token."""
    import sentry_sdk
    from fastapi import APIRouter
    from fastapi.testclient import TestClient
    from sentry_sdk.transport import Transport

    from config import get_settings
    from helpers.error_tracking import init_error_tracking
    from services.http.app_factory import build_app

    captured: list = []

    class CapturingTransport(Transport):
        def capture_envelope(self, envelope) -> None:
            if event := envelope.get_event():
                captured.append(event)

    settings = get_settings().model_copy(
        update={"SENTRY_DSN": SecretStr("https://public@sentry.example/1")}
    )
    assert init_error_tracking(settings, transport=CapturingTransport)
    router = APIRouter()

    @router.get("/explode")
    def explode() -> None:
        raise RuntimeError("exploded")

    @router.get("/missing")
    def missing() -> None:
        raise NotFound("nope")

    try:
        client = TestClient(build_app(title="t", routers=[router]), raise_server_exceptions=False)
        client.get("/missing")
        client.get("/explode", headers={"Authorization": "Bearer top-secret-token"})
        sentry_sdk.flush()
    finally:
        sentry_sdk.init(dsn=None)
    types = [v["type"] for e in captured for v in e.get("exception", {}).get("values", [])]
    assert types == ["RuntimeError"]  # the 404 was an expected outcome, not an error
    assert "top-secret-token" not in str(captured)
