# Two commands: `make demo` (set up + plan/apply against an embedded PostgreSQL) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-unit test-rds-live lint setup test-setup
setup:
	@scripts/bootstrap

test-setup:
	@scripts/bootstrap --test

demo: setup
	@$(PY) scripts/demo.py

test: test-setup
	$(PY) -m ruff check pgtune tests tests_live bench examples scripts collections
	$(PY) -m mypy
	$(PY) -m pytest

# The fast lane: every test that needs no PostgreSQL or PgBouncer (~80 s on the 2-CPU CI machine), for the inner loop;
# the YAML reader's differential fuzz runs 150 examples per property here (800 in make test).
test-unit: setup
	$(PY) -m ruff check pgtune tests tests_live bench examples scripts collections
	PGTUNE_UNIT_LANE=1 PGTUNE_YAML_EXAMPLES=$${PGTUNE_YAML_EXAMPLES:-150} $(PY) -m pytest -m "not server and not installs"

lint: setup
	$(PY) -m ruff check pgtune tests tests_live bench examples scripts collections
	$(PY) -m mypy

# Against a real AWS account (never in CI): see tests_live/test_rds_account.py for the variables it needs.
test-rds-live: test-setup
	$(PY) -m pytest tests_live
