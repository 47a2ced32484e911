# Two commands: `make run` (set up and start everything) and `make test` (the whole suite on
# SQLite and PostgreSQL). Everything else here is a step they depend on.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/fleet_hub_test
PYTEST_ARGS ?=

.PHONY: run test test-sqlite test-postgres test-floor bench lint format clean browser vendor-console migration baseline lock

$(BIN)/python:
	@echo "== creating $(VENV) (first run only) =="
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --progress-bar on --upgrade pip

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	@echo "== installing the project and its dependencies into $(VENV) (about half a minute) =="
	$(BIN)/python -m pip install --progress-bar on -e '.[dev]' -c constraints.txt
	@touch $(STAMP)
	@echo "== $(VENV) is ready =="

run: $(STAMP)
	$(BIN)/python cli.py run

test: $(STAMP) browser
	$(BIN)/python -m tests.ensure_postgres "$(TEST_DATABASE_URL)"
	@echo "== tests on SQLite =="
	env -u TEST_DATABASE_URL $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)
	@echo "== tests on PostgreSQL =="
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test-sqlite: $(STAMP)
	env -u TEST_DATABASE_URL $(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	$(BIN)/python -m tests.ensure_postgres "$(TEST_DATABASE_URL)"
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(BIN)/python -m pytest $(PYTEST_ARGS)

# constraints.txt holds the versions the suite passed with. `make lock` re-resolves them to the
# newest pyproject.toml allows, in a throwaway venv; run `make test` before committing the result.
LOCK_VENV := .venv-lock

# $(call freeze,LOCK,PIP ARGS): resolve '.[dev]' afresh in a throwaway venv and write LOCK.
define freeze
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install -q -e '.[dev]' $(2)
	{ grep '^#' $(1); $(LOCK_VENV)/bin/python -m pip freeze --exclude-editable | sort -f; } > $(1).new
	mv $(1).new $(1)
	rm -rf $(LOCK_VENV)
endef

# The floor's own lock (.ci/floor-lock.txt) is made the same way, from the floor's pins.
lock:
	$(call freeze,constraints.txt,)
	$(call freeze,.ci/floor-lock.txt,-c .ci/floor-constraints.txt)
	@echo "== constraints.txt and .ci/floor-lock.txt refreshed: run make test and make test-floor, then commit them =="

# The lowest versions of the web stack pyproject.toml allows (.ci/floor-constraints.txt), in a
# venv of their own, running the app tests on SQLite and PostgreSQL: the floor is a promise.
FLOOR_VENV := .venv-floor
FLOOR_TESTS ?= tests/services tests/test_route_inventory.py tests/test_floor.py

$(FLOOR_VENV)/.installed: pyproject.toml .ci/floor-lock.txt
	$(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -m pip install -q --upgrade pip
	$(FLOOR_VENV)/bin/python -m pip install -q -e '.[dev]' -c .ci/floor-lock.txt
	@touch $@

test-floor: $(FLOOR_VENV)/.installed
	$(FLOOR_VENV)/bin/python -m pip check
	$(FLOOR_VENV)/bin/python -m tests.ensure_postgres "$(TEST_DATABASE_URL)"
	env -u TEST_DATABASE_URL $(FLOOR_VENV)/bin/python -m pytest -n 2 $(FLOOR_TESTS)
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(FLOOR_VENV)/bin/python -m pytest -n 2 $(FLOOR_TESTS)

# The console's browser tests drive Debian's chromium (playwright's own download is not used).
# As root it is installed when missing; otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium not installed (not root or no apt-get): the console browser tests will skip"

# Re-fetch the console's vendored libraries (and the tests' axe-core) from npm, pinned, with
# their licences.
CONSOLE_VENDOR := services/console/vendor
CONSOLE_PACKAGES := d3-array@3.2.4 d3-geo@3.1.1 topojson-client@3.1.0 us-atlas@3.0.1
# axe-core is the browser tests' accessibility checker (never served by the console).
AXE_VENDOR := tests/browser/vendor
AXE_VERSION := 4.10.3
vendor-console:
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent $(CONSOLE_PACKAGES) >/dev/null \
		&& for t in *.tgz; do mkdir -p "$${t%.tgz}" && tar xzf "$$t" -C "$${t%.tgz}"; done \
		&& cd $(CURDIR) && mkdir -p $(CONSOLE_VENDOR) \
		&& for p in d3-array d3-geo topojson-client; do \
			cp $$tmp/$$p-*/package/dist/$$p.min.js $(CONSOLE_VENDOR)/ \
			&& cp $$tmp/$$p-*/package/LICENSE $(CONSOLE_VENDOR)/$$p.LICENSE; done \
		&& cp $$tmp/us-atlas-*/package/states-albers-10m.json $(CONSOLE_VENDOR)/ \
		&& cp $$tmp/us-atlas-*/package/LICENSE $(CONSOLE_VENDOR)/us-atlas.LICENSE \
		&& rm -rf $$tmp && ls -l $(CONSOLE_VENDOR)
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null \
		&& tar xzf axe-core-*.tgz && cd $(CURDIR) && mkdir -p $(AXE_VENDOR) \
		&& cp $$tmp/package/axe.min.js $(AXE_VENDOR)/ && cp $$tmp/package/LICENSE $(AXE_VENDOR)/axe-core.LICENSE \
		&& rm -rf $$tmp && ls -l $(AXE_VENDOR)

# Alembic (docs/MIGRATIONS.md): `make migration m="add call table"` writes the migration for the
# model changes; `make baseline` replaces every revision by one (only before the first deploy).
MIGRATION_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/fleet_hub_migrations

migration: $(STAMP)
	@test -n "$(m)" || { echo 'usage: make migration m="what changed"'; exit 2; }
	$(BIN)/python -m db.migrations "$(m)" --url "$(MIGRATION_DATABASE_URL)"

baseline: $(STAMP)
	$(BIN)/python -m db.migrations baseline --baseline --url "$(MIGRATION_DATABASE_URL)"

bench: $(STAMP)
	@for script in bench/*_bench.py; do echo "== $$script =="; $(BIN)/python $$script || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) data tmp .pytest_cache .ruff_cache *.egg-info
