# Development entry points; .ci/run runs the same commands (without needing make).
#   make check        ruff check, ruff format --check, mypy, lint-imports
#   make test         the whole suite (PYTEST_ARGS="-n 3" by default: three workers on two
#                     cores overlap the Pilot tests' waits; ARGS=... adds more)
#   make snapshots    the SVG snapshot tests only (ARGS=--snapshot-update to refresh them)
#   make bench        every benchmark (BENCH="bench_store bench_search" for some)
#   make screenshots  regenerate screenshots/*.svg
# VENV=.ci-venv make check uses another virtualenv.

VENV ?= .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
LINT_PATHS := jarvis_tui tests bench scripts
PYTEST_ARGS ?= -n 3
ARGS ?=
BENCH ?=
SNAPSHOT_TESTS := $(sort $(wildcard tests/ui/test_snapshots*.py))

.PHONY: check lint format-check types imports test snapshots bench screenshots

check: lint format-check types imports

lint:
	$(BIN)/ruff check $(LINT_PATHS)

format-check:
	$(BIN)/ruff format --check $(LINT_PATHS)

types:
	$(BIN)/mypy

imports:
	$(BIN)/lint-imports --no-logo

test:
	$(PYTHON) -m pytest -p no:cacheprovider $(PYTEST_ARGS) $(ARGS)

snapshots:
	$(PYTHON) -m pytest -p no:cacheprovider $(SNAPSHOT_TESTS) $(ARGS)

bench:
	$(PYTHON) -m bench $(BENCH)

screenshots:
	$(PYTHON) scripts/screenshots.py
