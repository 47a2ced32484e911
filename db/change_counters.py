"""Cheap "has anything in these tables changed?" tokens, from PostgreSQL's table statistics.

A dashboard polls the same list every few seconds; answering an unchanged poll with a 304 before
running the list query needs a change check far cheaper than the query. `pg_stat_user_tables`
keeps cumulative insert/update/delete counts per table: any committed write moves them (an aborted
one too, which only costs a refetch), and reading them touches no table. Backends report their
counts when a transaction ends, at most once a second and at the latest after 10 s idle, so a
change shows up in the token within about a second and never later than ~10 s — the staleness a
polled board may show. SQLite has no such statistics: the token is None and callers fall back
to tagging the body.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, text
from sqlmodel import Session

_COUNTS = text(
    "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
    " WHERE schemaname = current_schema() AND relname = ANY(:names) ORDER BY relname"
)


def change_token(session: Session, tables: Sequence[Table]) -> str | None:
    """A token that differs once any row of `tables` was written; None where unsupported."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    # Statistics read in a transaction are cached until it ends; a long one must not go stale.
    session.execute(text("SELECT pg_stat_clear_snapshot()"))
    rows = session.execute(_COUNTS, {"names": [table.name for table in tables]}).all()
    return ",".join(f"{name}:{count}" for name, count in rows)
