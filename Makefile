# Two commands: `make demo` (set up + plan/apply against an embedded PostgreSQL) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint setup test-setup
setup:
	@scripts/bootstrap

test-setup:
	@scripts/bootstrap --test

demo: setup
	@$(PY) scripts/demo.py

test: test-setup
	$(PY) -m ruff check pgtune tests bench examples
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check pgtune tests bench examples
