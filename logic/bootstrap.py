"""Startup work both apps and the CLI share: the schema (created, or checked against the
migrations), then reference data."""

from __future__ import annotations

from sqlalchemy import Engine

from config import get_settings
from db import migrations
from db.database import get_engine, session_scope


def bootstrap_database(engine: Engine | None = None) -> None:
    """Idempotent: safe on every start of every instance.

    With migrations required (production) the schema is Alembic's alone: a database behind the
    head revision raises a one-line `ConfigError` and nothing is created. Otherwise missing tables
    are created from the models (the embedded SQLite default).
    """
    given = engine
    engine = engine or get_engine()
    if get_settings().migrations_required:
        migrations.require_current(engine)
    else:
        migrations.create_tables(engine)
    # Seeding finds everything in place on all but the first start: read, don't lock. Without
    # an engine given, the seed runs in the process's configured sessions (a test's own
    # rolled-back transaction among them) instead of committing beside them.
    with session_scope(given, immediate=False) as session:
        for seed in _seeders():
            seed(session)


def _seeders() -> list:
    from logic.auth.roles import seed_default_roles
    from logic.calls.profiles import seed_call_profiles

    return [seed_default_roles, seed_call_profiles]
