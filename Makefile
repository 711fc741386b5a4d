# Two commands do all the set-up: `make run` (install, migrate, demo data, serve) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
FLASK := LOG_FORMAT=text FLASK_APP=wsgi $(BIN)/flask
HOST ?= 127.0.0.1
PORT ?= 5000
# The browser tests drive Debian's Chromium through Playwright (executable_path), not a download.
CHROMIUM_PATH ?= /usr/bin/chromium
export CHROMIUM_PATH

.PHONY: run test lint fmt bench chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

## Install, migrate, load demo data (first time only), print the demo login and serve on :5000
## with the whole loop in the one process: web, scheduler and outbox delivery (mail: instance/mail).
run: $(VENV)/.runtime-installed
	$(FLASK) db upgrade
	$(FLASK) demo --if-empty
	$(FLASK) demo-login
	@echo "Open http://$(HOST):$(PORT)/"
	SCHEDULER_ENABLED=1 LOG_FORMAT=text $(BIN)/gunicorn --workers 1 --threads 4 --bind $(HOST):$(PORT) wsgi:app

## Install the test tools, lint (ruff, the import layers, mypy), and run the whole suite
## (PostgreSQL when TEST_DATABASE_URL is set), printing line and branch coverage.
test: chromium $(VENV)/.dev-installed lint
	$(BIN)/pytest --cov --cov-branch --cov-report=term:skip-covered

## Chromium for the browser tests: found at CHROMIUM_PATH, installed with apt-get when root.
chromium:
	@if [ -x "$(CHROMIUM_PATH)" ]; then exit 0; fi; \
	if [ "$$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "no Chromium at $(CHROMIUM_PATH) for the browser tests: run 'sudo apt-get install -y chromium' (or set CHROMIUM_PATH)" >&2; \
	  exit 1; \
	fi; \
	echo "installing Debian's chromium for the browser tests"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || exit 1; \
	if [ ! -x "$(CHROMIUM_PATH)" ]; then \
	  echo "chromium is installed but not at CHROMIUM_PATH=$(CHROMIUM_PATH): point it at the binary" >&2; \
	  exit 1; \
	fi

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=. $(BIN)/lint-imports
	$(BIN)/mypy

fmt: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
