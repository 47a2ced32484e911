"""The sandbox's Twilio Messaging and Samsara in-cab messages answer as the vendors' specs say:
every answer validated against the spec's schema, status callbacks signed as Twilio signs them
and moving queued → sent → delivered | undelivered | failed, inbound texts on demand."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import httpx
import pytest
from twilio.request_validator import RequestValidator

from sandbox.credentials import (
    SAMSARA_TOKEN,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_FROM_NUMBER,
)
from tests.calls_support import wait_for
from tests.vendor_specs import response_schema, schema_errors

TWILIO = "twilio-messaging-2010.json"
SAMSARA = "samsara-openapi-2021.json"
MESSAGES = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
MESSAGE = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"
STATUSES = ["queued", "sending", "sent", "failed", "delivered", "undelivered", "received"]


class Capture:
    """A local HTTP server recording the form posts (and their signature) it receives."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], str | None]] = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                url = f"http://127.0.0.1:{self.server.server_port}{self.path}"
                capture.posts.append((url, form, self.headers.get("X-Twilio-Signature")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def capture():
    server = Capture()
    yield server
    server.close()


@pytest.fixture
def twilio(sandbox_clean):
    with httpx.Client(
        base_url=f"{sandbox_clean.url}/twilio/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}",
        auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN),
    ) as http:
        http.post(
            f"{sandbox_clean.url}/_sandbox/webhooks",
            json={"vendor": "twilio", "url": None, "delay_seconds": 0.02},
        ).raise_for_status()
        yield http


def _send(twilio, to: str, callback: str | None = None) -> httpx.Response:
    form = {"To": to, "From": TWILIO_FROM_NUMBER, "Body": "Your load L-1 is due at 14:00"}
    if callback:
        form["StatusCallback"] = callback
    return twilio.post("/Messages.json", data=form)


def test_a_sent_text_its_list_and_its_read_match_the_message_schema(twilio):
    created = _send(twilio, "+12015550123")
    assert created.status_code == 201
    body = created.json()
    assert schema_errors(TWILIO, response_schema(TWILIO, MESSAGES, "post", "201"), body) == []
    assert body["status"] == "queued" and body["direction"] == "outbound-api"
    assert body["sid"].startswith("SM") and len(body["sid"]) == 34

    listed = twilio.get("/Messages.json", params={"To": "+12015550123", "PageSize": 5})
    schema = response_schema(TWILIO, MESSAGES, "get", "200")
    assert schema_errors(TWILIO, schema, listed.json()) == []
    assert [m["sid"] for m in listed.json()["messages"]] == [body["sid"]]

    one = twilio.get(f"/Messages/{body['sid']}.json")
    assert schema_errors(TWILIO, response_schema(TWILIO, MESSAGE, "get", "200"), one.json()) == []


def test_bad_requests_and_credentials_get_twilio_errors(twilio, sandbox_clean):
    assert _send(twilio, "555-0100").json()["code"] == 21211
    missing_body = twilio.post("/Messages.json", data={"To": "+12015550123", "From": "+1201"})
    assert missing_body.status_code == 400 and missing_body.json()["code"] == 21602
    wrong = httpx.post(
        f"{sandbox_clean.url}/twilio/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json",
        data={"To": "+12015550123", "From": TWILIO_FROM_NUMBER, "Body": "x"},
        auth=(TWILIO_ACCOUNT_SID, "not-the-token"),
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == 20003


@pytest.mark.parametrize(
    ("to", "final", "error"),
    [("+12015550123", "delivered", None), ("+12015550126", "undelivered", "30003")],
)
def test_status_callbacks_are_signed_and_move_forward(twilio, capture, to, final, error):
    sid = _send(twilio, to, f"{capture.url}/status").json()["sid"]
    assert wait_for(lambda: len(capture.posts) >= 2, timeout=5)
    statuses = [form["MessageStatus"] for _, form, _ in capture.posts]
    assert statuses == ["sent", final]
    validator = RequestValidator(TWILIO_AUTH_TOKEN)
    for url, form, signature in capture.posts:
        assert form["MessageSid"] == sid and form["AccountSid"] == TWILIO_ACCOUNT_SID
        assert form["MessageStatus"] in STATUSES
        assert validator.validate(url, form, signature)
        assert not validator.validate(url, {**form, "MessageStatus": "read"}, signature)
    assert capture.posts[-1][1].get("ErrorCode") == error
    assert twilio.get(f"/Messages/{sid}.json").json()["status"] == final


def test_a_driver_can_be_made_to_text_us(twilio, capture, sandbox_clean):
    twilio.post(
        f"{sandbox_clean.url}/_sandbox/webhooks",
        json={"vendor": "twilio", "url": f"{capture.url}/inbound", "delay_seconds": 0.02},
    ).raise_for_status()
    made = twilio.post(
        f"{sandbox_clean.url}/_sandbox/twilio/inbound",
        json={"from": "+12015550199", "body": "stuck at the shipper, 2 hours"},
    ).json()
    assert made["direction"] == "inbound" and made["status"] == "received"
    assert wait_for(lambda: capture.posts, timeout=5)
    url, form, signature = capture.posts[0]
    assert form["Body"] == "stuck at the shipper, 2 hours" and form["From"] == "+12015550199"
    assert form["To"] == TWILIO_FROM_NUMBER and form["MessageSid"] == made["sid"]
    assert RequestValidator(TWILIO_AUTH_TOKEN).validate(url, form, signature)
    listed = twilio.get("/Messages.json", params={"To": TWILIO_FROM_NUMBER}).json()["messages"]
    schema = response_schema(TWILIO, MESSAGES, "get", "200")
    assert schema_errors(TWILIO, schema, {"messages": listed}) == []
    assert listed[0]["direction"] == "inbound"


def test_samsara_messages_follow_the_v1_schemas(sandbox_clean):
    driver_id = int(sandbox_clean.simulator.drivers[0].samsara_id)
    with httpx.Client(
        base_url=f"{sandbox_clean.url}/samsara",
        headers={"Authorization": f"Bearer {SAMSARA_TOKEN}"},
    ) as samsara:
        created = samsara.post(
            "/v1/fleet/messages", json={"driverIds": [driver_id], "text": "Call dispatch"}
        )
        assert created.status_code == 200
        schema = response_schema(SAMSARA, "/v1/fleet/messages", "post", "200")
        assert schema_errors(SAMSARA, schema, created.json()) == []
        assert created.json()["data"] == [{"driverId": driver_id, "text": "Call dispatch"}]
        httpx.post(
            f"{sandbox_clean.url}/_sandbox/samsara/messages",
            json={"driverId": driver_id, "text": "ok, at the dock"},
        ).raise_for_status()
        listed = samsara.get("/v1/fleet/messages").json()
        schema = response_schema(SAMSARA, "/v1/fleet/messages", "get", "200")
        assert schema_errors(SAMSARA, schema, listed) == []
        assert [m["sender"]["type"] for m in listed["data"]] == ["driver", "dispatch"]
        assert listed["data"][1]["isRead"] is False
        httpx.post(
            f"{sandbox_clean.url}/_sandbox/samsara/messages/read", json={"driverId": driver_id}
        ).raise_for_status()
        assert samsara.get("/v1/fleet/messages").json()["data"][1]["isRead"] is True
        unknown = samsara.post("/v1/fleet/messages", json={"driverIds": [1], "text": "x"})
        assert unknown.status_code == 400 and isinstance(unknown.json(), str)
        assert httpx.get(f"{sandbox_clean.url}/samsara/v1/fleet/messages").status_code == 401
