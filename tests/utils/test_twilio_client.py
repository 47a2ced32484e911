"""The Twilio client against the sandbox (send, read, list, errors) and webhook verification
with the `twilio` package's RequestValidator (missing, wrong, unconfigured)."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from config import Settings
from helpers.errors import UpstreamNotConfigured
from sandbox.credentials import TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER
from utils.http import VendorAuthError, VendorRejectedError
from utils.signatures import SignatureInvalid, SignatureMissing, SignatureNotConfigured
from utils.twilio_client import build_twilio_client, verify_twilio_signature

URL = "https://hub.example.com/webhooks/twilio"
FORM = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "To": "+12015550123"}


def test_send_read_and_list_through_the_sandbox(sandbox_clean):
    client = build_twilio_client(Settings(**sandbox_clean.settings_env()), retry_wait=0.01)
    sent = client.send_message(to="+12015550123", from_=TWILIO_FROM_NUMBER, body="Hello")
    assert sent.status == "queued" and sent.sid.startswith("SM") and sent.date_created
    assert client.get_message(sent.sid).body == "Hello"
    assert [m.sid for m in client.list_messages(to="+12015550123")] == [sent.sid]
    (request,) = [r for r in sandbox_clean.requests("twilio") if r["method"] == "POST"]
    assert request["headers"]["authorization"].startswith("Basic ")
    with pytest.raises(VendorRejectedError, match="21211"):
        client.send_message(to="12345", from_=TWILIO_FROM_NUMBER, body="Hello")


def test_wrong_credentials_and_missing_settings(sandbox_clean):
    env = {**sandbox_clean.settings_env(), "TWILIO_AUTH_TOKEN": "wrong"}
    with pytest.raises(VendorAuthError):
        build_twilio_client(Settings(**env), retry_wait=0.01).get_message("SM" + "0" * 32)
    with pytest.raises(UpstreamNotConfigured, match="TWILIO_AUTH_TOKEN"):
        build_twilio_client(Settings(TWILIO_AUTH_TOKEN=""))


def test_signatures_are_checked_with_the_request_validator():
    good = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(URL, FORM)
    verify_twilio_signature(URL, FORM, good, TWILIO_AUTH_TOKEN)
    with pytest.raises(SignatureMissing):
        verify_twilio_signature(URL, FORM, None, TWILIO_AUTH_TOKEN)
    with pytest.raises(SignatureInvalid):
        verify_twilio_signature(URL, {**FORM, "MessageStatus": "failed"}, good, TWILIO_AUTH_TOKEN)
    with pytest.raises(SignatureInvalid):
        verify_twilio_signature(URL + "?x=1", FORM, good, TWILIO_AUTH_TOKEN)
    with pytest.raises(SignatureNotConfigured):
        verify_twilio_signature(URL, FORM, good, "")
