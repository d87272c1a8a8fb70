# agentflow: `make demo` and `make test` do all the set-up on a fresh machine
# (Python 3.11+, Java 17+ and Maven on PATH; make test also builds Go and Node examples).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AGENTFLOW := $(BIN)/agentflow
PYTEST_ARGS ?=

.PHONY: demo test unit lint broker broker-down topics bench bench-quick clean sysdeps

$(BIN)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "agentflow needs Python 3.11+")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

# kcat is used by a test as an independent, non-Python producer; Chromium and its driver by
# the approval inbox's browser test.
SYSDEPS := kcat chromium chromium-driver
sysdeps:
	@missing=""; for p in $(SYSDEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing$$missing (Debian packages) ..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

broker: $(BIN)/.installed
	$(AGENTFLOW) broker up

broker-down: $(BIN)/.installed
	$(AGENTFLOW) broker down

topics: broker
	$(AGENTFLOW) topics ensure

demo: topics
	$(AGENTFLOW) demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

unit: $(BIN)/.installed
	$(BIN)/pytest tests/unit tests/driver -q $(PYTEST_ARGS)

test: $(BIN)/.installed sysdeps lint
	$(BIN)/pytest -q --durations=25 $(PYTEST_ARGS)

$(BIN)/.bench-installed: $(BIN)/.installed
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,bench]'
	@touch $@

bench: $(BIN)/.bench-installed broker
	$(BIN)/python -m bench

bench-quick: $(BIN)/.bench-installed broker
	$(BIN)/python -m bench --quick

clean:
	-$(AGENTFLOW) broker down
	rm -rf $(VENV) .state .mypy_cache .ruff_cache .pytest_cache
