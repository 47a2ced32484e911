"""The webhook inbox's batch store: one bad delivery fails alone, the rest of its batch is kept."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from logic.calls.events import EventKey
from logic.calls.webhooks import Intake, receive_unit
from models.webhook_event import WebhookEvent


def _event(fingerprint: str, event_type: str = "status-update") -> tuple[EventKey, dict]:
    key = EventKey("vapi", event_type, fingerprint, f"pid-{fingerprint}", None, None)
    return key, {"message": {"type": event_type}}


@pytest.mark.postgres
def test_a_value_its_column_cannot_hold_fails_that_delivery_alone(committed_db):
    events = [_event("a"), _event("b", event_type="x" * 61), _event("c"), _event("a")]
    results = receive_unit(events)
    assert isinstance(results[1], DBAPIError)
    assert [type(r) for r in (results[0], results[2], results[3])] == [Intake] * 3
    assert results[0].stored and results[2].stored and not results[3].stored  # "a" twice
    with committed_db.connect() as conn:
        stored = conn.scalar(select(func.count()).select_from(WebhookEvent))
    assert stored == 2


def test_a_batch_stores_each_fingerprint_once(committed_db):
    results = receive_unit([_event("a"), _event("a"), _event("b")])
    assert [r.stored for r in results] == [True, False, True]
    assert receive_unit([_event("b")])[0].stored is False  # already in the inbox
