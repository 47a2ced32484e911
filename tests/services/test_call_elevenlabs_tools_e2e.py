"""ElevenLabs voicemail and warm transfer over real HTTP against the sandbox: the agent's
built-in `voicemail_detection` and `transfer_to_number` tools (configured on the agent, not by
the hub) report in the conversation's `tool_results`; the hub reads them from the post-call
webhook and, when that is lost, from the polled conversation: `voicemail_left` (or `voicemail`
when the tool had no message), and a transfer recorded on the call and announced in the
alert's Slack thread as VAPI's is."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from db.database import session_scope
from logic.alerts import outbox
from logic.calls.voice.registry import CallProviders
from models.call import Call
from sandbox.credentials import ELEVENLABS_API_KEY
from tests.calls_support import (
    finalized_call,
    live_api,
    place_alert_call,
    reconcile_until_filled,
    route_webhooks,
    sandbox_settings,
    thread_replies,
    wait_for,
)
from tests.sandbox.test_elevenlabs_tools import ONCALL, tools_config
from utils.slack_client import build_slack_client


@pytest.fixture
def live(committed_db, sandbox_clean):
    with live_api(sandbox_clean, "elevenlabs") as url:
        yield url, sandbox_clean


def _configure(sandbox, agent_id: str, **tools) -> None:
    """What an operator does at ElevenLabs (the hub never configures agents)."""
    httpx.patch(
        f"{sandbox.url}/elevenlabs/v1/convai/agents/{agent_id}",
        headers={"xi-api-key": ELEVENLABS_API_KEY},
        json={"conversation_config": tools_config(**tools)},
    ).raise_for_status()


def _call(url: str, sandbox, phone: str, *, configured: bool = True, **tools):
    """Place an ElevenLabs call about an alert through a new agent (given the tools first)."""
    agent_id = f"agent_{uuid.uuid4().hex[:12]}"
    if configured:
        _configure(sandbox, agent_id, **tools)
    return place_alert_call(url, sandbox, phone, "elevenlabs", assistant_id=agent_id)


def _replies(sandbox, thread: str, needle: str) -> list[dict]:
    return wait_for(lambda: [m for m in thread_replies(sandbox, thread) if needle in m["text"]])


def test_voicemail_left_by_the_agents_tool(live):
    url, sandbox = live
    call_id, thread = _call(url, sandbox, "+12015550127")
    call = wait_for(lambda: finalized_call(call_id), timeout=15)
    assert call is not None and call.outcome == "voicemail_left"
    assert call.transferred_to is None
    replies = _replies(sandbox, thread, "voicemail")
    assert replies and "voicemail left" in replies[0]["text"]


def test_voicemail_tool_without_a_message_is_plain_voicemail(live):
    url, sandbox = live
    call_id, _ = _call(url, sandbox, "+12015550127", voicemail_message=None)
    call = wait_for(lambda: finalized_call(call_id), timeout=15)
    assert call is not None and call.outcome == "voicemail"


def test_a_breakdown_is_put_through_and_announced(live):
    url, sandbox = live
    call_id, thread = _call(url, sandbox, "+12015550113")  # scenario 1: broke down
    call = wait_for(lambda: finalized_call(call_id), timeout=15)
    assert call is not None and call.outcome == "completed"
    assert call.transferred_to == ONCALL
    assert call.started_at < call.transferred_at <= call.ended_at
    announced = _replies(sandbox, thread, "Transferred")
    assert announced and ONCALL in announced[0]["text"]


def test_without_the_tools_nothing_is_transferred_nor_left(live):
    url, sandbox = live
    urgent, _ = _call(url, sandbox, "+12015550113", configured=False)
    seven, _ = _call(url, sandbox, "+12015550127", configured=False)
    for call_id in (urgent, seven):
        call = wait_for(lambda c=call_id: finalized_call(c), timeout=15)
        assert call is not None and call.outcome == "completed" and call.transferred_to is None


def test_lost_webhooks_polling_reads_the_same_tool_results(live):
    url, sandbox = live
    route_webhooks(sandbox, None, vendors=("elevenlabs",))  # every webhook is lost
    voicemail, _ = _call(url, sandbox, "+12015550127")
    transfer, thread = _call(url, sandbox, "+12015550153")  # scenario 5: feeling unwell

    def dialed_ends() -> list | None:
        with session_scope() as session:
            calls = [session.get(Call, call_id) for call_id in (voicemail, transfer)]
            ends = [c.expected_end_at for c in calls if c.provider_call_id]
        return ends if len(ends) == 2 and all(ends) else None

    ends = wait_for(dialed_ends, timeout=15)  # dialed after the request commits
    assert ends
    late = max(ends) + timedelta(minutes=6)
    settings = sandbox_settings(sandbox)
    providers = CallProviders.from_settings(settings, retry_wait=0)
    try:
        assert reconcile_until_filled(providers, 2, late=late)
    finally:
        providers.close()
    left, put_through = finalized_call(voicemail), finalized_call(transfer)
    assert left is not None and left.outcome == "voicemail_left" and left.reconciled_at
    assert put_through is not None and put_through.transferred_to == ONCALL
    assert put_through.transferred_at is not None and put_through.reconciled_at
    # The scheduler's job, done here, at the pass's time (its replies were queued then).
    assert outbox.drain(build_slack_client(settings), now=late).sent >= 1
    announced = _replies(sandbox, thread, "Transferred")
    assert announced and ONCALL in announced[0]["text"]
