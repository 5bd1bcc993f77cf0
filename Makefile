# The README's two commands: `make run` and `make test`. Both work on a fresh clone
# with only Python 3.11 and the machine's packages.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
HASH   := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# One stamp per set of extras: `make run` installs only the runtime dependencies; the dev
# tools (pytest, mypy, Playwright, schemathesis) and the benchmark's (matplotlib,
# pyinstrument) come with `make test` and `make bench`.
RUN_STAMP   := $(VENV)/.installed-run-$(HASH)
TEST_STAMP  := $(VENV)/.installed-test-$(HASH)
BENCH_STAMP := $(VENV)/.installed-bench-$(HASH)
comma       := ,

.PHONY: run test lint typecheck openapi bench clean install browser wrk

# `make run` serves plain http on 127.0.0.1: the portal's cookie cannot be Secure there.
run: export ESP_SESSION_COOKIE_SECURE ?= false

# $(call pip_install,EXTRAS,KIND): the venv, then `pip install -e .EXTRAS`, then the stamp.
define pip_install
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.$(1)'
	@rm -f $(VENV)/.installed-$(2)-* $(VENV)/.installed-[0-9]*
	@touch $@
endef

$(RUN_STAMP): pyproject.toml
	$(call pip_install,,run)

$(TEST_STAMP): pyproject.toml
	$(call pip_install,[dev$(comma)bench],test)

$(BENCH_STAMP): pyproject.toml
	$(call pip_install,[bench],bench)


install: $(TEST_STAMP)

## Set up, migrate the configured database (SQLite by default), load the demo data, serve on :8080.
run: $(RUN_STAMP)
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
test: $(TEST_STAMP) browser wrk
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/mypy app bench
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(TEST_STAMP)
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/ruff format --check app tests migrations bench

typecheck: $(TEST_STAMP)
	$(BIN)/mypy app bench

openapi: $(RUN_STAMP)
	$(BIN)/esp-careplans export-openapi

## Benchmarks on PostgreSQL (docs/performance.md); e.g. make bench BENCH_ARGS="--sizes 500 --duration 1"
bench: $(BENCH_STAMP) wrk
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var/*.db .pytest_cache .mypy_cache .ruff_cache
