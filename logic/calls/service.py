"""Entry points shared by the routers, the CLI and scheduled jobs (each wires settings → work).

`after_placement` and `after_webhooks` are the after-commit steps: link and apply events that
arrived early, then send the Slack thread replies those calls queued — only those rows of the
alert outbox; the rest is the evaluation pass's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from config import Settings, get_settings
from helpers.errors import UpstreamNotConfigured
from logic.alerts import outbox
from logic.calls.placement import CallingPolicy
from logic.calls.webhooks import Processed, match_and_process, process_calls_unit
from utils.slack_client import build_slack_client

log = logging.getLogger(__name__)


def calling_policy(settings: Settings | None = None) -> CallingPolicy:
    return CallingPolicy.from_settings(settings or get_settings())


def _send_queued(processed: Iterable[Processed], settings: Settings) -> None:
    ids = [delivery for p in processed for delivery in p.deliveries]
    if not ids:
        return
    try:
        slack = build_slack_client(settings)
    except UpstreamNotConfigured:
        return  # Slack not configured: the evaluation pass drains the outbox when it is
    outbox.drain(slack, ids=ids)


def after_placement(call_ids: list[int], settings: Settings | None = None) -> None:
    """Events that beat the placement's commit are linked and applied now."""
    _send_queued(match_and_process(call_ids), settings or get_settings())


def after_webhooks(call_ids: Sequence[int], settings: Settings | None = None) -> list[Processed]:
    """Apply the calls' pending events; calls finished by them get their Slack reply at once."""
    processed = process_calls_unit(call_ids)
    _send_queued(processed.values(), settings or get_settings())
    return [processed[call_id] for call_id in call_ids]
