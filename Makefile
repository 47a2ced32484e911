# Two commands: `make run` (set up and start everything) and `make test` (the whole suite on
# SQLite and PostgreSQL). Everything else here is a step they depend on.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/fleet_hub_test
PYTEST_ARGS ?=

.PHONY: run test test-sqlite test-postgres bench lint format clean migration baseline

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python cli.py run

test: $(STAMP)
	$(BIN)/python -m tests.ensure_postgres "$(TEST_DATABASE_URL)"
	@echo "== tests on SQLite =="
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)
	@echo "== tests on PostgreSQL =="
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test-sqlite: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	$(BIN)/python -m tests.ensure_postgres "$(TEST_DATABASE_URL)"
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(BIN)/python -m pytest $(PYTEST_ARGS)

# Alembic (docs/MIGRATIONS.md): `make migration m="add call table"` writes the migration for the
# model changes; `make baseline` replaces every revision by one (only before the first deploy).
MIGRATION_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/fleet_hub_migrations

migration: $(STAMP)
	@test -n "$(m)" || { echo 'usage: make migration m="what changed"'; exit 2; }
	$(BIN)/python -m db.migrations "$(m)" --url "$(MIGRATION_DATABASE_URL)"

baseline: $(STAMP)
	$(BIN)/python -m db.migrations baseline --baseline --url "$(MIGRATION_DATABASE_URL)"

bench: $(STAMP)
	@for script in bench/*.py; do echo "== $$script =="; $(BIN)/python $$script || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache *.egg-info
