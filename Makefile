# Timerack Bridge: every command a developer or CI needs. `make run` and `make test` work from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: install run test unit integration infra e2e lint format typecheck openapi layers lock synth cfn-lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## The local runtime with demo data on http://127.0.0.1:3000 (TIMERACK_PORT). It keeps its data under
## .local/ across runs; `make run TIMERACK_FRESH=1` starts over (make hands the variable to the command).
run: install
	$(VENV)/bin/timerack-bridge run

## Lint and types (ruff, mypy), then the whole suite: unit, integration (moto), infra (CDK + cdk-nag
## + cfn-lint), e2e (HTTP). CI (.ci/run) runs this target.
test: lint
	$(PY) -m pytest -n 2 --dist loadgroup

unit: install
	$(PY) -m pytest tests/unit
integration: install
	$(PY) -m pytest tests/integration
infra: install
	$(PY) -m pytest tests/infra
e2e: install
	$(PY) -m pytest tests/e2e

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MAKE) --no-print-directory typecheck

typecheck: install
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## docs/openapi.json: the OpenAPI document the API serves (the stack's routes are read from it).
openapi: install
	$(PY) -m infra.openapi

## Lambda layers without Docker: the shared package, and the dependencies as arm64 wheels from their lock.
layers: install
	bash infra/build_layers.sh

## Re-resolve the dependency layer's lock with hashes (`make lock LOCK_ARGS=--upgrade` to take new releases).
lock: install
	bash infra/build_layers.sh lock $(LOCK_ARGS)

## CloudFormation for every tenant into cdk.out/ (no AWS account needed).
synth: install
	bash infra/synth.sh

cfn-lint: synth
	$(VENV)/bin/cfn-lint cdk.out/*.template.json

bench: install
	$(PY) -m benchmarks

clean:
	rm -rf .local cdk.out layers/dependencies/python layers/shared-build .pytest_cache
