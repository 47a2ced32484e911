"""Engine and schema selection, SQLite pragmas, UTC round trip."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlmodel import select

from db import database
from tests.db.probe_models import UpsertProbe


@pytest.mark.postgres
def test_tables_land_in_dev_schema(session):
    rows = session.execute(
        text(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = 'test_upsert_probe'"
        )
    ).all()
    assert [r[0] for r in rows] == ["dev"]
    assert session.execute(text("SHOW search_path")).scalar().split(",")[0].strip('" ') == "dev"


def test_sqlite_pragmas(session, is_postgres):
    if is_postgres:
        pytest.skip("SQLite only")
    assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_utc_round_trip(session):
    paris_noon = datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    session.add(UpsertProbe(external_id="utc-1", name="a", seen_at=paris_noon))
    session.flush()
    session.expire_all()
    stored = session.exec(select(UpsertProbe).where(UpsertProbe.external_id == "utc-1")).one()
    assert stored.seen_at.tzinfo is not None
    assert stored.seen_at.utcoffset() == timedelta(0)
    assert stored.seen_at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_naive_datetimes_are_refused(session):
    session.add(UpsertProbe(external_id="utc-2", name="b", seen_at=datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        session.flush()
    session.rollback()


def test_json_round_trip(session):
    session.add(UpsertProbe(external_id="json-1", name="c", details={"labels": ["a", "b"], "n": 2}))
    session.flush()
    session.expire_all()
    stored = session.exec(select(UpsertProbe).where(UpsertProbe.external_id == "json-1")).one()
    assert stored.details == {"labels": ["a", "b"], "n": 2}


@pytest.mark.postgres
def test_create_database_if_missing_is_idempotent(engine):
    from db.database import create_database_if_missing

    url = engine.url.set(database=f"{engine.url.database}_probe_create")
    first = create_database_if_missing(url)
    assert create_database_if_missing(url) is False  # the second call finds it
    assert first in (True, False)  # a previous run may have left it
    with database.create_db_engine(url=url).connect() as conn:
        assert conn.execute(text("SELECT current_database()")).scalar() == url.database


@pytest.mark.postgres
def test_a_connection_the_server_closed_is_replaced_at_checkout(engine):
    pool_engine = database.create_db_engine(url=engine.url)
    try:
        with pool_engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as admin:  # the server ends that (now idle, pooled) backend
            ended = admin.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": first})
            assert ended.scalar()
        with pool_engine.connect() as conn:
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert second != first
        assert pool_engine.pool.checkedout() == 0
    finally:
        pool_engine.dispose()
