"""Entry points shared by the routers, the CLI and scheduled jobs (each wires settings → work).

`after_placement` and `after_webhook` are the after-commit steps: link and apply events that
arrived early, then push any Slack thread reply the call queued (the alert outbox).
"""

from __future__ import annotations

import logging

from config import Settings, get_settings
from helpers.errors import UpstreamNotConfigured
from logic.alerts import outbox
from logic.calls.placement import CallingPolicy
from logic.calls.webhooks import match_and_process, process_call_events_unit
from utils.slack_client import build_slack_client

log = logging.getLogger(__name__)


def calling_policy(settings: Settings | None = None) -> CallingPolicy:
    return CallingPolicy.from_settings(settings or get_settings())


def _drain_slack(settings: Settings) -> None:
    try:
        slack = build_slack_client(settings)
    except UpstreamNotConfigured:
        return  # Slack not configured: the evaluation pass drains the outbox when it is
    outbox.drain(slack)


def after_placement(call_ids: list[int], settings: Settings | None = None) -> None:
    """Events that beat the placement's commit are linked and applied now."""
    if any(p.finalized for p in match_and_process(call_ids)):
        _drain_slack(settings or get_settings())


def after_webhook(call_id: int, settings: Settings | None = None) -> None:
    """Apply the call's pending events; a call finished by them gets its Slack reply at once."""
    if process_call_events_unit(call_id).finalized:
        _drain_slack(settings or get_settings())
