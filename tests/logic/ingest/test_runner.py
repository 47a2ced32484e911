"""The run lifecycle: per-page commits, cursor only with data, one run per source+entity."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlmodel import Session, func, select

from db.database import session_scope
from db.upsert import bulk_upsert
from helpers.time_utils import utc_now
from logic.ingest.runner import (
    BadVendorData,
    IngestAlreadyRunning,
    PageWrite,
    RunLostOwnership,
    execute,
    lock_key,
    start_run,
)
from models.ingest import IngestCursor, IngestRun
from models.vehicle import Vehicle

ROOT = Path(__file__).resolve().parents[3]


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


def _holder_pid(engine, source: str, entity: str) -> int:
    unsigned = lock_key(source, entity) & 0xFFFF_FFFF_FFFF_FFFF
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid::bigint = :hi AND objid::bigint = :lo"
            ),
            {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF},
        ).scalar_one()


def _terminate_lock_connection(engine, source: str, entity: str) -> None:
    """What a PostgreSQL restart does to a running ingest: its lock connection is gone."""
    pid = _holder_pid(engine, source, entity)
    with engine.connect() as conn:
        # With a timeout it waits until the backend has exited and so released its lock.
        assert conn.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid}).scalar()


@pytest.mark.postgres
def test_a_run_that_lost_its_lock_to_a_new_run_stops_and_never_rewrites_its_status(
    committed_db,
) -> None:
    first = start_run("test", "restart")
    first.write_page(_vehicle_page(["1"]), cursor_after="c1")
    _terminate_lock_connection(committed_db, "test", "restart")
    second = start_run("test", "restart")  # the lock is free: the first run is abandoned

    with pytest.raises(RunLostOwnership, match="lost its lock"):
        first.write_page(_vehicle_page(["2"]), cursor_after="c2")
    first.finish()  # must not write "succeeded" over the abandonment
    second.write_page(_vehicle_page(["3"]), cursor_after="c3")

    with session_scope() as s:
        old = s.get(IngestRun, first.run_id)
        assert old.status == "failed" and old.error.startswith("abandoned")
        assert old.pages == 1 and old.cursor_after == "c1"
        assert IngestCursor.get_for(s, "test", "restart").cursor == "c3"
        assert sorted(s.exec(select(Vehicle.unit_number)).all()) == ["1", "3"]
    assert second.finish().status == "succeeded"


@pytest.mark.postgres
def test_a_run_that_lost_its_lock_stops_with_a_recorded_error(committed_db) -> None:
    def body(run) -> None:
        run.write_page(_vehicle_page(["1"]), cursor_after="c1")
        _terminate_lock_connection(committed_db, "test", "lost")
        run.write_page(_vehicle_page(["2"]), cursor_after="c2")

    summary = execute(start_run("test", "lost"), body)

    assert summary.status == "failed" and "lost its lock" in summary.error
    assert summary.pages == 1 and summary.cursor_after == "c1"
    start_run("test", "lost").finish()


def test_a_page_of_a_taken_over_run_writes_nothing(session: Session) -> None:
    """Both databases: once its row is no longer `running`, the run cannot write a page."""
    handle = start_run("test", "taken")
    with session_scope() as s:
        s.execute(
            update(IngestRun)
            .where(IngestRun.id == handle.run_id)
            .values(status="failed", error="abandoned: test")
        )
    with pytest.raises(RunLostOwnership, match="taken over"):
        handle.write_page(_vehicle_page(["1"]), cursor_after="c1")
    handle.finish()

    session.expire_all()
    run = session.get(IngestRun, handle.run_id)
    assert (run.status, run.error, run.pages) == ("failed", "abandoned: test", 0)
    assert _vehicles(session) == 0 and IngestCursor.get_for(session, "test", "taken") is None


_HOLD_A_RUN = """
import sys, time
from logic.ingest.runner import start_run
start_run("test", "killed")
print("started", flush=True)
time.sleep(60)
"""


def test_a_run_killed_with_sigkill_does_not_block_the_next_one(committed_db, tmp_path) -> None:
    """kill -9 of an ingest: the next run starts at once (PostgreSQL: the lock died with the
    process; SQLite: the recorded owner pid no longer exists), not after the heartbeat ages."""
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    env["PYTHONPATH"] = str(ROOT)
    if committed_db.dialect.name == "postgresql":
        env["DATABASE_URL"] = committed_db.url.render_as_string(hide_password=False)
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_RUN], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "started"
        with pytest.raises(IngestAlreadyRunning):
            start_run("test", "killed")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)

    # PostgreSQL frees the lock when the child's backend reads the closed socket, a moment
    # after the kill (seen to lose the race on a loaded machine): "at once" is within seconds,
    # far below the heartbeat's staleness.
    killed_at = time.monotonic()
    while True:
        try:
            handle = start_run("test", "killed")
            break
        except IngestAlreadyRunning:
            assert time.monotonic() - killed_at < 5, "the killed run still blocks"
            time.sleep(0.05)
    handle.finish()
    with session_scope() as s:
        dead = s.exec(
            select(IngestRun).where(IngestRun.entity == "killed", IngestRun.id != handle.run_id)
        ).one()
        assert dead.status == "failed" and dead.error.startswith("abandoned")
        assert dead.owner == f"{socket.gethostname()}:{child.pid}"


def test_a_running_row_of_a_vanished_local_process_is_taken_over(session: Session) -> None:
    """SQLite's lock without a lock: a fresh heartbeat but an owner pid that does not exist."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    with session_scope() as s:
        s.add(IngestRun(source="test", entity="gone", owner=f"{socket.gethostname()}:{child.pid}"))
    handle = start_run("test", "gone")
    handle.finish()
    session.expire_all()
    [old] = session.exec(select(IngestRun).where(IngestRun.id != handle.run_id)).all()
    assert old.status == "failed"
    if session.get_bind().dialect.name == "sqlite":
        assert old.error == f"abandoned: its process {old.owner} no longer exists"
