# Two commands on a fresh machine with Python >= 3.11 and make: `make run`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test fuzz lint typecheck schema migrate clean web e2e bench bench-scale bench-email faults soak vendor-graphiql

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing the API and its dependencies into $(VENV) (the first time: about a minute)..."
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## serve on HOST:PORT (default 127.0.0.1:8000), GraphiQL at /graphql
	$(BIN)/healthcare serve

test: $(STAMP)  ## the whole suite, on DATABASE_URL/BROADCAST_URL (default: SQLite, memory)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

faults: $(STAMP)  ## the fault suite (tests/faults): its own redis-server and PostgreSQL cluster, broken on purpose
	$(BIN)/python -m pytest -m faults tests/faults $(PYTEST_ARGS)

FUZZ_EXAMPLES ?= 2000
fuzz: $(STAMP)  ## property-based tests with many more examples (make fuzz FUZZ_EXAMPLES=10000)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_fuzz.py $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff, and the import contracts (layers, no cycles: pyproject.toml)
	$(BIN)/ruff check healthcare tests bench scripts
	$(BIN)/ruff format --check healthcare tests bench scripts
	$(BIN)/lint-imports

typecheck: $(STAMP)  ## mypy: strict on the package, and over the tests and benchmarks
	$(BIN)/mypy --strict healthcare
	$(BIN)/mypy --follow-imports=silent tests bench  # the package itself: strictly, above

schema: $(STAMP)  ## re-export schema.graphql after changing the schema
	$(BIN)/healthcare export-schema --output schema.graphql

migrate: $(STAMP)
	$(BIN)/healthcare migrate

# GraphiQL's files, served by the API (healthcare/graphql/graphiql/manifest.json): check
# them against the npm registry; UPDATE=1 fetches the versions the manifest names.
vendor-graphiql: $(STAMP)  ## prove GraphiQL's vendored files equal npm's (make vendor-graphiql UPDATE=1 to upgrade)
	$(BIN)/python scripts/vendor_graphiql.py $(if $(UPDATE),--update)

# The React + Apollo Client reference app and its end-to-end tests (web/README.md).
WEB_DEPS := web/node_modules/.installed
CHROMIUM ?= /usr/bin/chromium
TURNSERVER ?= /usr/bin/turnserver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(WEB_DEPS): web/package.json web/package-lock.json
	@echo "Installing the web app's packages into web/node_modules (npm ci)..."
	cd web && npm ci --no-audit --no-fund
	touch $@

WEB_PORT ?= 5173
web: $(WEB_DEPS)  ## the app on http://localhost:WEB_PORT (5173) against the API at API_URL (default: `make run`'s)
	cd web && WEB_PORT=$(WEB_PORT) npm run dev

# The video call tests start their own coturn (`turnserver`); the package's service is not used.
e2e: $(STAMP) $(WEB_DEPS)  ## Playwright in Debian's chromium (video calls through coturn too), and a Node Apollo client across a server restart
	@test -x $(CHROMIUM) && test -x $(TURNSERVER) || { echo "Installing Debian's chromium and coturn (no browser download)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium coturn >/dev/null; }
	cd web && CHROMIUM=$(CHROMIUM) TURNSERVER=$(TURNSERVER) node --test --test-concurrency=1 e2e/*.test.js

bench: $(STAMP)  ## the API against its floors on PostgreSQL (bench/README.md); writes bench/results/, docs/benchmarks.md
	$(BIN)/python -m bench.api $(BENCH_ARGS)

bench-scale: $(STAMP)  ## 10,000 signed-in sockets (chat and notifications) on `serve --workers 2` (bench/README.md)
	$(BIN)/python -m bench.scale $(BENCH_ARGS)

bench-email: $(STAMP)  ## the email worker against a bare SMTP client, to a local SMTP server (bench/README.md)
	$(BIN)/python -m bench.email $(BENCH_ARGS)

soak: $(STAMP)  ## two instances, 10 min of mixed traffic (SOAK_MINUTES): RSS, open files, delivery per minute, a verdict (bench/README.md)
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
