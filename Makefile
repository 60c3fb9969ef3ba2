# The two commands: `make run` and `make test`. Each does the set-up it needs.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SA := $(VENV)/bin/shopassist
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: setup catalog train run cluster test test-fast lint validate rasa-test bench clean

setup:            ## .venv on Python 3.10 with the locked dependencies (idempotent)
	@bash scripts/setup-venv.sh

var/catalog.db: catalog/demo.py catalog/vocab.py catalog/schema.py catalog/crosssell.py | setup
	$(SA) catalog demo
	$(SA) catalog mine

catalog: setup var/catalog.db   ## the demo catalog

train: setup catalog   ## train the model only when data, config or catalog names changed
	@$(SA) train

run: train        ## start every process and print the URLs
	$(SA) run

cluster: train    ## the same on a local cluster: PostgreSQL, Redis, HAProxy, 2 desks, 2 Rasa
	$(SA) cluster

lint: setup       ## ruff (rules in pyproject.toml)
	$(VENV)/bin/ruff check .

validate: setup
	$(VENV)/bin/rasa data validate --fail-on-warnings

rasa-test: train
	$(VENV)/bin/rasa test core --model models/shopassist.tar.gz --stories tests/test_stories.yml \
	  --fail-on-prediction-errors --out results/core

test: train       ## every test: ruff, rasa data validate, rasa test, pytest (unit, e2e)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/rasa data validate --fail-on-warnings
	$(VENV)/bin/rasa test core --model models/shopassist.tar.gz --stories tests/test_stories.yml \
	  --fail-on-prediction-errors --out results/core
	$(PY) -m pytest -q

test-fast: setup catalog   ## ruff and pytest without the tests that start servers
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -m "not e2e"

bench: train
	$(PY) bench/run_all.py

clean:
	rm -rf var models results
