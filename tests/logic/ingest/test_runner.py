"""The run lifecycle: per-page commits, cursor only with data, one run per source+entity."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from db.database import session_scope
from db.upsert import bulk_upsert
from helpers.time_utils import utc_now
from logic.ingest.runner import (
    BadVendorData,
    IngestAlreadyRunning,
    PageWrite,
    execute,
    lock_key,
    start_run,
)
from models.ingest import IngestCursor, IngestRun
from models.vehicle import Vehicle


def _vehicle_page(units: list[str]):
    def write(session: Session) -> PageWrite:
        now = utc_now()
        rows = [
            {"samsara_id": f"S{u}", "unit_number": u, "status": "active", "created_at": now,
             "updated_at": now}
            for u in units
        ]  # fmt: skip
        result = bulk_upsert(
            session, Vehicle, rows, conflict_columns=["samsara_id"],
            update_columns=["unit_number", "status"], touch_columns=["updated_at"],
        )  # fmt: skip
        outcome = PageWrite(fetched=len(units), result=result)
        outcome.skip("missing vin")
        outcome.unmatched_ref("ditat_truck", f"T{units[0]}")
        return outcome

    return write


def _vehicles(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Vehicle))


def test_pages_commit_rows_cursor_and_counts_together(session: Session) -> None:
    session.add(IngestCursor(source="test", entity="pages", cursor="c0"))
    session.commit()
    run = start_run("test", "pages", trigger="cli")
    assert run.cursor_before == "c0"
    run.write_page(_vehicle_page(["1", "2"]), cursor_after="c1")
    run.write_page(_vehicle_page(["2", "3"]), cursor_after="c2")
    summary = run.finish()

    assert summary.status == "succeeded"
    assert (summary.pages, summary.fetched, summary.inserted, summary.unchanged) == (2, 4, 3, 1)
    assert summary.cursor_before == "c0" and summary.cursor_after == "c2"
    assert summary.skip_reasons == {"missing vin": 2} and summary.skipped == 2
    assert summary.unmatched == {"ditat_truck": {"count": 2, "sample": ["T1", "T2"]}}
    assert summary.trigger == "cli" and summary.duration_ms is not None
    session.expire_all()
    assert IngestCursor.get_for(session, "test", "pages").cursor == "c2"
    assert _vehicles(session) == 3


def test_failed_page_writes_nothing_and_keeps_the_cursor(session: Session) -> None:
    def bad_page(session: Session) -> PageWrite:
        _vehicle_page(["8"])(session)  # written, then rolled back with the page
        raise BadVendorData("vehicle 9: latitude 123 out of range")

    def body(run) -> None:
        run.write_page(_vehicle_page(["7"]), cursor_after="after-7")
        run.write_page(bad_page, cursor_after="after-9")

    summary = execute(start_run("test", "bad"), body)

    assert summary.status == "failed"
    assert summary.error == "vehicle 9: latitude 123 out of range"
    assert summary.pages == 1 and summary.cursor_after == "after-7"
    session.expire_all()
    assert IngestCursor.get_for(session, "test", "bad").cursor == "after-7"
    units = session.exec(select(Vehicle.unit_number)).all()
    assert units == ["7"]


def test_second_start_while_running_names_the_running_run(session: Session) -> None:
    first = start_run("test", "busy")
    with pytest.raises(IngestAlreadyRunning) as caught:
        start_run("test", "busy")
    assert caught.value.status_code == 409
    assert f"run {first.run_id}" in caught.value.detail
    assert caught.value.extra["running_run_id"] == first.run_id
    start_run("test", "other-entity").finish()  # other entities are not blocked
    first.finish()
    start_run("test", "busy").finish()  # the lock is released by finish()


def test_interrupt_marks_the_run_failed_and_releases_the_lock(session: Session) -> None:
    def body(run) -> None:
        run.write_page(_vehicle_page(["1"]), cursor_after="c1")
        raise KeyboardInterrupt

    handle = start_run("test", "interrupted")
    with pytest.raises(KeyboardInterrupt):
        execute(handle, body)
    run = session.get(IngestRun, handle.run_id)
    session.refresh(run)
    assert run.status == "failed" and run.error == "interrupted: KeyboardInterrupt"
    assert run.cursor_after == "c1"
    start_run("test", "interrupted").finish()


def test_a_dead_runs_leftover_row_is_taken_over(session: Session, is_postgres: bool) -> None:
    with session_scope() as s:
        dead = IngestRun(source="test", entity="dead", heartbeat_at=utc_now() - timedelta(hours=2))
        s.add(dead)
    handle = start_run("test", "dead")
    handle.finish()
    session.expire_all()
    old = session.get(IngestRun, dead.id)
    assert old.status == "failed" and old.error.startswith("abandoned")
    assert old.finished_at is not None


def test_fresh_running_row_without_lock(session: Session, is_postgres: bool) -> None:
    """PostgreSQL: no lock holder means the process is gone. SQLite: a fresh heartbeat wins."""
    with session_scope() as s:
        s.add(IngestRun(source="test", entity="fresh"))
    if is_postgres:
        start_run("test", "fresh").finish()
    else:
        with pytest.raises(IngestAlreadyRunning):
            start_run("test", "fresh")


def test_concurrent_start_on_separate_connections_conflicts(committed_db) -> None:
    first = start_run("test", "concurrent")
    try:
        with pytest.raises(IngestAlreadyRunning) as caught:
            start_run("test", "concurrent")
        assert caught.value.extra["running_run_id"] == first.run_id
    finally:
        first.finish()
    second = start_run("test", "concurrent")
    assert second.finish().status == "succeeded"


@pytest.mark.postgres
def test_advisory_lock_is_held_while_running(committed_db) -> None:
    from sqlalchemy import text

    engine = committed_db
    handle = start_run("test", "advisory")
    try:
        with engine.connect() as other:
            got = other.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key("test", "advisory")}
            ).scalar()
            assert got is False
    finally:
        handle.finish()
    with engine.connect() as other:
        key = {"k": lock_key("test", "advisory")}
        assert other.execute(text("SELECT pg_try_advisory_lock(:k)"), key).scalar() is True
        other.execute(text("SELECT pg_advisory_unlock(:k)"), key)
