"""A provider is one module plus its registration: a fake provider registered at run time is
dialed, receives a signed webhook at `/webhooks/{provider}` and is polled through the same
generic paths as VAPI and ElevenLabs; and no code outside logic/calls/voice/ branches on a
provider's name."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config import get_settings
from logic.calls.placement import CallRequest
from logic.calls.reconcile import reconcile_calls
from logic.calls.voice import registry
from models.call import CallOutcome, CallStatus
from tests import fake_voice
from tests.factories import make_driver
from tests.factories_calls import make_agent_profile, place_now

NOON = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def fake_provider():
    registry.register(fake_voice.FakeVoiceProvider)
    fake_voice.VENDOR_CALLS.clear()
    providers = registry.CallProviders.from_settings(get_settings())
    yield providers
    providers.close()
    registry.unregister(fake_voice.NAME)


def _deliver(client, body: dict, token: str | None = fake_voice.TOKEN):
    headers = {fake_voice.TOKEN_HEADER: token} if token else {}
    return client.post(f"/webhooks/{fake_voice.NAME}", content=json.dumps(body), headers=headers)


def test_a_registered_provider_is_dialed_receives_webhooks_and_is_polled(
    client, session, fake_provider
):
    driver = make_driver(session)
    make_agent_profile(session, provider=fake_voice.NAME, purpose="custom")

    call = place_now(
        session, fake_provider, CallRequest(driver_id=driver.id, provider="fakevoice"), now=NOON
    )

    assert call.status == CallStatus.DIALING and call.provider == fake_voice.NAME
    [(vendor_id, record)] = fake_voice.VENDOR_CALLS.items()
    assert call.provider_call_id == vendor_id and record["hub_call_id"] == call.id

    # Its webhook: verified and parsed by its module, stored and applied by the generic inbox.
    assert _deliver(client, {"call": vendor_id, "state": "ringing"}, token=None).status_code == 400
    refused = _deliver(client, {"call": vendor_id, "state": "ringing"}, token="wrong")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_signature"
    ignored = _deliver(client, {"call": vendor_id, "state": "speech-update"})
    assert ignored.json() == {"ok": True, "stored": False, "duplicate": False, "ignored": True}
    stored = _deliver(client, {"call": vendor_id, "state": "ringing", "hub_call_id": call.id})
    assert stored.status_code == 200 and stored.json()["stored"] is True
    session.refresh(call)
    assert call.status == CallStatus.RINGING

    # The final report never comes: reconciliation polls the fake like any vendor.
    still = reconcile_calls(fake_provider, after_minutes=0, now=NOON + timedelta(minutes=30))
    session.refresh(call)
    assert still.still_running == 1 and call.report_received_at is None
    record["done"] = True
    filled = reconcile_calls(fake_provider, after_minutes=0, now=NOON + timedelta(minutes=31))
    session.refresh(call)
    assert filled.filled == 1 and filled.errors == []
    assert call.status == CallStatus.ENDED and call.outcome == CallOutcome.COMPLETED
    assert call.summary == "polled"
    assert len(fake_voice.VENDOR_CALLS) == 1  # polled and reconciled, never dialed again


def test_an_unregistered_provider_has_no_webhook(client):
    answer = client.post("/webhooks/nosuchvendor", content=b"{}")
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"
    assert "nosuchvendor" in answer.json()["detail"]


# `provider == CallProvider.VAPI`, `call.provider != "elevenlabs"`, `provider in ("vapi", …)`,
# `match provider` … anywhere a vendor's name decides what code runs.
BRANCH = re.compile(
    r"""(==|!=|\bis\b|\bin\b)\s*[\(\[{]?\s*(CallProvider\.\w+|["'](vapi|elevenlabs)["'])"""
    r"""|(CallProvider\.\w+|["'](vapi|elevenlabs)["'])\s*(==|!=|\bin\b)"""
    r"""|\bmatch\s+[\w.]*provider"""
    r"""|\bcase\s+(CallProvider\.\w+|["'](vapi|elevenlabs)["'])""",
    re.IGNORECASE,
)


def _provider_branches() -> list[str]:
    found = []
    for folder in ("logic", "services", "models", "cli.py", "helpers", "utils"):
        paths = [ROOT / folder] if folder.endswith(".py") else (ROOT / folder).rglob("*.py")
        for path in paths:
            if "voice" in path.relative_to(ROOT).parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if BRANCH.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_no_provider_branches_outside_the_voice_package():
    assert _provider_branches() == []


def test_the_branch_check_would_catch_one():
    samples = [
        "    if call.provider == CallProvider.VAPI:",
        "if provider != 'elevenlabs':",
        'elif kind in ("vapi", "elevenlabs"):',
        "    match call.provider:",
    ]
    assert all(BRANCH.search(sample) for sample in samples)
    assert not BRANCH.search("provider=due.step.provider or CallProvider.VAPI,")


def test_the_api_takes_any_registered_provider_and_names_an_unknown_one(
    client, session, fake_provider, auth_headers
):
    admin = auth_headers("admin")
    profile = {
        "name": "fake custom",
        "provider": fake_voice.NAME,
        "purpose": "custom",
        "assistant_id": "fake-agent",
        "phone_number_id": "fake-number",
    }
    created = client.post("/call-agent-profiles", json=profile, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["provider"] == fake_voice.NAME

    unknown = client.post(
        "/call-agent-profiles", json={**profile, "name": "x", "provider": "nosuch"}, headers=admin
    )
    assert unknown.status_code == 422 and unknown.json()["error"] == "validation_error"
    [error] = unknown.json()["errors"]
    assert error["type"] == "unknown_provider" and error["loc"] == ["body", "provider"]
    assert "fakevoice" in error["msg"] and "vapi" in error["msg"]
    driver = make_driver(session)
    refused = client.post(
        "/calls", json={"driver_id": driver.id, "provider": "nosuch"}, headers=admin
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["type"] == "unknown_provider"
