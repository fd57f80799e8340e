# Two commands on a fresh machine with Python >= 3.11 and make: `make run`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test fuzz lint typecheck schema migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## serve on HOST:PORT (default 127.0.0.1:8000), GraphiQL at /graphql
	$(BIN)/healthcare serve

test: $(STAMP)  ## the whole suite, on DATABASE_URL/BROADCAST_URL (default: SQLite, memory)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

FUZZ_EXAMPLES ?= 2000
fuzz: $(STAMP)  ## property-based tests with many more examples (make fuzz FUZZ_EXAMPLES=10000)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_fuzz.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check healthcare tests
	$(BIN)/ruff format --check healthcare tests

typecheck: $(STAMP)
	$(BIN)/mypy healthcare

schema: $(STAMP)  ## re-export schema.graphql after changing the schema
	$(BIN)/healthcare export-schema --output schema.graphql

migrate: $(STAMP)
	$(BIN)/healthcare migrate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
