# Two entry points for a fresh clone (see README):
#   make run   - install what the app needs into .venv, then open the chat on the bundled model
#   make test  - install the app and the test tools into .venv, then run the test suite
# The venv is created when missing and reinstalled only when a requirements file changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: run test lint bench install install-dev clean-venv

run: $(VENV)/.runtime
	$(BIN)/python main.py $(ARGS)

test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(VENV)/.dev
	$(BIN)/python bench/bench_generation.py
	$(BIN)/python bench/bench_retrieval.py
	$(BIN)/python bench/bench_agent.py
	$(BIN)/python bench/bench_faults.py

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: $(BIN)/python requirements.txt requirements-nodeps.txt constraints.txt
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -r requirements-nodeps.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	touch $@

clean-venv:
	rm -rf $(VENV)
