"""Cheap "has anything in these tables changed?" tokens, from PostgreSQL's table statistics.

A dashboard polls the same list every few seconds; answering an unchanged poll with a 304 before
running the list query needs a change check far cheaper than the query. `pg_stat_user_tables`
keeps cumulative insert/update/delete counts per table: any committed write moves them (an aborted
one too, which only costs a refetch), and reading them touches no table. A reset sets them back to
zero, so the token is the counts and their epoch (server start, statistics reset). Backends
report their counts when a transaction ends, at most once a second and at the latest after 10 s
idle — so a transaction that writes asks for its counts to be reported as it commits
(`report_writes_at_commit`, PostgreSQL 15+): a change shows up in the token as soon as it is
committed, not up to 10 s later (a board polling every 5 s saw a change after up to 15 s).
Polls arriving together share one read: a process reuses a token it read less than
`TOKEN_REUSE_SECONDS` ago, so a change shows up at most that much later. (Reusing an older token
is always safe: a page served under it was read after it, so the worst case is one needless
refetch.) SQLite has no such statistics: the token is None and callers fall back to tagging the
body.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Table, event, text
from sqlmodel import Session

# The counters come from the statistics functions behind pg_stat_user_tables, called for just
# these tables (the view itself joins every relation of the database on each read). Their epoch
# goes first: they start again from zero after a restart (the postmaster's start time),
# `pg_stat_reset()` or a per-table reset (the database's `stats_reset`), and crash recovery (which
# discards every statistic and stamps the shared ones' reset time, bgwriter's among them);
# climbing back, they would repeat an old token for changed data.
_TOKEN = text(
    "SELECT md5(concat_ws(':', pg_postmaster_start_time(),"
    " pg_stat_get_db_stat_reset_time(d.oid), pg_stat_get_bgwriter_stat_reset_time()))"
    " || '/' || ("
    "  SELECT string_agg(CAST(coalesce(pg_stat_get_tuples_inserted(t)"
    "   + pg_stat_get_tuples_updated(t) + pg_stat_get_tuples_deleted(t), -1) AS text),"
    "   ',' ORDER BY n.i)"
    "  FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS n(name, i),"
    "  LATERAL to_regclass(n.name) AS t)"
    " FROM pg_database AS d WHERE d.datname = current_database()"
)

TOKEN_REUSE_SECONDS = 0.25
clock = time.monotonic
_recent: dict[tuple[Any, tuple[str, ...]], tuple[float, str]] = {}  # → (read at, token)


def change_token(session: Session, tables: Sequence[Table]) -> str | None:
    """A token that differs once any row of `tables` was written; None where unsupported.

    Statistics are read once per transaction (PostgreSQL caches them until it ends), which is
    one request in the apps.
    """
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    names = tuple(table.name for table in tables)
    key = (bind.engine.url, names)
    read_at, token = _recent.get(key, (float("-inf"), ""))
    if clock() - read_at < TOKEN_REUSE_SECONDS:
        return token
    read_at = clock()  # before the read: the token is never taken for newer than it is
    token = session.connection().execute(_TOKEN, {"names": list(names)}).scalar_one()
    _recent[key] = (read_at, token)
    return token


_WRITES = ("insert", "update", "delete")
_ASKED = "stats_flush_asked"


def report_writes_at_commit(engine: Engine) -> None:
    """On the transaction's first write, ask the backend to report its counts when it next goes
    idle (`pg_stat_force_next_flush()`), which is right after the COMMIT: one extra round trip
    per writing transaction, none for reads. Run on a separate cursor, so the write's own
    results (RETURNING) are untouched; PostgreSQL before 15 has no such function."""

    @event.listens_for(engine, "after_cursor_execute")
    def _ask_on_first_write(conn, cursor, statement, _params, _context, _many) -> None:
        if conn.info.get(_ASKED) or statement.lstrip()[:6].lower() not in _WRITES:
            return
        if (conn.dialect.server_version_info or (0,)) < (15,):
            return
        conn.info[_ASKED] = True
        with cursor.connection.cursor() as flush:
            flush.execute("SELECT pg_stat_force_next_flush()")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _transaction_ended(conn) -> None:
        # An invalidated connection (its backend gone) has no info to clear, and asking for it
        # would raise over the error being handled; its next DBAPI connection starts afresh.
        if not conn.invalidated:
            conn.info.pop(_ASKED, None)
