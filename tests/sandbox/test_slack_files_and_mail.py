"""The sandbox's Slack external upload contract and its SMTP server, spoken to directly."""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from email.policy import SMTP

import httpx
import pytest

from sandbox.credentials import SLACK_BOT_TOKEN

AUTH = {"Authorization": f"Bearer {SLACK_BOT_TOKEN}"}


def _api(sandbox, method: str, **params):
    url = f"{sandbox.url}/slack/api/{method}"
    return httpx.post(url, params=params, headers=AUTH).json()


def test_upload_flow_refuses_what_slack_refuses(sandbox_clean):
    assert _api(sandbox_clean, "files.getUploadURLExternal", filename="a.png")["error"] == (
        "invalid_arguments"
    )
    unauthenticated = httpx.post(f"{sandbox_clean.url}/slack/api/files.getUploadURLExternal")
    assert unauthenticated.json()["error"] == "not_authed"
    reserved = _api(sandbox_clean, "files.getUploadURLExternal", filename="a.png", length=3)
    assert reserved["ok"] and reserved["upload_url"].endswith(reserved["file_id"])
    files = json.dumps([{"id": reserved["file_id"], "title": "A"}])
    # Completing before the bytes arrived: the file is not there yet.
    assert _api(sandbox_clean, "files.completeUploadExternal", files=files)["error"] == (
        "file_not_found"
    )
    assert httpx.post(reserved["upload_url"], content=b"abc").text == "OK - 3"
    channel = _api(sandbox_clean, "chat.postMessage", channel="#ops", text="hi")["channel"]
    done = _api(sandbox_clean, "files.completeUploadExternal", files=files, channel_id=channel)
    assert (
        done["ok"] and done["files"][0]["size"] == 3 and done["files"][0]["channels"] == [channel]
    )
    listed = httpx.get(f"{sandbox_clean.url}/_sandbox/slack/files").json()["files"]
    assert [(f["id"], f["title"]) for f in listed] == [(reserved["file_id"], "A")]


def test_smtp_server_lists_messages_and_simulates_an_outage(sandbox_clean):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "hub@example.com", "a@example.com", "Hi"
    message.set_content("plain")
    message.add_attachment(b"x,y\n1,2\n", maintype="text", subtype="csv", filename="t.csv")
    sandbox_clean.mail_outage(1)
    with smtplib.SMTP("127.0.0.1", sandbox_clean.smtp_port) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.send_message(message)
        assert refused.value.smtp_code == 451
    with smtplib.SMTP("127.0.0.1", sandbox_clean.smtp_port) as smtp:
        smtp.send_message(message)
    [received] = sandbox_clean.mail()
    assert (received["subject"], received["rcpt_to"], received["text"].strip()) == (
        "Hi",
        ["a@example.com"],
        "plain",
    )
    assert received["attachments"] == [{"filename": "t.csv", "content_type": "text/csv", "size": 8}]


def test_a_folded_header_is_listed_as_a_server_reads_it(sandbox_clean):
    """A Message-ID too long for one line is folded on the wire; its value has no leading space."""
    message_id = "<179661197017.1997.43150976580422249.morning-report-1.delivery-1@example.com>"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "hub@example.com", "a@example.com", "Hi"
    message["Message-ID"] = message_id
    message.set_content("plain")
    assert b"Message-ID:\r\n " in message.as_bytes(policy=SMTP)  # folded, as the hub sends it
    with smtplib.SMTP("127.0.0.1", sandbox_clean.smtp_port) as smtp:
        smtp.send_message(message)
    [received] = sandbox_clean.mail()
    assert dict(received["headers"])["Message-ID"] == message_id


def _button(**overrides):
    return {
        "type": "button",
        "action_id": "notify_customer",
        "text": {"type": "plain_text", "text": "Notify customer"},
        "value": "7",
        "confirm": {
            "title": {"type": "plain_text", "text": "Notify the customer?"},
            "text": {"type": "plain_text", "text": "Email the ETA now."},
            "confirm": {"type": "plain_text", "text": "Send"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        },
        **overrides,
    }


def _post_buttons(sandbox, *elements):
    blocks = json.dumps([{"type": "actions", "elements": list(elements)}])
    return httpx.post(
        f"{sandbox.url}/slack/api/chat.postMessage",
        json={"channel": "#ops", "text": "t", "blocks": blocks},
        headers=AUTH,
    ).json()


def test_buttons_are_held_to_block_kit_limits(sandbox_clean):
    assert _post_buttons(sandbox_clean, _button())["ok"]
    long_text = {"type": "plain_text", "text": "x" * 76}
    for bad in (
        [_button(text=long_text)],
        [_button(style="blue")],
        [_button(text={"type": "mrkdwn", "text": "*Notify*"})],
        [_button(confirm={"title": {"type": "plain_text", "text": "t"}})],
        [_button(), _button()],  # the same action_id twice in one block
        [_button(action_id=f"b{n}") for n in range(26)],
    ):
        assert _post_buttons(sandbox_clean, *bad)["error"] == "invalid_blocks"
