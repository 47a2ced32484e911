"""Alembic wiring: the environment `alembic/env.py` runs, the startup check, and autogenerate hooks.

Tables are created unqualified and land in `DB_SCHEMA` through the connection's `search_path`
(see `db/database.py`), so one migration serves every schema; the version table is put in the
same schema explicitly. The hooks make autogenerate render our column types (`db/types.py`),
keep PostgreSQL-only indexes off SQLite, and compare the `fillfactor` the trip tables declare.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import comparators, compare_metadata, renderers
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import render_op
from alembic.config import Config
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, Table, inspect, text
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from config import ConfigError, get_settings
from db.types import UTCDateTime

ROOT = Path(__file__).resolve().parent.parent
VERSION_TABLE = "alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    """The project's Alembic configuration, usable from any working directory."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def version_schema(connection: Connection) -> str | None:
    return get_settings().DB_SCHEMA if connection.dialect.name == "postgresql" else None


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database Alembic has never touched."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table_schema": version_schema(connection)}
        )
        return context.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def require_current(engine: Engine) -> None:
    """Raise a one-line `ConfigError` unless the database is at the head revision."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    at = f"is at revision {current}" if current else "has no migrations applied"
    raise ConfigError(
        f"database schema {at} but this release needs {head}: "
        "run `python cli.py migrate` before starting"
    )


def create_tables(engine: Engine) -> None:
    """The embedded/development path: create missing tables; a new database is stamped at head
    so `cli.py migrate` can take over from it later."""
    from db.database import init_db

    was_empty = not _has_model_tables(engine)
    init_db(engine)
    if was_empty and head_revision() is not None:
        with engine.begin() as connection:
            command.stamp(alembic_config(connection), "head")


def _has_model_tables(engine: Engine) -> bool:
    import models  # noqa: F401  (registers every table)

    schema = get_settings().DB_SCHEMA if engine.dialect.name == "postgresql" else None
    existing = set(inspect(engine).get_table_names(schema=schema))
    return bool(existing & set(SQLModel.metadata.tables))


# --- the environment alembic/env.py runs ------------------------------------------------------


def run_environment(context: Any) -> None:
    """Online: on the caller's connection (`config.attributes["connection"]`) or a fresh engine
    from settings. Offline (`--sql`): the statements for `DB_SCHEMA`, printed."""
    import models  # noqa: F401  (every model module is imported there, new ones included)

    if context.is_offline_mode():
        _run_offline(context)
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_online(context, connection)
        return
    from db.database import create_db_engine

    engine = create_db_engine(get_settings())
    try:
        with engine.begin() as connection:
            _run_online(context, connection)
    finally:
        engine.dispose()


def _options(sqlite: bool) -> dict[str, Any]:
    return {
        "target_metadata": SQLModel.metadata,
        "include_name": include_name,
        "include_object": include_object,
        "render_item": render_item,
        "process_revision_directives": keep_postgres_only_indexes_off_sqlite,
        "compare_type": True,
        "render_as_batch": sqlite,
    }


def _run_online(context: Any, connection: Connection) -> None:
    schema = version_schema(connection)
    if schema is not None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    context.configure(
        connection=connection,
        version_table_schema=schema,
        **_options(connection.dialect.name == "sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline(context: Any) -> None:
    from db.database import database_url

    url = database_url(get_settings())
    postgres = url.get_backend_name() == "postgresql"
    schema = get_settings().DB_SCHEMA if postgres else None
    context.configure(
        url=url,
        literal_binds=True,
        version_table_schema=schema,
        **_options(not postgres),
    )
    with context.begin_transaction():
        if schema is not None:
            context.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            context.execute(f'SET search_path TO "{schema}", public')
        context.run_migrations()


# --- autogenerate hooks ------------------------------------------------------------------------


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Compare only our schema's tables, never Alembic's own version table."""
    return not (type_ == "table" and name == VERSION_TABLE)


def test_only_tables() -> set[str]:
    """Tables that test modules map on the shared metadata (probes); never migrated."""
    registry = SQLModel._sa_registry  # type: ignore[attr-defined]
    return {
        mapper.local_table.name
        for mapper in registry.mappers
        if mapper.class_.__module__.startswith("tests.")
    }


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any):
    return not (type_ == "table" and name in test_only_tables())


