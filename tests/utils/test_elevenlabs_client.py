"""ElevenLabs client against the sandbox: outbound call and batch bodies, camelCase `callSid`,
`success:false` at 200, scalar-only dynamic variables, retry rules and the webhook HMAC helper."""

from __future__ import annotations

import time

import httpx
import pytest

from config import Settings
from helpers.errors import UpstreamNotConfigured
from sandbox.credentials import ELEVENLABS_API_KEY, ELEVENLABS_WEBHOOK_SECRET
from utils.elevenlabs_client import (
    BatchRecipient,
    CallNotStarted,
    build_elevenlabs_client,
    sign_elevenlabs_payload,
    verify_elevenlabs_signature,
)
from utils.http import VendorAuthError, VendorResponseError, VendorTransientError
from utils.signatures import SignatureInvalid, SignatureMissing, SignatureNotConfigured

DRIVER = "+12015550123"


@pytest.fixture
def eleven(sandbox_clean):
    httpx.post(
        f"{sandbox_clean.url}/_sandbox/webhooks",
        json={"vendor": "elevenlabs", "url": None, "delay_seconds": 0.01},
    ).raise_for_status()
    client = build_elevenlabs_client(Settings(**sandbox_clean.settings_env()), retry_wait=0)
    yield client
    client.close()


def _call(client, number: str = DRIVER):
    return client.outbound_call(
        agent_id="agent_hos",
        agent_phone_number_id="phnum_dispatch",
        to_number=number,
        dynamic_variables={"driver_first_name": "Jo", "late_minutes": 40, "urgent": True},
        user_id="driver-4411",
    )


