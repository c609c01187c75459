# Two commands: `make demo` (set up + plan/apply against an embedded PostgreSQL) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# pytest-xdist workers: one per CPU. Each starts the servers its tests need; a file's tests stay on one
# worker (--dist loadgroup, groups set in tests/conftest.py), so module fixtures start once.
JOBS ?= auto
PARALLEL := -n $(JOBS) --dist loadgroup
LINTED := pgtune tests tests_live bench examples scripts collections
# Bytecode is written even where the environment says not to (this machine sets PYTHONDONTWRITEBYTECODE):
# otherwise every run, in every worker, compiles pgtune again and pytest rewrites every test module again —
# the fast lane took 24–28 s that way, 17–19 s from its second run on (docs/testing.md).
export PYTHONDONTWRITEBYTECODE :=

.PHONY: demo test test-unit test-durations test-rds-live test-cloud-live lint setup test-setup
setup:
	@scripts/bootstrap

test-setup:
	@scripts/bootstrap --test

demo: setup
	@$(PY) scripts/demo.py

test: test-setup
	$(PY) -m ruff check $(LINTED)
	$(PY) -m mypy
	$(PY) -m pytest $(PARALLEL)

# The fast lane: every test that needs no PostgreSQL or PgBouncer, for the inner loop (docs/testing.md):
# property tests on a fixed profile with an eighth of their examples (tests/conftest.py: budget); no server
# fixtures to keep together, so tests go to whichever worker is free (--dist load).
test-unit: setup
	$(PY) -m ruff check $(LINTED)
	PGTUNE_UNIT_LANE=1 $(PY) -m pytest -n $(JOBS) --dist load -m "not server and not installs"

# What costs what: wall time per file, the slowest tests, server start-ups (docs/testing.md).
test-durations: test-setup
	PGTUNE_DURATIONS=1 $(PY) -m pytest $(PARALLEL) --durations=30

lint: setup
	$(PY) -m ruff check $(LINTED)
	$(PY) -m mypy

# Against a real AWS account (never in CI): see tests_live/test_rds_account.py for the variables it needs.
test-rds-live: test-setup
	$(PY) -m pytest tests_live/test_rds_account.py

test-cloud-live: test-setup
	$(PY) -m pytest tests_live/test_cloud_accounts.py
