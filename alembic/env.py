"""Alembic environment: the app's engine and settings, every table of `models/` in `DB_SCHEMA`."""

from alembic import context

from db import migrations

migrations.run_environment(context)
