"""Alembic: an empty database upgrades to head, the models match the migrations exactly (so a
model change without its migration fails here), and the latest migration goes down and up."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic.autogenerate import produce_migrations, render_python_code
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

from config import get_settings
from db import migrations
from db.database import create_db_engine


@pytest.fixture
def scratch(engine: Engine, tmp_path, monkeypatch) -> Iterator[Engine]:
    """An empty schema (PostgreSQL) or file (SQLite) of its own, at no revision."""
    schema = f"migrations_{os.getpid()}"
    monkeypatch.setenv("DB_SCHEMA", schema)
    get_settings.cache_clear()
    if engine.dialect.name == "postgresql":
        url = engine.url.render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    scratch = create_db_engine(get_settings(), url=url)
    _drop(scratch, schema)
    yield scratch
    _drop(scratch, schema)
    scratch.dispose()
    monkeypatch.undo()
    get_settings.cache_clear()


def _drop(engine: Engine, schema: str) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def _tables(engine: Engine) -> set[str]:
    schema = get_settings().DB_SCHEMA if engine.dialect.name == "postgresql" else None
    return set(inspect(engine).get_table_names(schema=schema))


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_empty_database_upgrades_to_head_and_matches_the_models(scratch):
    assert migrations.current_revision(scratch) is None

    migrations.upgrade(scratch)

    assert migrations.current_revision(scratch) == migrations.head_revision()
    assert migrations.app_tables() | {"alembic_version"} == _tables(scratch)
    # The rule: every model change brings its migration (`make migration m="..."`).
    assert migrations.compare_to_models(scratch) == []


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_latest_migration_downgrades_and_upgrades_again(scratch):
    migrations.upgrade(scratch)
    script = migrations.ScriptDirectory.from_config(migrations.alembic_config())
    latest = script.get_revision(migrations.head_revision())

    migrations.downgrade(scratch, "-1")
    assert migrations.current_revision(scratch) == latest.down_revision
    migrations.upgrade(scratch)

    assert migrations.current_revision(scratch) == latest.revision
    assert migrations.compare_to_models(scratch) == []


@pytest.mark.postgres
def test_version_table_and_every_table_live_in_the_configured_schema(scratch):
    migrations.upgrade(scratch)
    schema = get_settings().DB_SCHEMA
    with scratch.connect() as conn:
        in_schema = set(
            conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            ).scalars()
        )
        version = conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version'))
        assert version.scalar() == migrations.head_revision()
    assert in_schema == migrations.app_tables() | {"alembic_version"}


@pytest.mark.postgres
def test_fillfactor_is_migrated_and_a_drifted_one_is_a_difference(scratch):
    migrations.upgrade(scratch)
    with scratch.begin() as conn:
        options = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE oid = 'trip'::regclass")
        ).scalar()
        assert options == ["fillfactor=85"]
        conn.execute(text("ALTER TABLE trip RESET (fillfactor)"))

    assert migrations.compare_to_models(scratch) == [("fillfactor", "trip", None, "85")]


@pytest.mark.postgres
def test_a_schema_that_drifted_from_the_models_is_reported(scratch):
    migrations.upgrade(scratch)
    with scratch.begin() as conn:
        conn.execute(text("ALTER TABLE trip DROP COLUMN notes"))
        conn.execute(text("DROP INDEX ix_trip_schedule_desc"))

    kinds = {(diff[0], getattr(diff[-1], "name", None)) for diff in _flatten(scratch)}
    assert ("add_column", "notes") in kinds
    assert ("add_index", "ix_trip_schedule_desc") in kinds


def _flatten(engine: Engine) -> list:
    found = []
    for diff in migrations.compare_to_models(engine):
        found.extend(diff if isinstance(diff, list) else [diff])
    return found


@pytest.mark.postgres
def test_autogenerate_renders_our_types_and_keeps_postgres_only_indexes_off_sqlite(scratch):
    with migrations.autogenerate_context(scratch) as context:
        script = produce_migrations(context, SQLModel.metadata)
        migrations.keep_postgres_only_indexes_off_sqlite(context, None, [script])
        code = render_python_code(
            script.upgrade_ops,
            render_item=migrations.render_item,
            migration_context=context,
        )

    assert "db.types.UTCDateTime()" in code
    assert "AutoString" not in code
    assert "postgresql_with={'fillfactor': 85}" in code
    guarded = code.split('if op.get_bind().dialect.name == "postgresql":')[1]
    assert guarded.lstrip().startswith("op.create_index('ix_trip_schedule_desc'")


def test_a_new_database_created_from_the_models_is_stamped_at_head(scratch):
    migrations.create_tables(scratch)

    assert migrations.current_revision(scratch) == migrations.head_revision()
