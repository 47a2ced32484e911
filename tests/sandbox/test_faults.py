"""Fault injection and the request recorder, over real HTTP against the sandbox."""

from __future__ import annotations

import time

import httpx
import pytest

from sandbox.credentials import SAMSARA_TOKEN


@pytest.fixture
def http(sandbox_clean):
    with httpx.Client(base_url=sandbox_clean.url, timeout=5.0) as client:
        yield client


SAMSARA = {"Authorization": f"Bearer {SAMSARA_TOKEN}"}


def test_armed_429_uses_the_vendor_shape_and_is_consumed(sandbox_clean, http):
    sandbox_clean.fault("samsara", "429", count=2, retry_after=0.4)
    assert sandbox_clean.faults()[0]["remaining"] == 2

    first = http.get("/samsara/fleet/vehicles", headers=SAMSARA)
    assert first.status_code == 429 and first.headers["retry-after"] == "0.4"
    assert set(first.json()) == {"message", "requestId"}
    assert http.get("/samsara/fleet/vehicles", headers=SAMSARA).status_code == 429
    assert http.get("/samsara/fleet/vehicles", headers=SAMSARA).status_code == 200
    assert sandbox_clean.faults() == []


def test_429_shapes_for_slack_and_ditat(sandbox_clean, http):
    sandbox_clean.fault("slack", "429", retry_after=0.25)
    slack = http.post("/slack/api/chat.postMessage")
    assert slack.status_code == 429 and slack.json() == {"ok": False, "error": "ratelimited"}
    assert slack.headers["retry-after"] == "1"  # slack_sdk parses whole seconds

    sandbox_clean.fault("ditat", "429")
    ditat = http.post("/ditat/api/tms/lookup/drivers")
    assert ditat.json()["error"]["code"] == 429 and ditat.json()["data"] is None


def test_faults_are_per_vendor(sandbox_clean, http):
    sandbox_clean.fault("ditat", "5xx", status=502)
    assert http.get("/samsara/fleet/vehicles", headers=SAMSARA).status_code == 200
    assert http.post("/ditat/api/tms/lookup/drivers").status_code == 502


def test_header_fault_slow_and_malformed(sandbox_clean, http):
    started = time.monotonic()
    slow = http.get(
        "/samsara/fleet/vehicles",
        headers={**SAMSARA, "X-Sandbox-Fault": "slow", "X-Sandbox-Delay": "0.2"},
    )
    assert slow.status_code == 200 and time.monotonic() - started >= 0.2

    bad = http.get("/samsara/fleet/vehicles", headers={**SAMSARA, "X-Sandbox-Fault": "malformed"})
    assert bad.status_code == 200
    with pytest.raises(ValueError):
        bad.json()


def test_bad_fault_requests_are_refused(sandbox_clean, http):
    assert http.post("/_sandbox/faults", json={"vendor": "nope", "kind": "429"}).status_code == 400
    assert http.post("/_sandbox/faults", json={"vendor": "vapi", "kind": "boom"}).status_code == 400


def test_recorder_keeps_method_path_query_headers_and_body(sandbox_clean, http):
    http.post(
        "/ditat/api/tms/lookup/trucks?x=1",
        json={"pageNumber": 2},
        headers={"Ditat-Account-Id": "acct"},
    )
    [sent] = sandbox_clean.requests("ditat")
    assert sent["method"] == "POST" and sent["path"] == "/ditat/api/tms/lookup/trucks"
    assert sent["query"] == {"x": "1"} and sent["json"] == {"pageNumber": 2}
    assert sent["headers"]["ditat-account-id"] == "acct"
    assert sandbox_clean.requests("samsara") == []


def test_reset_clears_faults_and_requests(sandbox_clean, http):
    sandbox_clean.fault("vapi", "5xx", count=5)
    http.get("/samsara/fleet/vehicles", headers=SAMSARA)
    sandbox_clean.reset()
    assert sandbox_clean.faults() == [] and sandbox_clean.requests() == []
