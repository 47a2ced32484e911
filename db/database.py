"""Engine, sessions and schema for PostgreSQL (schema `DB_SCHEMA`) or embedded SQLite.

Sessions commit at the boundary only: `get_session` (requests) and `session_scope` (background
work). Logic and models may flush, never commit.
"""

from __future__ import annotations

import logging
import math
import select
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlmodel import Session, SQLModel

from config import ConfigError, Settings, get_settings
from db.change_counters import report_writes_at_commit

log = logging.getLogger(__name__)

_engine: Engine | None = None


def database_url(settings: Settings) -> URL:
    """The URL the settings describe: explicit `DATABASE_URL`, else PostgreSQL, else SQLite."""
    if settings.DATABASE_URL:
        try:
            url = make_url(settings.DATABASE_URL)
        except ArgumentError:
            raise ConfigError("DATABASE_URL is not a valid database URL") from None
        if url.get_backend_name() not in ("postgresql", "sqlite"):
            raise ConfigError(f"DATABASE_URL backend {url.get_backend_name()!r} is not supported")
        return url
    if settings.INSTANCE_UNIX_SOCKET or settings.DB_HOST:
        query = {"host": settings.INSTANCE_UNIX_SOCKET} if settings.INSTANCE_UNIX_SOCKET else {}
        return URL.create(
            "postgresql+psycopg2",
            username=settings.DB_USER or None,
            password=settings.DB_PASS.get_secret_value() or None,
            host=None if settings.INSTANCE_UNIX_SOCKET else settings.DB_HOST,
            port=None if settings.INSTANCE_UNIX_SOCKET else settings.DB_PORT,
            database=settings.DB_NAME or None,
            query=query,
        )
    return URL.create("sqlite", database=str(settings.SQLITE_PATH))


def absolute_database_url(settings: Settings) -> URL:
    """`database_url`, with a relative SQLite path made absolute (so that it names the same file
    from any working directory)."""
    url = database_url(settings)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).resolve()))
    return url


def create_db_engine(settings: Settings | None = None, url: URL | str | None = None) -> Engine:
    """Build an engine: PostgreSQL with the production pool and `search_path`, or SQLite."""
    settings = settings or get_settings()
    url = make_url(url) if url is not None else database_url(settings)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, settings)
    # SQLAlchemy 2.1 defaults to psycopg 3; the stack is psycopg2 (and its COPY support).
    url = url.set(drivername="postgresql+psycopg2")
    engine = create_engine(
        url,
        pool_size=settings.DB_POOL_SIZE,
        max_overflow=settings.DB_MAX_OVERFLOW,
        pool_timeout=settings.DB_POOL_TIMEOUT,
        # An UPDATE/DELETE run for many rows (an ORM flush of many changed objects) goes out in
        # pages of statements, one round trip each, instead of one round trip per row.
        executemany_mode="values_plus_batch",
        connect_args={"connect_timeout": 5, "application_name": "fleet-hub"},
    )
    schema = settings.DB_SCHEMA
    event.listen(engine, "checkout", _refuse_closed_by_server)
    # Polled lists tag their pages by table change counters: a write shows in them on commit.
    report_writes_at_commit(engine)

    @event.listens_for(engine, "connect")
    def _set_search_path(dbapi_connection: Any, _record: Any) -> None:
        # Every pooled connection must resolve unqualified table names in our schema; the
        # schema name is validated as an identifier in Settings, so quoting it is safe.
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f'SET search_path TO "{schema}", public')
        dbapi_connection.commit()

    return engine


