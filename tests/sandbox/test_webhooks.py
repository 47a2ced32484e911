"""Webhooks from the VAPI and ElevenLabs fakes reach a real HTTP receiver and verify with our
own helpers (`utils.vapi_client`, `utils.elevenlabs_client`)."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from config import Settings
from sandbox.credentials import ELEVENLABS_WEBHOOK_SECRET, VAPI_WEBHOOK_SECRET
from utils.elevenlabs_client import build_elevenlabs_client, verify_elevenlabs_signature
from utils.signatures import SignatureInvalid
from utils.vapi_client import build_vapi_client, verify_vapi_hmac, verify_vapi_secret


class Receiver:
    """A tiny HTTP server that keeps (headers, raw body) of every POST it gets."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.put((dict(self.headers.items()), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def take(self, count: int, timeout: float = 5.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        items = []
        while len(items) < count:
            items.append(self.received.get(timeout=max(0.01, deadline - time.monotonic())))
        return items

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _point(sandbox, vendor: str, url: str, **extra) -> None:
    body = {"vendor": vendor, "url": url, "delay_seconds": 0.01, **extra}
    httpx.post(f"{sandbox.url}/_sandbox/webhooks", json=body).raise_for_status()


def _vapi(sandbox):
    return build_vapi_client(Settings(**sandbox.settings_env()), retry_wait=0)


def test_vapi_answered_call_sends_status_updates_and_report(sandbox_clean, receiver) -> None:
    _point(sandbox_clean, "vapi", receiver.url)
    call = _vapi(sandbox_clean).create_call(
        assistant_id="asst",
        phone_number_id="phone",
        customer_number="+12015550123",
        variable_values={"driver_first_name": "Jo", "load_id": "L-88231"},
        metadata={"hub_call_id": "7f0c"},
    )

    deliveries = receiver.take(4)
    messages = []
    for headers, body in deliveries:
        verify_vapi_secret(headers, VAPI_WEBHOOK_SECRET)
        messages.append(json.loads(body)["message"])
    assert [(m["type"], m.get("status")) for m in messages] == [
        ("status-update", "ringing"),
        ("status-update", "in-progress"),
        ("status-update", "ended"),
        ("end-of-call-report", None),
    ]
    report = messages[-1]
    assert report["endedReason"] == "customer-ended-call"
    assert report["call"]["id"] == call.id
    assert report["call"]["assistantOverrides"]["metadata"] == {"hub_call_id": "7f0c"}
    assert "Jo" in report["artifact"]["transcript"]
    assert report["artifact"]["transcript"].startswith("AI: ")
    assert {m["role"] for m in report["artifact"]["messages"]} == {"system", "bot", "user"}
    assert report["analysis"]["summary"]
    assert isinstance(report["analysis"]["structuredData"]["delay_minutes"], int)
    assert report["analysis"]["successEvaluation"] == "true"
    final = _vapi(sandbox_clean).get_call(call.id)
    assert final.is_ended and final.ended_reason == "customer-ended-call"
    assert final.transcript == report["artifact"]["transcript"]


def test_vapi_unanswered_call_and_hmac_signing(sandbox_clean, receiver) -> None:
    _point(sandbox_clean, "vapi", receiver.url, vapi_auth="hmac")
    _vapi(sandbox_clean).create_call(
        assistant_id="asst", phone_number_id="phone", customer_number="+12015550129"
    )

    deliveries = receiver.take(3)
    for headers, body in deliveries:
        assert "X-Vapi-Secret" not in headers
        verify_vapi_hmac(body, headers, VAPI_WEBHOOK_SECRET)
        with pytest.raises(SignatureInvalid):
            verify_vapi_hmac(body + b" ", headers, VAPI_WEBHOOK_SECRET)
    messages = [json.loads(body)["message"] for _, body in deliveries]
    assert [m.get("status") for m in messages] == ["ringing", "ended", None]
    assert messages[1]["endedReason"] == "customer-did-not-answer"
    assert messages[2]["type"] == "end-of-call-report"
    assert messages[2]["artifact"]["transcript"] == ""
    log = httpx.get(f"{sandbox_clean.url}/_sandbox/webhooks").json()["deliveries"]
    assert [d["status"] for d in log] == [200, 200, 200]


def test_elevenlabs_transcription_and_failure_webhooks(sandbox_clean, receiver) -> None:
    _point(sandbox_clean, "elevenlabs", receiver.url)
    client = build_elevenlabs_client(Settings(**sandbox_clean.settings_env()), retry_wait=0)
    answered = client.outbound_call(
        agent_id="agent_hos",
        agent_phone_number_id="phnum",
        to_number="+12015550123",
        dynamic_variables={"driver_first_name": "Jo", "hub_call_id": "7f0c"},
    )
    [(headers, body)] = receiver.take(1)
    verify_elevenlabs_signature(
        body, headers.get("ElevenLabs-Signature"), ELEVENLABS_WEBHOOK_SECRET
    )
    event = json.loads(body)
    assert event["type"] == "post_call_transcription"
    data = event["data"]
    assert data["conversation_id"] == answered.conversation_id
    assert data["status"] == "done"
    assert data["conversation_initiation_client_data"]["dynamic_variables"]["hub_call_id"] == "7f0c"
    assert data["analysis"]["transcript_summary"]
    assert data["analysis"]["data_collection_results"]["delay_minutes"]["value"] > 0
    assert [t["role"] for t in data["transcript"]][:2] == ["agent", "user"]

    failed = client.outbound_call(
        agent_id="agent_hos", agent_phone_number_id="phnum", to_number="+12015550129"
    )
    [(headers, body)] = receiver.take(1)
    verify_elevenlabs_signature(
        body, headers.get("ElevenLabs-Signature"), ELEVENLABS_WEBHOOK_SECRET
    )
    event = json.loads(body)
    assert event["type"] == "call_initiation_failure"
    assert event["data"]["conversation_id"] == failed.conversation_id
    assert event["data"]["failure_reason"] == "no-answer"
    with pytest.raises(SignatureInvalid):
        verify_elevenlabs_signature(body, headers["ElevenLabs-Signature"], "another-secret")


def test_without_a_url_calls_still_progress(sandbox_clean) -> None:
    _point(sandbox_clean, "vapi", None)
    client = _vapi(sandbox_clean)
    call = client.create_call(assistant_id="a", phone_number_id="p", customer_number="+12015550123")
    deadline = time.monotonic() + 3
    # Like VAPI, the analysis lands after the status flips to ended.
    while not client.get_call(call.id).summary and time.monotonic() < deadline:
        time.sleep(0.02)
    final = client.get_call(call.id)
    assert final.is_ended and final.summary
    assert httpx.get(f"{sandbox_clean.url}/_sandbox/webhooks").json()["deliveries"] == []
