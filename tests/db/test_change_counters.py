"""Change tokens: they move with committed writes, and a process reuses one for a moment."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import Session

from db import change_counters
from models.trip import Trip
from tests.change_counter_support import report_pending_counts


def _write_and_report(engine) -> None:
    with engine.connect() as conn:
        with Session(bind=conn) as session:
            session.add(Trip(ditat_id="CT-1"))
            session.commit()
        conn.execute(text("SELECT pg_stat_force_next_flush()"))  # report at this commit
        conn.commit()


@pytest.mark.postgres
def test_a_committed_write_moves_the_token_and_reuse_hides_it_only_for_the_window(
    committed_db, monkeypatch
):
    now = [1000.0]
    monkeypatch.setattr(change_counters, "clock", lambda: now[0])
    monkeypatch.setattr(change_counters, "TOKEN_REUSE_SECONDS", 0.25)
    tables = [Trip.__table__]

    def token() -> str | None:
        with Session(committed_db) as session:
            return change_counters.change_token(session, tables)

    before = token()
    _write_and_report(committed_db)
    now[0] += 0.1
    assert token() == before  # read 0.1 s ago: reused
    now[0] += 0.2
    after = token()
    assert after is not None and after != before  # 0.3 s: read again, the write shows


def _reset_statistics(engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_reset()"))
        conn.commit()


@pytest.mark.postgres
def test_a_statistics_reset_never_repeats_an_old_token(committed_db, monkeypatch):
    """Issue 21.14: the counters restart from zero after `pg_stat_reset()` (or a restart); once
    they climb back to an old value, a client holding that token must not get a 304 for data
    that changed meanwhile. SQLite has no statistics (and no token), so only PostgreSQL can show
    it; a server restart moves `pg_postmaster_start_time()`, which a test cannot do."""
    monkeypatch.setattr(change_counters, "TOKEN_REUSE_SECONDS", 0.0)
    tables = [Trip.__table__]

    def token() -> str | None:
        with Session(committed_db) as session:
            return change_counters.change_token(session, tables)

    report_pending_counts(committed_db)
    _reset_statistics(committed_db)
    held = token()  # a client keeps this one: counters at zero
    _write_and_report(committed_db)  # the data changes
    assert token() != held
    _reset_statistics(committed_db)  # the counters are back at zero

    assert token() != held


def test_sqlite_has_no_token(session, is_postgres):
    if is_postgres:
        pytest.skip("SQLite only")
    assert change_counters.change_token(session, [Trip.__table__]) is None


def _trip_token(engine) -> str | None:
    with Session(engine) as session:
        return change_counters.change_token(session, [Trip.__table__])


@pytest.mark.postgres
def test_a_write_is_reported_at_its_commit_without_being_asked(committed_db, monkeypatch):
    """The engine asks PostgreSQL to report a writing transaction's counts at its commit: a
    polled board sees the change on its next poll, not up to 10 s later (backends otherwise
    report at most once a second, and an idle one only after 10 s)."""
    monkeypatch.setattr(change_counters, "TOKEN_REUSE_SECONDS", 0.0)
    report_pending_counts(committed_db)
    for n in range(3):  # back to back: within a second of the previous report, too
        before = _trip_token(committed_db)
        with Session(committed_db) as session:
            session.add(Trip(ditat_id=f"CT-AUTO-{n}"))
            session.commit()
        assert _trip_token(committed_db) != before, n
    with committed_db.connect() as conn:  # a read-only transaction asks for nothing
        conn.execute(text("SELECT 1"))
        assert not conn.info.get("stats_flush_asked")
        conn.commit()
