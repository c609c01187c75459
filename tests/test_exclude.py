"""Exclusions: objects pgtune must never touch, from the profile's `exclude:` and `--exclude`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from pgtune.kinds.engine import build_plan
from pgtune.plan.model import Plan
from pgtune.profile.loader import load_profile
from tests.conftest import CliResult, Server

SCHEMA = """
CREATE SCHEMA app;
CREATE TABLE app.orders (id bigint PRIMARY KEY, customer bigint, status text);
CREATE INDEX ix_orders_status ON app.orders (status);
CREATE INDEX keep_orders_customer ON app.orders (customer);
CREATE TABLE app.audit (id bigint, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE app.audit_p2026_01 PARTITION OF app.audit FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE app.audit_p2026_02 PARTITION OF app.audit FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
"""


@pytest.fixture
def app(pg: Server) -> Iterator[Server]:
    pg.sql(SCHEMA)
    yield pg
    pg.sql("DROP SCHEMA app CASCADE")


def _plan(server: Server, path: Path, exclude: tuple[str, ...] = ()) -> Plan:
    with psycopg.connect(server.dsn, autocommit=True, application_name="pgtune") as conn:
        return build_plan(conn, load_profile(path), "2026-06-15", exclude)


PROFILE = """
name: excl
exclude: [app.keep_*, "app.audit_p2026_01"]
tables:
  app.orders:
    prune_indexes: true
    indexes:
      ix_orders_customer: {columns: [customer]}
  app.audit:
    partitioning: {strategy: range, key: at, interval: 1 month, premake: 0, retention: 3 months}
"""


def test_prune_and_retention_leave_excluded_objects_alone(app: Server, write_profile: Callable[..., Path]) -> None:
    plan = _plan(app, write_profile(PROFILE))
    objects = {(c.kind, c.object, c.action) for c in plan.changes}
    assert ("index", "app.ix_orders_status", "delete") in objects  # pruned
    assert ("index", "app.ix_orders_customer", "create") in objects
    assert not [o for o in objects if o[1] == "app.keep_orders_customer"]  # excluded from pruning
    assert ("partition", "app.audit_p2026_02", "delete") in objects  # retired
    assert not [o for o in objects if o[1] == "app.audit_p2026_01"]  # excluded from retention
    notices = {(n.object, n.code) for n in plan.notices}
    assert ("app.audit_p2026_01", "EXCLUDED") in notices
    app.apply(plan)
    assert app.one("SELECT count(*) FROM pg_indexes WHERE indexname = 'keep_orders_customer'") == 1
    assert app.one("SELECT to_regclass('app.audit_p2026_01') IS NOT NULL") is True


def test_an_exclusion_beats_a_declaration(
    app: Server, write_profile: Callable[..., Path], cli: Callable[..., CliResult]
) -> None:
    path = write_profile(
        """
        name: excl
        tables:
          app.orders:
            storage: {fillfactor: 80}
            indexes:
              keep_orders_customer: absent
        """
    )
    declared = _plan(app, path)
    assert [c.object for c in declared.changes] == ["app.orders", "app.keep_orders_customer"]
    excluded = _plan(app, path, ("app.orders",))
    assert excluded.empty
    assert [(n.object, n.code) for n in excluded.notices] == [("app.orders", "EXCLUDED")]
    only_index = _plan(app, path, ("app.keep_*",))
    assert [c.object for c in only_index.changes] == ["app.orders"]
    result = cli("plan", str(path), "--dsn", app.dsn, "--exclude", "app.*", "--detailed-exitcode")
    assert result.code == 0, result.stdout + result.stderr
    assert "EXCLUDED app.orders: declared, but excluded by 'app.*': not touched" in result.stdout
