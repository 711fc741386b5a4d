# Two commands do all the set-up: `make run` (install, migrate, demo data, serve) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
FLASK := LOG_FORMAT=text FLASK_APP=wsgi $(BIN)/flask
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint fmt bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

## Install, migrate, load demo data (first time only), print the demo login and serve on :5000.
run: $(VENV)/.runtime-installed
	$(FLASK) db upgrade
	$(FLASK) demo --if-empty
	$(FLASK) demo-login
	@echo "Open http://$(HOST):$(PORT)/"
	SCHEDULER_ENABLED=1 LOG_FORMAT=text $(BIN)/gunicorn --workers 1 --threads 4 --bind $(HOST):$(PORT) wsgi:app

## Install the test tools, lint, and run the whole suite (PostgreSQL when TEST_DATABASE_URL is set).
test: $(VENV)/.dev-installed lint
	$(BIN)/pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
