"""Slack client against the sandbox: request shape, ok:false at HTTP 200, 429 retries, 5xx only
for idempotent methods, and request-signature verification."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.signature import SignatureVerifier

from config import Settings
from helpers.errors import UpstreamNotConfigured
from sandbox.credentials import SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET
from utils.http import (
    VendorAuthError,
    VendorRejectedError,
    VendorResponseError,
    VendorTransientError,
)
from utils.signatures import SignatureInvalid, SignatureMissing, SignatureNotConfigured
from utils.slack_client import (
    FractionalRateLimitRetryHandler,
    SlackMessage,
    build_slack_client,
    sign_slack_request,
    verify_slack_signature,
)


class Sleeps(list):
    """Records the waits the retry handlers ask for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def slack(sandbox_clean, sleeps):
    return build_slack_client(Settings(**sandbox_clean.settings_env()), sleep=sleeps, retry_wait=0)


def _messages(sandbox, **params) -> list[dict]:
    return httpx.get(f"{sandbox.url}/_sandbox/slack/messages", params=params).json()["messages"]


def test_post_sends_bearer_json_and_returns_channel_id_and_string_ts(slack, sandbox_clean) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*HOS risk*"}}]
    message = slack.post_message("#fleet-alerts", "HOS risk: truck 4411", blocks=blocks)

    [sent] = sandbox_clean.requests("slack")
    assert sent["method"] == "POST"
    assert sent["path"] == "/slack/api/chat.postMessage"
    assert sent["headers"]["authorization"] == f"Bearer {SLACK_BOT_TOKEN}"
    assert sent["headers"]["content-type"].startswith("application/json")
    assert sent["json"] == {
        "channel": "#fleet-alerts",
        "text": "HOS risk: truck 4411",
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }
    assert message.channel.startswith("C") and message.channel != "#fleet-alerts"
    assert isinstance(message.ts, str) and "." in message.ts
    [stored] = _messages(sandbox_clean, channel="fleet-alerts")
    assert stored["text"] == "HOS risk: truck 4411"
    assert stored["blocks"] == blocks


def test_update_and_thread_reply(slack, sandbox_clean) -> None:
    parent = slack.post_message("#fleet-alerts", "Late load L-1")
    updated = slack.update_message(parent, "Late load L-1 (acknowledged)")
    reply = slack.reply_in_thread(parent, "Driver called: 40 min late")

    assert updated == SlackMessage(parent.channel, parent.ts)
    assert reply.thread_ts == parent.ts and reply.ts != parent.ts
    sent_update = sandbox_clean.requests("slack")[1]
    assert sent_update["path"] == "/slack/api/chat.update"
    assert sent_update["json"] == {
        "channel": parent.channel,
        "ts": parent.ts,
        "text": "Late load L-1 (acknowledged)",
    }
    stored = {m["ts"]: m for m in _messages(sandbox_clean)}
    assert stored[parent.ts]["text"] == "Late load L-1 (acknowledged)"
    assert [u["text"] for u in stored[parent.ts]["updates"]] == ["Late load L-1"]
    assert stored[reply.ts]["thread_ts"] == parent.ts


def test_ok_false_at_200_is_rejected_without_retry(slack, sandbox_clean) -> None:
    with pytest.raises(VendorRejectedError, match="channel_not_found") as caught:
        slack.post_message("#missing-channel", "hello")
    assert not isinstance(caught.value, VendorTransientError | VendorAuthError)
    assert caught.value.status == 200
    # chat.update wants the channel ID chat.postMessage returned, not a name.
    posted = slack.post_message("#fleet-alerts", "hello")
    with pytest.raises(VendorRejectedError, match="channel_not_found"):
        slack.update_message(SlackMessage("#fleet-alerts", posted.ts), "x")
    with pytest.raises(VendorRejectedError, match="message_not_found"):
        slack.update_message(SlackMessage(posted.channel, "1.000001"), "x")
    assert len(sandbox_clean.requests("slack")) == 4


def test_bad_token_is_an_auth_error(sandbox_clean) -> None:
    env = {**sandbox_clean.settings_env(), "SLACK_BOT_TOKEN": "xoxb-wrong"}
    with pytest.raises(VendorAuthError, match="invalid_auth"):
        build_slack_client(Settings(**env)).post_message("#fleet-alerts", "hello")


def test_429_is_retried_after_retry_after(slack, sandbox_clean, sleeps) -> None:
    sandbox_clean.fault("slack", "429", count=1, retry_after=0.25)
    message = slack.post_message("#fleet-alerts", "after a rate limit")
    assert message.ts
    assert len(sandbox_clean.requests("slack")) == 2
    # Slack sends whole seconds (the fake rounds 0.25 up to 1); jitter adds at most 0.25.
    [waited] = sleeps
    assert 1.0 <= waited <= 1.25
    assert len(_messages(sandbox_clean)) == 1


def test_429_exhaustion_is_transient_with_retry_after(slack, sandbox_clean, sleeps) -> None:
    sandbox_clean.fault("slack", "429", count=3, retry_after=2)
    with pytest.raises(VendorTransientError, match="ratelimited") as caught:
        slack.post_message("#fleet-alerts", "never sent")
    assert caught.value.status == 429
    assert caught.value.retry_after == 2.0
    assert len(sandbox_clean.requests("slack")) == 3
    assert len(sleeps) == 2


def test_fractional_retry_after_is_honoured() -> None:
    waits = Sleeps()
    handler = FractionalRateLimitRetryHandler(sleep=waits, jitter=0)
    state = RetryState()
    response = HttpResponse(status_code=429, headers={"Retry-After": ["0.25"]})
    request = HttpRequest(method="POST", url="https://slack.test/api/chat.postMessage", headers={})
    assert handler.can_retry(state=state, request=request, response=response)
    handler.prepare_for_next_attempt(state=state, request=request, response=response)
    assert waits == [0.25]
    assert state.next_attempt_requested


