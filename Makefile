# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# axe-core for the accessibility tests, esbuild to rebuild the embed.
NODE_STAMP := embed/node_modules/.installed
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test
# `make demo PORT=8001` when 8000 is taken; HOST=0.0.0.0 to try it from a phone on the LAN.
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: demo serve test test-postgres test-all lint typecheck embed bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): embed/package-lock.json
	cd embed && npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

demo: $(STAMP)
	$(BIN)/cmp-server demo --host $(HOST) --port $(PORT)

serve: $(STAMP)
	$(BIN)/cmp-server serve

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest

# The database-facing suite again on PostgreSQL. The embed's browser tests keep their own
# SQLite server (so does the admin's browser test), the scanner uses no database and the fault
# cases (tests/faults) make their own databases, PostgreSQL cluster included, so they run once,
# in `make test`.
test-postgres: $(STAMP)
	CMP_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest --ignore=tests/embed --ignore=tests/scanner \
		--ignore=tests/faults \
		--ignore-glob="tests/admin/test_browser*.py"

test-all: test test-postgres

# Services and the admin never ask which database they run on: what differs is written once
# in cmp_server/dialects/ and reached through db.dialect(). This finds a service or admin
# module that asks Tortoise (`capabilities`), compares with a backend's name ("sqlite",
# 'postgres…'), names a dialect (SQLITE, Postgres, dialects.sqlite) or imports a driver.
# Prose is left alone: "SQLite" and "PostgreSQL" in a comment match none of these.
ASKS_DATABASE := \bcapabilities\b|[\"'](sqlite|postgres)|\b(SQLITE|POSTGRES|Sqlite|Postgres)\b|\bdialects\.(sqlite|postgres)\b|\bimport (asyncpg|aiosqlite|sqlite|postgres)\b

lint: $(STAMP) typecheck
	@if grep -rnE --include='*.py' "$(ASKS_DATABASE)" cmp_server/services admin; then \
		echo "lint: the lines above ask which database they run on; put the difference in" \
			"cmp_server/dialects/ and use db.dialect()"; \
		exit 1; \
	fi
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The embed's JSDoc types, checked by tsc (esbuild bundles without checking types).
typecheck: $(NODE_STAMP)
	cd embed && npm run typecheck

embed: $(NODE_STAMP)
	cd embed && npm run build

bench: $(STAMP)
	$(BIN)/python bench/server_bench.py

clean:
	rm -rf $(VENV) var
