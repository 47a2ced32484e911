"""Admin and ops command line: run the stack, manage users, ingest, seed demo data."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from config import ConfigError, get_settings

app = typer.Typer(help="Fleet Intelligence Hub operations.", no_args_is_help=True)
console = Console(stderr=True)


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _settings():
    try:
        return get_settings()
    except ConfigError as exc:
        _fail(str(exc), 2)


@app.command("init-db")
def init_db_command() -> None:
    """Create the schema and tables and seed the default roles."""
    _settings()
    from logic.bootstrap import bootstrap_database

    bootstrap_database()
    console.print("database ready")


if __name__ == "__main__":
    try:
        app()
    except ConfigError as exc:
        sys.exit(f"fleet-hub: {exc}")
