# The README's two commands: `make run` and `make test`. Both work on a fresh clone
# with only Python 3.11 and the machine's packages.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck openapi bench clean install browser wrk

# `make run` serves plain http on 127.0.0.1: the portal's cookie cannot be Secure there.
run: export ESP_SESSION_COOKIE_SECURE ?= false

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

## Set up, migrate the configured database (SQLite by default), load the demo data, serve on :8080.
run: $(STAMP)
	$(BIN)/esp-careplans db upgrade
	$(BIN)/esp-careplans load --demo --if-empty
	$(BIN)/esp-careplans serve

## Debian's chromium for the browser tests (no browser download is possible or needed), and
## node/npm for the fhirclient.js test app (tests/smart/app, installed with `npm ci` by the test).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Debian nodejs and npm for the fhirclient.js test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }

## Debian's wrk, the benchmark's HTTP load generator (the bench smoke test in `make test` drives it).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian wrk for the benchmark"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

## Set up and run the whole suite on SQLite and PostgreSQL, plus lint, types and layering.
test: $(STAMP) browser wrk
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/mypy app bench
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/ruff format --check app tests migrations bench

typecheck: $(STAMP)
	$(BIN)/mypy app bench

openapi: $(STAMP)
	$(BIN)/esp-careplans export-openapi

## Benchmarks on PostgreSQL (docs/performance.md); e.g. make bench BENCH_ARGS="--sizes 500 --duration 1"
bench: $(STAMP) wrk
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var/*.db .pytest_cache .mypy_cache .ruff_cache