def _refuse_closed_by_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hand out no pooled connection the server has closed (restart, failover, terminated
    backend): the pool then replaces it, as SQLAlchemy's pessimistic disconnect recipe does.

    An idle PostgreSQL connection has nothing to read unless the server hung up (its FATAL
    goodbye or EOF is waiting), so a zero-timeout poll of the socket tells — instead of
    `pool_pre_ping`'s `SELECT 1`, a round trip before every transaction.
    """
    if dbapi_connection.closed:
        raise DisconnectionError("the connection was closed")
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        raise DisconnectionError("the server closed the connection")


def _sqlite_engine(url: URL, settings: Settings) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        pool_size=settings.DB_POOL_SIZE,
        max_overflow=settings.DB_MAX_OVERFLOW,
        pool_timeout=settings.DB_POOL_TIMEOUT,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINTs; SQLAlchemy's documented
        # recipe turns it off here and emits BEGIN itself in the "begin" hook below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        _ensure_sqlite_math(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        # Writers (write requests, session_scope) ask for IMMEDIATE (`_begin_immediate`);
        # readers stay deferred, so they never wait for a writer (WAL).
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine


_SQLITE_MATH: dict[str, Callable[[float], float]] = {
    "radians": math.radians,
    "sin": math.sin,
    "cos": math.cos,
    "asin": math.asin,
    "sqrt": math.sqrt,
}


def _ensure_sqlite_math(dbapi_connection: Any) -> None:
    """The math functions report queries use (GPS track length), for SQLite builds compiled
    without SQLITE_ENABLE_MATH_FUNCTIONS (most have them; then this does nothing)."""
    try:
        dbapi_connection.execute("SELECT radians(sin(cos(asin(sqrt(0)))))").fetchall()
    except sqlite3.OperationalError:
        for name, fn in _SQLITE_MATH.items():
            dbapi_connection.create_function(
                name, 1, lambda x, fn=fn: None if x is None else fn(x), deterministic=True
            )


def create_database_if_missing(url: URL | str) -> bool:
    """Create the PostgreSQL database `url` names unless it exists (tests, benchmarks).

    Returns True when it was created. Connects to the server's `postgres` database to do it.
    """
    url = make_url(url)
    admin = create_engine(url.set(drivername="postgresql+psycopg2", database="postgres"))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}
            ).scalar()
            if found is None:
                conn.execute(text(f'CREATE DATABASE "{url.database}"'))
            return found is None
    finally:
        admin.dispose()


def get_engine() -> Engine:
    """The process-wide engine, created on first use from settings."""
    global _engine
    if _engine is None:
        _engine = create_db_engine()
    return _engine


def current_engine() -> Engine | None:
    """The process-wide engine if one was created (metrics must not create one)."""
    return _engine


def set_engine(engine: Engine | None) -> None:
    """Replace the process-wide engine (tests, CLI)."""
    global _engine
    _engine = engine


def ensure_schema(engine: Engine, schema: str) -> None:
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


def init_db(engine: Engine | None = None) -> None:
    """Create the schema (PostgreSQL) and every table the models define."""
    import models  # noqa: F401  (registers every table on SQLModel.metadata)

    engine = engine or get_engine()
    ensure_schema(engine, get_settings().DB_SCHEMA)
    SQLModel.metadata.create_all(engine)


def ping(engine: Engine | None = None) -> None:
    """One round trip; raises the driver's error when the database is unreachable."""
    with (engine or get_engine()).connect() as conn:
        conn.execute(text("SELECT 1"))


def _default_session_factory() -> Session:
    return Session(get_engine(), expire_on_commit=False)


_session_factory: Callable[[], Session] = _default_session_factory


def configure_sessions(factory: Callable[[], Session] | None) -> None:
    """Swap how sessions are opened (tests bind them to one rolled-back connection)."""
    global _session_factory
    _session_factory = factory or _default_session_factory


def new_session(*, write: bool = False) -> Session:
    """A session; `write=True` for work that writes (see `_begin_immediate`)."""
    session = _session_factory()
    if write:
        _begin_immediate(session)
    return session


def _begin_immediate(session: Session) -> None:
    """On SQLite, start the session's transaction (when it first runs a statement) with BEGIN
    IMMEDIATE. A deferred transaction that reads first cannot upgrade to a write once another
    connection has committed since its read: SQLite refuses at once ("database is locked") and
    the busy timeout never applies. Taking the write lock up front makes writers queue instead.
    """
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "sqlite":
        session.bind = bind.execution_options(sqlite_begin="IMMEDIATE")


def end_read(session: Session) -> None:
    """End a write session's transaction after its caller was authenticated (SQLite only).

    The first statement of a write request takes SQLite's write lock; an endpoint that runs its
    own units of work (the campaign tick) would otherwise wait on its own request until the
    busy timeout. The endpoint's own writes begin a new IMMEDIATE transaction.
    """
    bind = session.get_bind()
    if (
        isinstance(bind, Engine)
        and bind.get_execution_options().get("sqlite_begin") == "IMMEDIATE"
        and session.in_transaction()
    ):
        session.commit()


def get_session(*, write: bool = False) -> Iterator[Session]:
    """Request-scoped session: committed when the endpoint succeeds, rolled back otherwise.
    `write`: the request may write (any method but GET, HEAD, OPTIONS)."""
    with new_session(write=write) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def session_scope(engine: Engine | None = None, *, immediate: bool = True) -> Iterator[Session]:
    """A unit of background work in one transaction: commit on success, roll back on error.

    On SQLite the transaction takes the write lock at once unless `immediate=False` (for work
    that normally only reads), so concurrent background writers queue instead of failing.
    """
    session = Session(engine, expire_on_commit=False) if engine is not None else new_session()
    if immediate:
        _begin_immediate(session)
    with session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
