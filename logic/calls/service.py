"""Entry points shared by the routers, the CLI and scheduled jobs (each wires settings → work).

`dial_after_commit`, `after_placement` and `after_webhooks` are the after-commit steps: dial
what a request queued; link and apply events that arrived early, then send the Slack thread
replies those calls queued — only those rows of the alert outbox; the rest is the evaluation
pass's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta

from config import Settings, get_settings
from helpers.errors import UpstreamNotConfigured
from logic.alerts import outbox
from logic.calls.dialing import Dialer, dial_many
from logic.calls.placement import CallingPolicy
from logic.calls.voice.registry import CallProviders
from logic.calls.webhooks import Processed, match_and_process, process_calls_unit
from utils.slack_client import build_slack_client

log = logging.getLogger(__name__)


def calling_policy(settings: Settings | None = None) -> CallingPolicy:
    return CallingPolicy.from_settings(settings or get_settings())


def dialer_for(
    providers: CallProviders, settings: Settings | None = None, *, concurrency: int | None = None
) -> Dialer:
    settings = settings or get_settings()
    if concurrency is None:
        # Parallel on SQLite too: only the dialer's own thread writes (`dial_many`).
        concurrency = settings.CALL_DIAL_CONCURRENCY
    return Dialer(
        providers=providers,
        webhook_base_url=settings.CALL_WEBHOOK_BASE_URL,
        concurrency=concurrency,
        give_up_after=timedelta(minutes=settings.CALL_GIVE_UP_AFTER_MINUTES),
    )


def dial_after_commit(
    call_ids: Sequence[int], settings: Settings | None = None
) -> dict[int, str | None]:
    """A request's after-commit step: dial the calls it queued (its own provider clients: the
    request's are closed by now), then match their early events. A call another dialer
    already took is left to it; one nobody takes is dialed by the next recovery pass."""
    settings = settings or get_settings()
    providers = CallProviders.from_settings(settings)
    try:
        statuses = dial_many(call_ids, dialer_for(providers, settings, concurrency=1))
    finally:
        providers.close()
    after_placement([i for i, s in statuses.items() if s is not None], settings)
    return statuses


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
