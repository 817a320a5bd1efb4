# Two commands on a fresh machine with Python 3.11, pip and make:
#   make demo   installs riskbridge and runs the demo sync against a local Salesforce sandbox
#   make test   installs riskbridge with its dev tools and runs ruff, mypy and the test suite (slow tests deselected),
#               then the end-to-end suite again with its state in PostgreSQL (127.0.0.1:5432; skipped if absent)
#   make test-all  the same, with the slow suites too (the full fault matrix, 30+ crash kills)
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,db,excel,report,train]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/riskbridge demo

test: install
	$(VENV)/bin/ruff check connector scoring tests bench
	$(VENV)/bin/mypy
	$(PY) -m pytest
	RBTEST_STATE=postgresql $(PY) -m pytest tests/e2e

test-all: install
	$(VENV)/bin/ruff check connector scoring tests bench
	$(VENV)/bin/mypy
	$(PY) -m pytest -m "slow or not slow"
	RBTEST_STATE=postgresql $(PY) -m pytest -m "slow or not slow" tests/e2e

bench: install
	$(PY) bench/bench_sandbox.py
	$(PY) bench/bench_scoring.py
	$(PY) bench/bench_sync.py
	$(PY) bench/bench_invoices.py

.PHONY: install demo test test-all bench
