"""Startup work both apps and the CLI share: create the schema and tables, seed reference data."""

from __future__ import annotations

from sqlalchemy import Engine

from db.database import get_engine, init_db, session_scope


def bootstrap_database(engine: Engine | None = None) -> None:
    """Idempotent: safe on every start of every instance."""
    engine = engine or get_engine()
    init_db(engine)
    # Seeding finds everything in place on all but the first start: read, don't lock.
    with session_scope(engine, immediate=False) as session:
        for seed in _seeders():
            seed(session)


def _seeders() -> list:
    from logic.auth.roles import seed_default_roles
    from logic.calls.profiles import seed_call_profiles

    return [seed_default_roles, seed_call_profiles]