def _wait_for(predicate, timeout: float = 3.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def test_outbound_call_body_headers_and_camelcase_call_sid(eleven, sandbox_clean) -> None:
    call = _call(eleven)

    [sent] = sandbox_clean.requests("elevenlabs")
    assert sent["method"] == "POST"
    assert sent["path"] == "/elevenlabs/v1/convai/twilio/outbound-call"
    assert sent["headers"]["xi-api-key"] == ELEVENLABS_API_KEY
    assert "authorization" not in sent["headers"]
    assert sent["json"] == {
        "agent_id": "agent_hos",
        "agent_phone_number_id": "phnum_dispatch",
        "to_number": DRIVER,
        "conversation_initiation_client_data": {
            "dynamic_variables": {"driver_first_name": "Jo", "late_minutes": 40, "urgent": True},
            "user_id": "driver-4411",
        },
    }
    assert call.conversation_id.startswith("conv_")
    assert call.call_sid and call.call_sid.startswith("CA")


def test_conversation_after_the_call(eleven) -> None:
    call = _call(eleven)
    done = _wait_for(
        lambda: (c := eleven.get_conversation(call.conversation_id)).status == "done" and c
    )
    assert done, "the sandbox call never finished"
    assert done.call_successful == "success"
    assert "Jo" in (done.summary or "")
    assert done.transcript[0].role == "agent"
    assert isinstance(done.data_collection["delay_minutes"], int)
    assert done.dynamic_variables["late_minutes"] == 40
    assert done.started_at is not None and done.duration_secs


def test_nested_dynamic_variables_are_refused_before_sending(eleven, sandbox_clean) -> None:
    with pytest.raises(ValueError, match="load"):
        eleven.outbound_call(
            agent_id="a",
            agent_phone_number_id="p",
            to_number=DRIVER,
            dynamic_variables={"load": {"id": "L-1"}},
        )
    assert sandbox_clean.requests("elevenlabs") == []


def test_fake_validates_like_fastapi(sandbox_clean) -> None:
    response = httpx.post(
        f"{sandbox_clean.vendor_url('elevenlabs')}/v1/convai/twilio/outbound-call",
        headers={"xi-api-key": ELEVENLABS_API_KEY},
        json={
            "agent_id": "a",
            "to_number": DRIVER,
            "conversation_initiation_client_data": {"dynamic_variables": {"x": [1, 2]}},
        },
    )
    assert response.status_code == 422
    locations = [tuple(d["loc"]) for d in response.json()["detail"]]
    assert ("body", "agent_phone_number_id") in locations
    assert any(
        loc[:4] == ("body", "conversation_initiation_client_data", "dynamic_variables", "x")
        for loc in locations
    )


def test_success_false_at_200_is_call_not_started(eleven, sandbox_clean) -> None:
    with pytest.raises(CallNotStarted, match="Invalid phone number"):
        _call(eleven, "2015550123")
    assert len(sandbox_clean.requests("elevenlabs")) == 1


def test_wrong_key_is_an_auth_error(sandbox_clean) -> None:
    env = {**sandbox_clean.settings_env(), "ELEVENLABS_API_KEY": "sk_wrong"}
    with pytest.raises(VendorAuthError, match="invalid_api_key"):
        build_elevenlabs_client(Settings(**env)).get_conversation("conv_x")


def test_batch_submit_and_status(eleven, sandbox_clean) -> None:
    batch = eleven.submit_batch(
        call_name="Morning HOS check",
        agent_id="agent_hos",
        agent_phone_number_id="phnum_dispatch",
        recipients=[
            BatchRecipient(DRIVER, id="d-1", dynamic_variables={"driver_first_name": "Jo"}),
            BatchRecipient("+12015550129", id="d-2"),  # ends in 9: no answer
        ],
    )
    sent = sandbox_clean.requests("elevenlabs")[0]
    assert sent["path"] == "/elevenlabs/v1/convai/batch-calling/submit"
    assert sent["json"] == {
        "call_name": "Morning HOS check",
        "agent_id": "agent_hos",
        "agent_phone_number_id": "phnum_dispatch",
        "scheduled_time_unix": None,
        "recipients": [
            {
                "phone_number": DRIVER,
                "id": "d-1",
                "conversation_initiation_client_data": {
                    "dynamic_variables": {"driver_first_name": "Jo"}
                },
            },
            {"phone_number": "+12015550129", "id": "d-2"},
        ],
    }
    assert batch.status == "pending" and batch.total_calls_scheduled == 2
    final = _wait_for(lambda: (b := eleven.get_batch(batch.id)).status == "completed" and b)
    assert final, "the sandbox batch never completed"
    assert {r.id: r.status for r in final.recipients} == {"d-1": "completed", "d-2": "failed"}
    assert all(r.conversation_id for r in final.recipients)


def test_create_retried_after_429_but_not_after_5xx(eleven, sandbox_clean) -> None:
    sandbox_clean.fault("elevenlabs", "429", count=1, retry_after=0.25)
    _call(eleven)
    assert len(sandbox_clean.requests("elevenlabs")) == 2
    sandbox_clean.fault("elevenlabs", "5xx", count=1)
    with pytest.raises(VendorTransientError):
        _call(eleven)
    assert len(sandbox_clean.requests("elevenlabs")) == 3


def test_get_5xx_exhaustion_and_malformed(eleven, sandbox_clean) -> None:
    sandbox_clean.fault("elevenlabs", "5xx", count=3)
    with pytest.raises(VendorTransientError):
        eleven.get_batch("btcal_x")
    assert len(sandbox_clean.requests("elevenlabs")) == 3
    call = _call(eleven)
    sandbox_clean.fault("elevenlabs", "malformed", count=3)
    with pytest.raises(VendorResponseError, match="malformed JSON"):
        eleven.get_conversation(call.conversation_id)


def test_factory_refuses_without_key() -> None:
    with pytest.raises(UpstreamNotConfigured, match="ELEVENLABS_API_KEY"):
        build_elevenlabs_client(Settings(ELEVENLABS_API_KEY=""))


# --- webhook HMAC -------------------------------------------------------------------------------

BODY = b'{"type":"post_call_transcription","event_timestamp":1767225800,"data":{}}'


def test_signature_valid_tampered_stale_and_future() -> None:
    now = int(time.time())
    header = sign_elevenlabs_payload(ELEVENLABS_WEBHOOK_SECRET, now, BODY)
    verify_elevenlabs_signature(BODY, header, ELEVENLABS_WEBHOOK_SECRET, now=now)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_elevenlabs_signature(BODY + b" ", header, ELEVENLABS_WEBHOOK_SECRET, now=now)
    with pytest.raises(SignatureInvalid, match="tolerance"):
        verify_elevenlabs_signature(BODY, header, ELEVENLABS_WEBHOOK_SECRET, now=now + 30 * 60 + 1)
    # Inside the window (29 minutes old) and, like the vendor SDK, from the future, is fine.
    verify_elevenlabs_signature(BODY, header, ELEVENLABS_WEBHOOK_SECRET, now=now + 29 * 60)
    verify_elevenlabs_signature(BODY, header, ELEVENLABS_WEBHOOK_SECRET, now=now - 3600)


def test_signature_header_forms() -> None:
    now = int(time.time())
    t, v0 = sign_elevenlabs_payload(ELEVENLABS_WEBHOOK_SECRET, now, BODY).split(",")
    verify_elevenlabs_signature(BODY, f"{v0}, {t}", ELEVENLABS_WEBHOOK_SECRET, now=now)
    verify_elevenlabs_signature(BODY, f"{t},v0=deadbeef,{v0}", ELEVENLABS_WEBHOOK_SECRET, now=now)
    with pytest.raises(SignatureInvalid, match="lacks"):
        verify_elevenlabs_signature(BODY, v0, ELEVENLABS_WEBHOOK_SECRET, now=now)
    with pytest.raises(SignatureMissing):
        verify_elevenlabs_signature(BODY, None, ELEVENLABS_WEBHOOK_SECRET)
    with pytest.raises(SignatureNotConfigured, match="ELEVENLABS_WEBHOOK_SECRET"):
        verify_elevenlabs_signature(BODY, f"{t},{v0}", "")
