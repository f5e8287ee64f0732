# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: demo serve test test-postgres test-all lint typecheck embed bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cmp-server demo

serve: $(STAMP)
	$(BIN)/cmp-server serve

test: $(STAMP)
	$(BIN)/python -m pytest

test-postgres: $(STAMP)
	CMP_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest

test-all: test test-postgres

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

embed:
	cd embed && npm ci && npm run build

bench: $(STAMP)
	$(BIN)/python bench/server_bench.py

clean:
	rm -rf $(VENV) var
