"""What a shutting-down process hands back: background ingest runs stop at their next page and
free their lock, a drain stops between deliveries and returns its unsent claims."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from helpers import shutdown
from helpers.time_utils import utc_now
from logic.alerts import outbox
from logic.ingest.runner import PageWrite, execute, interrupt_active_runs, start_run
from models.alert import AlertDelivery, DeliveryStatus
from models.ingest import IngestRun, IngestStatus
from tests.logic.alerts.test_outbox import raise_alerts, slack


@pytest.fixture
def flag() -> Iterator[None]:
    shutdown.reset()
    yield
    shutdown.reset()


def test_a_background_run_stops_at_its_next_page_and_frees_the_lock(session: Session, flag):
    handle = start_run("test", "draining")
    handle.stop_on_shutdown = True

    def body(run) -> None:
        run.write_page(lambda s: PageWrite(fetched=1))
        shutdown.request_shutdown()
        run.write_page(lambda s: PageWrite(fetched=1))  # never written

    summary = execute(handle, body)

    assert summary.status == IngestStatus.FAILED
    assert summary.error.startswith("interrupted: the process is shutting down")
    assert (summary.pages, summary.fetched) == (1, 1)
    start_run("test", "draining").finish()  # free at once, no stale-run wait


def test_a_request_run_is_not_cut_short_by_the_flag(session: Session, flag):
    shutdown.request_shutdown()
    handle = start_run("test", "in-request")  # stop_on_shutdown stays False
    summary = execute(handle, lambda run: run.write_page(lambda s: PageWrite(fetched=2)))
    assert summary.status == IngestStatus.SUCCEEDED


def test_runs_still_going_at_exit_are_recorded_and_released(session: Session, flag):
    handle = start_run("test", "left-over")

    assert interrupt_active_runs("the instance shut down") >= 1

    run = session.get(IngestRun, handle.run_id)
    session.refresh(run)
    assert run.status == IngestStatus.FAILED.value
    assert run.error == "interrupted: the instance shut down"
    start_run("test", "left-over").finish()
    with pytest.raises(Exception, match="shutting down"):
        handle.write_page(lambda s: PageWrite())  # the thread still in it stops here


class _ShutdownAfterFirstCall:
    """A Slack client that receives SIGTERM while its first message is on the wire."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            finally:
                shutdown.request_shutdown()

        return call


def test_a_drain_stops_between_deliveries_and_hands_back_its_claims(
    session: Session, sandbox_clean, flag
):
    raise_alerts(session, 3, now=utc_now())

    result = outbox.drain(_ShutdownAfterFirstCall(slack(sandbox_clean)))

    assert (result.claimed, result.sent) == (3, 1)
    rows = session.scalars(select(AlertDelivery).order_by(AlertDelivery.id)).all()
    for row in rows:
        session.refresh(row)
    assert [r.status for r in rows] == [
        DeliveryStatus.SENT,
        DeliveryStatus.PENDING,
        DeliveryStatus.PENDING,
    ]
    assert all(r.claim_token is None and r.next_attempt_at <= utc_now() for r in rows[1:])