def test_5xx_on_post_is_not_retried_but_update_is(slack, sandbox_clean) -> None:
    sandbox_clean.fault("slack", "5xx", count=1)
    with pytest.raises(VendorTransientError, match="internal_error") as caught:
        slack.post_message("#fleet-alerts", "may or may not have been posted")
    assert caught.value.status == 503
    assert len(sandbox_clean.requests("slack")) == 1

    message = slack.post_message("#fleet-alerts", "v1")
    sandbox_clean.fault("slack", "5xx", count=1)
    slack.update_message(message, "v2")
    assert [r["path"] for r in sandbox_clean.requests("slack")][-2:] == [
        "/slack/api/chat.update",
        "/slack/api/chat.update",
    ]
    assert _messages(sandbox_clean)[-1]["text"] == "v2"


def test_update_5xx_exhaustion_after_three_attempts(slack, sandbox_clean) -> None:
    message = slack.post_message("#fleet-alerts", "v1")
    sandbox_clean.fault("slack", "5xx", count=3)
    with pytest.raises(VendorTransientError):
        slack.update_message(message, "v2")
    assert len(sandbox_clean.requests("slack")) == 4


def test_malformed_json_is_a_clear_error(slack, sandbox_clean) -> None:
    sandbox_clean.fault("slack", "malformed", count=1)
    with pytest.raises(VendorResponseError, match="malformed JSON"):
        slack.post_message("#fleet-alerts", "hello")
    assert len(sandbox_clean.requests("slack")) == 1


def test_refused_connection_is_retried_even_for_a_post(sleeps) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        SLACK_BOT_TOKEN=SLACK_BOT_TOKEN, SLACK_BASE_URL=f"http://127.0.0.1:{port}/api/"
    )
    client = build_slack_client(settings, sleep=sleeps, retry_wait=0)
    with pytest.raises(VendorTransientError, match="network error"):
        client.post_message("#fleet-alerts", "nobody listening")
    assert len(sleeps) == 2  # three attempts


def test_factory_refuses_without_token() -> None:
    with pytest.raises(UpstreamNotConfigured, match="SLACK_BOT_TOKEN"):
        build_slack_client(Settings(SLACK_BOT_TOKEN=""))


# --- request signatures -------------------------------------------------------------------------

BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"


def test_signature_matches_slack_sdk_and_verifies() -> None:
    ts = str(int(time.time()))
    signature = sign_slack_request(SLACK_SIGNING_SECRET, ts, BODY)
    assert signature == SignatureVerifier(SLACK_SIGNING_SECRET).generate_signature(
        timestamp=ts, body=BODY
    )
    verify_slack_signature(
        BODY, timestamp=ts, signature=signature, signing_secret=SLACK_SIGNING_SECRET
    )


def test_tampered_body_or_wrong_secret_is_invalid() -> None:
    ts = str(int(time.time()))
    signature = sign_slack_request(SLACK_SIGNING_SECRET, ts, BODY)
    with pytest.raises(SignatureInvalid):
        verify_slack_signature(
            BODY + b"x", timestamp=ts, signature=signature, signing_secret=SLACK_SIGNING_SECRET
        )
    with pytest.raises(SignatureInvalid):
        verify_slack_signature(BODY, timestamp=ts, signature=signature, signing_secret="other")


@pytest.mark.parametrize("skew", [-301, 301])
def test_stale_or_future_timestamp_is_invalid(skew) -> None:
    now = time.time()
    ts = str(int(now + skew))
    signature = sign_slack_request(SLACK_SIGNING_SECRET, ts, BODY)
    with pytest.raises(SignatureInvalid, match="tolerance"):
        verify_slack_signature(
            BODY, timestamp=ts, signature=signature, signing_secret=SLACK_SIGNING_SECRET, now=now
        )
    verify_slack_signature(
        BODY,
        timestamp=ts,
        signature=signature,
        signing_secret=SLACK_SIGNING_SECRET,
        now=now + skew - 299,
    )


def test_missing_headers_or_secret() -> None:
    with pytest.raises(SignatureMissing):
        verify_slack_signature(BODY, timestamp=None, signature="v0=abc", signing_secret="s")
    with pytest.raises(SignatureNotConfigured, match="SLACK_SIGNING_SECRET"):
        verify_slack_signature(BODY, timestamp="1", signature="v0=abc", signing_secret="")


def test_only_channels_of_the_workspace_take_messages(slack, sandbox_clean) -> None:
    """Like Slack: an unknown name is `channel_not_found`; the hub's default alert and
    escalation channels exist; a channel added through the control API takes messages."""
    defaults = Settings(_env_file=None)
    for channel in (
        defaults.SLACK_ALERTS_CHANNEL,
        defaults.SLACK_ESCALATION_CHANNEL,
        "#ops-memphis",
    ):
        assert slack.post_message(channel, "hello").ts
    with pytest.raises(VendorRejectedError, match="channel_not_found"):
        slack.post_message("#dallas", "hello")

    created = httpx.post(f"{sandbox_clean.url}/_sandbox/slack/channels", json={"name": "#dallas"})
    posted = slack.post_message("#dallas", "hello")
    assert posted.channel == created.json()["channel"]["id"]

    httpx.delete(f"{sandbox_clean.url}/_sandbox/slack/messages").raise_for_status()
    with pytest.raises(VendorRejectedError, match="channel_not_found"):
        slack.post_message("#dallas", "hello")
