# enqueue-bridge: every command a user or CI needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# A virtualenv's pip, quiet: `$(PY) $(PIP_INSTALL) -r ...`.
PIP_INSTALL := -m pip install -q --disable-pip-version-check

.DEFAULT_GOAL := help
.PHONY: help install browser test test-emulator-alone lint typecheck unit bench bench-console bench-stack bench-instance bench-emulator soak fuzz demo up terraform-tools test-terraform

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

EMULATOR_PKG := tasks_emulator/pyproject.toml tasks_emulator/requirements.txt tasks_emulator/requirements-test.txt

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml $(EMULATOR_PKG)
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) -r requirements-dev.txt
	$(PY) $(PIP_INSTALL) --no-deps -e .
	touch $@

install: $(STAMP) ## create .venv with the runtime and test dependencies

# The browser the page tests drive: Debian's chromium, installed when it is missing (CI runs as
# root; elsewhere through sudo). Playwright (requirements-dev.txt) uses it as it is.
CHROMIUM := /usr/bin/chromium
APT := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get

$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests"
	$(APT) update -q
	$(APT) install -y -q --no-install-recommends chromium fonts-liberation fonts-dejavu-core

browser: $(CHROMIUM) ## install Debian's chromium (for the console's browser tests) when it is missing

demo: install ## run the whole product locally, publish real messages, print a report
	$(PY) -m bridge.stack demo

up: install ## keep the local stack running and print how to publish by hand (URL_<S>=... routes a service to your own worker)
	$(PY) -m bridge.stack up

# Terraform's offline checks (checkov, the tfplugin6 stand-in, the provider schemas it serves) have
# pins of their own: a virtualenv of their own. See terraform/README.md, "Tests".
TF_VENV := .venv-tf
TF_REQ := terraform/testing/requirements.txt
TF_WHEELS := terraform/testing/schema-wheels.txt
TF_STAMP := $(TF_VENV)/.installed-stamp

$(TF_STAMP): $(TF_REQ) $(TF_WHEELS) terraform/testing/schema_from_jsii.py
	$(PYTHON) -m venv $(TF_VENV)
	$(TF_VENV)/bin/python $(PIP_INSTALL) -r $(TF_REQ)
	$(TF_VENV)/bin/python -m pip download -q --disable-pip-version-check --no-deps -d $(TF_VENV)/wheels -r $(TF_WHEELS)
	$(TF_VENV)/bin/python terraform/testing/schema_from_jsii.py $(TF_VENV)/wheels/cdktn_provider_google-*.whl $(TF_VENV)/schemas/google.json
	$(TF_VENV)/bin/python terraform/testing/schema_from_jsii.py $(TF_VENV)/wheels/cdktn_provider_archive-*.whl $(TF_VENV)/schemas/archive.json
	touch $@

terraform-tools: $(TF_STAMP) ## create .venv-tf (checkov, the offline provider stand-in and its schemas)

test-terraform: install terraform-tools ## the Terraform checks only: fmt, validate, terraform test, checkov, env contract
	$(PY) -m pytest tests/terraform

lint: install ## ruff (lint and format check)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# tasks_emulator's type stubs for the raw protobuf messages it handles, generated from the
# descriptors the pinned packages load (tasks_emulator/_stubs/generate.py says why); not checked in.
STUBS := tasks_emulator/_stubs/google/.generated
$(STUBS): $(STAMP) tasks_emulator/_stubs/generate.py
	$(PY) -m tasks_emulator._stubs.generate > /dev/null
	touch $@

typecheck: install $(STUBS) ## mypy --strict
	$(PY) -m mypy

unit: install browser ## the whole pytest suite: unit, contract, property, end-to-end, publishers, and Terraform once .venv-tf exists (no lint, no types)
	$(PY) -m pytest

test: terraform-tools lint typecheck unit test-emulator-alone ## every test: lint, types, unit, contract, property, end-to-end, tasks_emulator on its own

# tasks_emulator as a user of the distribution gets it: a fresh virtualenv, `pip install
# ./tasks_emulator[test]` (from a copy, so no build files land in the checkout), and its test
# suite run from a directory where only the installed package can be imported.
test-emulator-alone: ## tasks_emulator on its own: fresh venv, pip install ./tasks_emulator[test], its tests there
	@set -euo pipefail; work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; \
	cp -r tasks_emulator "$$work/src"; rm -rf "$$work/src/__pycache__"; \
	$(PYTHON) -m venv "$$work/venv"; \
	"$$work/venv/bin/python" $(PIP_INSTALL) "$$work/src[test]"; \
	mkdir -p "$$work/run/tests"; touch "$$work/run/tests/__init__.py"; \
	cp -r tests/tasks_emulator "$$work/run/tests/"; rm -rf "$$work/run/tests/tasks_emulator/__pycache__"; \
	cd "$$work/run"; \
	"$$work/venv/bin/tasks-emulator" --help > /dev/null; \
	"$$work/venv/bin/python" -c 'import tasks_emulator, sys; sys.exit("site-packages" not in tasks_emulator.__file__)'; \
	"$$work/venv/bin/python" -m pytest -q -p no:cacheprovider tests/tasks_emulator

bench: install ## benchmarks: cold start and per-message CPU against their floors (figures, not tests)
	$(PY) -m benchmarks.cold_start
	$(PY) -m benchmarks.cpu

bench-console: install browser ## tasks_emulator's console: a queue of 10,000 pending tasks opened in Chromium, and dispatch with the page open (figures)
	$(PY) -m benchmarks.console

bench-stack: install ## throughput and latency through the local stack, against a minimal function
	$(PY) -m benchmarks.throughput

bench-instance: install ## one instance under pushes in flight, at 0/30/100 ms CreateTask latency, beside minimal and no-op functions and the old shape; then cold start
	$(PY) -m benchmarks.instance
	$(PY) -m benchmarks.cold_start --runs 9

# The baseline bench-emulator compares tasks_emulator with: gcloud-tasks-emulator pins protobuf<5, so it
# gets a virtualenv of its own. Nothing but this benchmark uses it.
GCLOUD_TASKS_VENV := .venv-gcloud-tasks
GCLOUD_TASKS_REQ := benchmarks/gcloud-tasks-emulator-requirements.txt
GCLOUD_TASKS_STAMP := $(GCLOUD_TASKS_VENV)/.installed-stamp

$(GCLOUD_TASKS_STAMP): $(GCLOUD_TASKS_REQ)
	$(PYTHON) -m venv $(GCLOUD_TASKS_VENV)
	$(GCLOUD_TASKS_VENV)/bin/python $(PIP_INSTALL) -r $(GCLOUD_TASKS_REQ)
	touch $@

bench-emulator: install $(GCLOUD_TASKS_STAMP) ## tasks_emulator's speed beside gcloud-tasks-emulator, in the same run (figures, not tests)
	$(PY) -m benchmarks.emulator

soak: install ## 10,000 messages under injected Cloud Tasks faults, restarts and a function restart, counted at the worker; PASS or FAIL
	$(PY) -m benchmarks.soak

fuzz: install ## long property-based fuzzing of the decoder and both entry points (FUZZ_SCALE=20 by default)
	FUZZ_SCALE=$${FUZZ_SCALE:-20} $(PY) -m pytest -q -p no:cacheprovider tests/test_properties.py --timeout=0
