"""VAPI client against the sandbox: the exact create-call body, plain-array listing, retry rules
for a non-idempotent create, and the webhook secret / HMAC helpers."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from config import Settings
from helpers.errors import UpstreamNotConfigured
from sandbox.credentials import VAPI_API_KEY, VAPI_WEBHOOK_SECRET
from utils.http import (
    VendorAuthError,
    VendorRejectedError,
    VendorResponseError,
    VendorTransientError,
)
from utils.signatures import SignatureInvalid, SignatureMissing, SignatureNotConfigured
from utils.vapi_client import (
    VapiClient,
    build_vapi_client,
    sign_vapi_hmac,
    verify_vapi_hmac,
    verify_vapi_secret,
    verify_vapi_webhook,
)

DRIVER = "+12015550123"


@pytest.fixture
def vapi(sandbox_clean):
    client = build_vapi_client(Settings(**sandbox_clean.settings_env()), retry_wait=0)
    yield client
    client.close()


def _create(client: VapiClient, number: str = DRIVER):
    return client.create_call(
        assistant_id="asst-hos-check",
        phone_number_id="phone-dispatch",
        customer_number=number,
        customer_name="Jo Driver",
        variable_values={"driver_first_name": "Jo", "load_id": "L-88231"},
        metadata={"hub_call_id": "7f0c", "driver_id": 4411},
    )


def test_create_call_sends_the_documented_body(vapi, sandbox_clean) -> None:
    call = _create(vapi)

    [sent] = sandbox_clean.requests("vapi")
    assert sent["method"] == "POST"
    assert sent["path"] == "/vapi/call"
    assert sent["headers"]["authorization"] == f"Bearer {VAPI_API_KEY}"
    assert sent["json"] == {
        "assistantId": "asst-hos-check",
        "phoneNumberId": "phone-dispatch",
        "customer": {"number": DRIVER, "name": "Jo Driver"},
        "assistantOverrides": {
            "variableValues": {"driver_first_name": "Jo", "load_id": "L-88231"},
            "metadata": {"hub_call_id": "7f0c", "driver_id": 4411},
        },
    }
    assert call.status == "queued"
    assert call.customer_number == DRIVER
    assert call.metadata == {"hub_call_id": "7f0c", "driver_id": 4411}
    assert call.created_at is not None and call.created_at.tzinfo is not None


def test_fake_rejects_unknown_top_level_fields_like_vapi(sandbox_clean) -> None:
    response = httpx.post(
        f"{sandbox_clean.vendor_url('vapi')}/call",
        headers={"Authorization": f"Bearer {VAPI_API_KEY}"},
        json={
            "assistantId": "a",
            "phoneNumberId": "p",
            "customer": {"number": DRIVER},
            "metadata": {"hub_call_id": "x"},
            "assistantOverride": {},
        },
    )
    assert response.status_code == 400
    assert response.json() == {
        "message": [
            "property metadata should not exist",
            "property assistantOverride should not exist",
        ],
        "error": "Bad Request",
        "statusCode": 400,
    }


def test_get_and_list_calls(vapi, sandbox_clean) -> None:
    first = _create(vapi)
    second = _create(vapi, "+12015550124")
    assert vapi.get_call(first.id).id == first.id

    listed = vapi.list_calls(assistant_id="asst-hos-check", limit=10)
    assert [c.id for c in listed] == [second.id, first.id]  # newest first, plain array
    sent = sandbox_clean.requests("vapi")[-1]
    assert sent["path"] == "/vapi/call"
    assert sent["query"] == {"limit": "10", "assistantId": "asst-hos-check"}


def test_non_e164_number_is_rejected_without_retry(vapi, sandbox_clean) -> None:
    with pytest.raises(VendorRejectedError, match=r"E\.164") as caught:
        _create(vapi, "(201) 555-0123")
    assert caught.value.status == 400
    assert len(sandbox_clean.requests("vapi")) == 1


def test_wrong_key_is_an_auth_error(sandbox_clean) -> None:
    client = build_vapi_client(Settings(**{**sandbox_clean.settings_env(), "VAPI_API_KEY": "nope"}))
    with pytest.raises(VendorAuthError, match="Invalid Key"):
        client.get_call("x")
    assert len(sandbox_clean.requests("vapi")) == 1


def test_create_is_retried_after_429(vapi, sandbox_clean) -> None:
    sandbox_clean.fault("vapi", "429", count=1, retry_after=0.25)
    call = _create(vapi)
    assert len(sandbox_clean.requests("vapi")) == 2
    assert vapi.get_call(call.id).id == call.id


def test_create_is_not_retried_after_5xx(vapi, sandbox_clean) -> None:
    # A 5xx may come after the call was placed: repeating it could ring the driver twice.
    sandbox_clean.fault("vapi", "5xx", count=1)
    with pytest.raises(VendorTransientError) as caught:
        _create(vapi)
    assert caught.value.status == 503
    assert len(sandbox_clean.requests("vapi")) == 1


def test_create_is_not_retried_after_a_read_timeout(sandbox_clean) -> None:
    settings = Settings(**{**sandbox_clean.settings_env(), "VENDOR_TIMEOUT_SECONDS": 0.2})
    client = build_vapi_client(settings, retry_wait=0)
    # A per-request fault (header) so no other request can consume it.
    client._http.headers.update({"X-Sandbox-Fault": "slow", "X-Sandbox-Delay": "0.6"})
    with pytest.raises(VendorTransientError, match="timed out"):
        _create(client)
    assert len(sandbox_clean.requests("vapi")) == 1


def test_create_is_retried_when_the_connection_is_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    attempts: list[str] = []
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        timeout=2,
        event_hooks={"request": [lambda request: attempts.append(request.url.path)]},
    )
    with pytest.raises(VendorTransientError, match="network error"):
        _create(VapiClient(http, retry_wait=0))
    assert attempts == ["/call", "/call", "/call"]


def test_get_5xx_exhaustion_after_three_attempts(vapi, sandbox_clean) -> None:
    sandbox_clean.fault("vapi", "5xx", count=3)
    with pytest.raises(VendorTransientError):
        vapi.get_call("anything")
    assert len(sandbox_clean.requests("vapi")) == 3


def test_malformed_json_is_a_clear_error(vapi, sandbox_clean) -> None:
    sandbox_clean.fault("vapi", "malformed", count=3)
    with pytest.raises(VendorResponseError, match="malformed JSON"):
        vapi.list_calls()


def test_factory_refuses_without_key() -> None:
    with pytest.raises(UpstreamNotConfigured, match="VAPI_API_KEY"):
        build_vapi_client(Settings(VAPI_API_KEY=""))


# --- webhook verification -----------------------------------------------------------------------

BODY = b'{"message":{"type":"status-update","status":"ringing"}}'


def test_secret_header_valid_wrong_missing() -> None:
    verify_vapi_secret({"X-Vapi-Secret": VAPI_WEBHOOK_SECRET}, VAPI_WEBHOOK_SECRET)
    verify_vapi_secret({"authorization": f"Bearer {VAPI_WEBHOOK_SECRET}"}, VAPI_WEBHOOK_SECRET)
    with pytest.raises(SignatureInvalid):
        verify_vapi_secret({"x-vapi-secret": "guess"}, VAPI_WEBHOOK_SECRET)
    with pytest.raises(SignatureMissing):
        verify_vapi_secret({}, VAPI_WEBHOOK_SECRET)
    with pytest.raises(SignatureNotConfigured, match="VAPI_WEBHOOK_SECRET"):
        verify_vapi_secret({"x-vapi-secret": ""}, "")


def test_hmac_valid_tampered_stale() -> None:
    now = time.time()
    ts = str(int(now * 1000))  # milliseconds are accepted as well as seconds
    headers = {"x-signature": sign_vapi_hmac(VAPI_WEBHOOK_SECRET, ts, BODY), "x-timestamp": ts}
    verify_vapi_hmac(BODY, headers, VAPI_WEBHOOK_SECRET, now=now)
    verify_vapi_webhook(BODY, headers, VAPI_WEBHOOK_SECRET, now=now)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_vapi_hmac(BODY.replace(b"ringing", b"ended"), headers, VAPI_WEBHOOK_SECRET, now=now)
    with pytest.raises(SignatureInvalid, match="tolerance"):
        verify_vapi_hmac(BODY, headers, VAPI_WEBHOOK_SECRET, now=now + 301)
    with pytest.raises(SignatureMissing):
        verify_vapi_hmac(BODY, {"x-signature": "abc"}, VAPI_WEBHOOK_SECRET, now=now)
