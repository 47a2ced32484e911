"""Test harness: one engine per run (PostgreSQL when TEST_DATABASE_URL is set, else SQLite) and
every test inside an outer transaction that is rolled back afterwards."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from config import Settings  # importing reads nothing; get_settings() does

# The caller's configuration must not reach the tests: neither any settings variable exported in
# the shell (DEMO_ADMIN_PASSWORD, DATABASE_URL, vendor tokens…) nor a `.env` file in the cwd.
for _name in Settings.model_fields:
    os.environ.pop(_name, None)
Settings.model_config["env_file"] = None

# Settings are read at import time by the apps: set the test environment first.
_TMP = Path(tempfile.mkdtemp(prefix="fleet-hub-tests-"))
os.environ.update(
    {
        "ENVIRONMENT": "test",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "SERVICE_API_KEY": "test-service-api-key",
        "SQLITE_PATH": str(_TMP / "app.db"),
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "WARNING",
        "PROCESS_TUNING": "false",
        # Each test sees the tracking view it just changed (tests of the cache turn it on).
        "TRACK_VIEW_CACHE_SECONDS": "0",
    }
)
import pytest  # noqa: E402
from sqlalchemy import Engine, event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session, SQLModel  # noqa: E402

from config import get_settings  # noqa: E402
from db import database  # noqa: E402
from helpers import background_batches  # noqa: E402

pytest_plugins = ["tests.fixtures_auth", "tests.fixtures_sandbox"]

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


def _worker_database_url() -> str:
    """Each xdist worker gets its own PostgreSQL database, created if missing."""
    url = make_url(TEST_DATABASE_URL)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker:
        return TEST_DATABASE_URL
    worker_url = url.set(database=f"{url.database}_{worker}")
    database.create_database_if_missing(worker_url)
    return worker_url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    settings = get_settings()
    if TEST_DATABASE_URL:
        engine = database.create_db_engine(settings, url=_worker_database_url())
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.DB_SCHEMA}" CASCADE'))
    else:
        engine = database.create_db_engine(settings)
    database.set_engine(engine)
    from logic.bootstrap import bootstrap_database

    bootstrap_database(engine)
    yield engine
    database.set_engine(None)
    engine.dispose()


@pytest.fixture
def db_connection(engine: Engine) -> Iterator:
    connection = engine.connect()
    transaction = connection.begin()
    yield connection
    if transaction.is_active:
        transaction.rollback()
    connection.close()


@pytest.fixture
def session(db_connection) -> Iterator[Session]:
    """A session whose commits are savepoints inside a transaction rolled back after the test.

    Every session the code under test opens (requests, `session_scope`) shares this connection.
    """

    def factory() -> Session:
        return Session(
            bind=db_connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )

    database.configure_sessions(factory)
    with factory() as test_session:
        yield test_session
    # Nothing a request handed off may write into the next test's data.
    background_batches.settle()
    database.configure_sessions(None)


@pytest.fixture
def committed_db(engine: Engine) -> Iterator[Engine]:
    """Real commits on separate connections (concurrency tests); tables are emptied afterwards."""
    database.configure_sessions(None)
    yield engine
    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            if table.name not in _REFERENCE_TABLES:
                conn.execute(table.delete())


_REFERENCE_TABLES = {"role", "permission", "rolepermission", "role_permission"}


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
def query_counter(engine: Engine) -> Iterator[QueryCounter]:
    """Counts SQL statements sent to the database (excluding SAVEPOINT bookkeeping)."""
    counter = QueryCounter()

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            counter.statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    yield counter
    event.remove(engine, "before_cursor_execute", before)


@pytest.fixture(autouse=True)
def fresh_change_tokens() -> Iterator[None]:
    """Every change-token read is a real one (a test writes, then expects the next poll to see
    it); tests of the reuse window set their own. Not through `monkeypatch`: an autouse user
    would make every test's monkeypatch undo its changes only after all other fixtures."""
    from db import change_counters

    reuse = change_counters.TOKEN_REUSE_SECONDS
    change_counters.TOKEN_REUSE_SECONDS = 0.0
    change_counters._recent.clear()
    yield
    change_counters.TOKEN_REUSE_SECONDS = reuse


@pytest.fixture
def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def pytest_collection_modifyitems(config, items) -> None:
    if TEST_DATABASE_URL:
        return
    skip = pytest.mark.skip(reason="PostgreSQL-only (set TEST_DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fresh_tracking_caches() -> Iterator[None]:
    """The public tracking page's per-process state (links, views, rate-limit counts) starts
    empty: ids are reused between tests, and every test polls from the same address."""
    from logic.trips import track_cache, track_limits

    track_cache.clear()
    track_limits.clear()
    yield
    track_cache.clear()
    track_limits.clear()
