# Stellar. `make run` to try it locally, `make test` for the whole suite on real services.
#
#   make run    .venv + migrate + demo data, then Daphne on http://127.0.0.1:8000/
#               (embedded defaults: SQLite, in-memory channel layer, Celery in-process)
#   make test   system packages, .venv with dev tools, npm ci, ruff, then pytest on
#               PostgreSQL, Redis, Prism and Chromium started by `python -m tests.harness`
#   make lint   ruff check + ruff format --check, import-linter (the layers), mypy (types)
#   make bench  python -m benchmarks
#   make prod-local  production layout on loopback: nginx TLS → 2 Daphne, Celery worker + beat,
#               PostgreSQL, Redis (PROD_LOCAL_ARGS=--help for ports and the public URL);
#               HOSTS=2: two machines sharing no disk (spool parts through an S3 store)
#   make clean  remove .venv, node_modules and caches (keeps var/, your local data)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?=
TWILIO_SPEC := node_modules/@twilio-alpha/mcp/twilio-oai/spec/json/twilio_api_v2010.json

# What `make test` needs from Debian, as command:package.
SYSTEM_DEPS := initdb:postgresql redis-server:redis-server chromium:chromium nginx:nginx \
	node:nodejs npm:npm

.PHONY: help run test lint format bench clean system-deps

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# --- Python environment (stamps skip pip when the requirements did not change) -----------

$(PY):
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  echo "$(PYTHON) cannot create a venv: sudo apt-get install -y $(notdir $(PYTHON))-venv"; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-run: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.stamp-dev: requirements-dev.txt requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.stamp-run

node_modules/.stamp: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	@test -f $(TWILIO_SPEC) || { echo "npm ci did not bring $(TWILIO_SPEC)"; exit 1; }
	@touch $@

# --- Targets -------------------------------------------------------------------------------

run: export STELLAR_PUBLIC_URL ?= http://$(HOST):$(PORT)
run: $(VENV)/.stamp-run
	@mkdir -p "$${STELLAR_VAR_DIR:-var}"
	$(PY) manage.py migrate --noinput
	$(PY) manage.py stellar_demo
	@echo
	@echo "Stellar is starting: open http://$(HOST):$(PORT)/ and sign in with the demo login above."
	@echo "Place a simulated call from another terminal: $(PY) manage.py simulate_call --help"
	@echo "Stop with Ctrl-C."
	@echo
	exec $(VENV)/bin/daphne -b $(HOST) -p $(PORT) stellar.asgi:application

test: system-deps $(VENV)/.stamp-dev node_modules/.stamp lint
	$(PY) -m tests.harness -- $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

format: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.stamp-dev
	@test -e benchmarks/__main__.py || { echo "No benchmarks yet (benchmarks/__main__.py)."; exit 1; }
	$(PY) -m benchmarks $(BENCH_ARGS)

# Production topology on this machine until Ctrl-C (tests/prod_local; docs/deploy.md).
# HOSTS=2 rehearses two machines sharing no disk (their object store, moto, is a dev package).
PROD_LOCAL_ARGS ?=
HOSTS ?= 1
.PHONY: prod-local
prod-local: $(VENV)/.stamp-$(if $(filter 1,$(HOSTS)),run,dev)
	$(PY) -m tests.prod_local --hosts $(HOSTS) $(PROD_LOCAL_ARGS)

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .hypothesis
	find . -path ./var -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

# Installs what is missing when root; otherwise prints the command and fails.
system-deps:
	@export PATH="$$PATH:/usr/sbin:/sbin$$(printf ':%s' /usr/lib/postgresql/*/bin)"; \
	missing=""; \
	for pair in $(SYSTEM_DEPS); do \
	  command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; \
	done; \
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing $(notdir $(PYTHON))-venv"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "Missing system packages. Install them with:"; \
	  echo "  sudo apt-get install -y$$missing"; \
	  exit 1; \
	fi; \
	echo "Installing system packages:$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -q && apt-get install -y -q$$missing
