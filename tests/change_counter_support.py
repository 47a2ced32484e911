"""Change counters in tests: make pending statistics reported before a test reads tokens."""

from __future__ import annotations

from sqlalchemy import Engine, text


def report_pending_counts(engine: Engine) -> None:
    """Make every pooled backend report its writes now (setup, earlier tests' cleanup), so the
    counters do not move later, in the middle of a test."""
    idle = [engine.connect() for _ in range(engine.pool.checkedin())]
    try:
        for conn in idle:
            conn.execute(text("SELECT pg_stat_force_next_flush()"))
            conn.commit()  # reported as the backend goes idle, before the commit returns
    finally:
        for conn in idle:
            conn.close()