def app_tables() -> set[str]:
    """Every table the migrations own: the models' (test probes excluded)."""
    import models  # noqa: F401

    return set(SQLModel.metadata.tables) - test_only_tables()


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render our column types as importable code instead of their reprs."""
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        autogen_context.imports.add("import db.types")
        return "db.types.UTCDateTime()"
    if isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def postgres_only_indexes(metadata: MetaData) -> set[str]:
    """Indexes declared with `.ddl_if(dialect="postgresql")` (e.g. `DESC NULLS LAST` ones)."""
    names = set()
    for table in metadata.tables.values():
        for index in table.indexes:
            condition = getattr(index, "_ddl_if", None)
            if condition is not None and condition.dialect == "postgresql" and index.name:
                names.add(index.name)
    return names


class PostgresOnlyOp(ops.MigrateOperation):
    """Wraps an index operation so the migration runs it on PostgreSQL only."""

    def __init__(self, operation: ops.MigrateOperation) -> None:
        self.operation = operation

    def reverse(self) -> PostgresOnlyOp:
        return PostgresOnlyOp(self.operation.reverse())

    def to_diff_tuple(self) -> Any:
        return self.operation.to_diff_tuple()


@renderers.dispatch_for(PostgresOnlyOp)
def _render_postgres_only(autogen_context: AutogenContext, op: PostgresOnlyOp) -> list[str]:
    # PythonPrinter indents after the `if …:` line and dedents at the empty line.
    inner = render_op(autogen_context, op.operation)
    return ['if op.get_bind().dialect.name == "postgresql":', *inner, ""]


def keep_postgres_only_indexes_off_sqlite(context: Any, revision: Any, directives: list) -> None:
    """process_revision_directives: wrap create/drop of PostgreSQL-only indexes."""
    names = postgres_only_indexes(SQLModel.metadata)
    if not names:
        return
    for script in directives:
        for container in (script.upgrade_ops, script.downgrade_ops):
            _wrap(container, names)


def _wrap(container: ops.OpContainer, names: set[str]) -> None:
    for position, operation in enumerate(container.ops):
        if isinstance(operation, ops.OpContainer):
            _wrap(operation, names)
        elif (
            isinstance(operation, ops.CreateIndexOp | ops.DropIndexOp)
            and operation.index_name in names
        ):
            container.ops[position] = PostgresOnlyOp(operation)


class SetFillfactorOp(ops.MigrateOperation):
    """`ALTER TABLE … SET (fillfactor = n)` (or RESET), reversible to the value it replaces."""

    def __init__(self, table: str, wanted: str | None, actual: str | None) -> None:
        self.table, self.wanted, self.actual = table, wanted, actual

    def reverse(self) -> SetFillfactorOp:
        return SetFillfactorOp(self.table, self.actual, self.wanted)

    def to_diff_tuple(self) -> tuple[str, str, str | None, str | None]:
        return ("fillfactor", self.table, self.actual, self.wanted)


@renderers.dispatch_for(SetFillfactorOp)
def _render_fillfactor(autogen_context: AutogenContext, op: SetFillfactorOp) -> list[str]:
    setting = f"SET (fillfactor = {int(op.wanted)})" if op.wanted else "RESET (fillfactor)"
    statement = f"op.execute({f'ALTER TABLE {op.table} {setting}'!r})"
    return ['if op.get_bind().dialect.name == "postgresql":', statement, ""]


@comparators.dispatch_for("table", qualifier="postgresql")
def _compare_fillfactor(
    autogen_context: AutogenContext,
    modify_ops: ops.ModifyTableOps,
    schema: str | None,
    tname: str,
    conn_table: Table | None,
    metadata_table: Table | None,
) -> None:
    """A declared `postgresql_with` fillfactor the live table lacks (or the reverse)."""
    if conn_table is None or metadata_table is None or autogen_context.connection is None:
        return
    declared = (metadata_table.dialect_options["postgresql"].get("with") or {}).get("fillfactor")
    wanted = str(declared) if declared is not None else None
    actual = _fillfactor(autogen_context.connection, tname)
    if wanted != actual:
        modify_ops.ops.append(SetFillfactorOp(tname, wanted, actual))


def _fillfactor(connection: Connection, table: str) -> str | None:
    options = connection.execute(
        text(
            "SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = :t"
        ),
        {"t": table},
    ).scalar()
    for option in options or []:
        key, _, value = option.partition("=")
        if key == "fillfactor":
            return value
    return None


def compare_to_models(engine: Engine) -> list[Any]:
    """What autogenerate would put in a new migration: empty when the models match the database."""
    with autogenerate_context(engine) as context:
        return compare_metadata(context, SQLModel.metadata)


@contextmanager
def autogenerate_context(engine: Engine) -> Iterator[MigrationContext]:
    """A migration context configured like env.py's, for comparing models to a live database."""
    import models  # noqa: F401

    with engine.connect() as connection:
        yield MigrationContext.configure(
            connection,
            opts={"version_table_schema": version_schema(connection), **_options(False)},
        )


# --- `make migration` / `make baseline` ---------------------------------------------------------

SCRATCH_SCHEMA = "autogen"


def _scratch_engine(url: str) -> Engine:
    """An engine on the scratch schema of `url` (created), emptied, for autogenerate."""
    import os

    from db.database import create_database_if_missing, create_db_engine

    create_database_if_missing(url)
    os.environ.update({"DATABASE_URL": url, "DB_SCHEMA": SCRATCH_SCHEMA})
    get_settings.cache_clear()
    engine = create_db_engine(get_settings())
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{SCRATCH_SCHEMA}" CASCADE'))
    return engine


def generate(url: str, message: str, *, baseline: bool = False) -> None:
    """Autogenerate a migration against a scratch schema upgraded to head (or left empty, with
    the old revisions deleted, for a new baseline)."""
    versions = ROOT / "alembic" / "versions"
    if baseline:
        for script in versions.glob("*.py"):
            script.unlink()
    engine = _scratch_engine(url)
    try:
        if not baseline:
            upgrade(engine)
        with engine.begin() as connection:
            command.revision(alembic_config(connection), message=message, autogenerate=True)
    finally:
        engine.dispose()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Generate a migration from the models.")
    parser.add_argument("message", help="what changed (the revision's slug)")
    parser.add_argument("--url", required=True, help="a PostgreSQL database for the scratch schema")
    parser.add_argument("--baseline", action="store_true", help="replace every revision by one")
    arguments = parser.parse_args()
    generate(arguments.url, arguments.message, baseline=arguments.baseline)
