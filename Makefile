# The two set-up commands of the README. Both create .venv and install ARX into it when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test test-fast lint install

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	# The `ftm` extra without its declared dependencies (pyproject.toml says why).
	$(BIN)/python -c 'import subprocess, sys, tomllib; \
	  specs = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["ftm"]; \
	  subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *specs])'
	touch $(STAMP)

install: $(STAMP)

## make serve: the service on the embedded default (SQLite, generated keys, self-signed TLS) at https://127.0.0.1:8443
# Quick start: portal TOTP is optional here (ARX_PORTAL_REQUIRE_TOTP=false); leave it on in production.
serve: $(STAMP)
	$(BIN)/arx init
	ARX_PORTAL_REQUIRE_TOTP=$${ARX_PORTAL_REQUIRE_TOTP:-false} $(BIN)/arx serve

## make test: the whole test suite (SQLite; set ARX_TEST_DATABASE_URL for PostgreSQL)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make test-fast: the suite without the tests marked slow (processes, kill -9, live rotation, fuzzing)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## make lint: ruff (rules in pyproject.toml; `ruff format` is not used) and mypy on app, tests, bench, tools
lint: $(STAMP)
	$(BIN)/python -m ruff check app tests bench tools
	$(BIN)/python -m mypy
