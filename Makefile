# enqueue-bridge: every command a user or CI needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install test lint typecheck unit

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(STAMP) ## create .venv with the runtime and test dependencies

lint: install ## ruff (lint and format check)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: install ## mypy --strict
	$(PY) -m mypy

unit: install ## the Python test suite only
	$(PY) -m pytest

test: lint typecheck unit ## every test: lint, types, unit, contract, property, end-to-end
