"""Golden plans from a real server: every kind's changes in text, Markdown, JSON and dry-run SQL.

Written before the kind protocol refactor (issue 17) and held byte for byte afterwards, so a
refactor of how kinds read, compare and name their changes cannot change what a reviewer reads.
Regenerate with PGTUNE_UPDATE_GOLDEN=1 only for an intended output change, and review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from pgtune.kinds.engine import build_plan
from pgtune.plan.model import Plan
from pgtune.profile.loader import load_profile
from pgtune.render.jsonplan import render_json
from pgtune.render.markdown import render_markdown
from pgtune.render.text import render_sql, render_text
from tests.conftest import Bouncer, Server

GOLDEN = Path(__file__).parent / "golden"
AS_OF = "2026-12-15 12:00:00+00"

SETUP = """
CREATE TABLE letta.tenants_data (organization_id varchar NOT NULL, payload text)
    PARTITION BY LIST (organization_id);
CREATE TABLE letta.tenants_data_org_a PARTITION OF letta.tenants_data FOR VALUES IN ('org-a');
CREATE TABLE letta.messages_by_month_p2026_01 PARTITION OF letta.messages_by_month
    FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
INSERT INTO letta.messages_by_month (id, role, sequence_id, created_at)
    SELECT 'm' || g, 'user', g, '2026-01-10'::timestamptz + g * interval '1 minute' FROM generate_series(1, 3) g;
CREATE INDEX ix_messages_obsolete ON letta.messages (role);
DROP INDEX letta.ix_messages_run_sequence;
CREATE INDEX ix_messages_run_sequence ON letta.messages (run_id);
ALTER TABLE letta.messages SET (fillfactor = 90, autovacuum_analyze_threshold = 500);
ALTER DATABASE postgres SET work_mem = '8MB';
"""

PROFILE = """
name: golden
settings:
  work_mem: 64MB
  random_page_cost: 1.1
  shared_buffers: 256MB
  jit: off
  statement_timeout: null
databases:
  postgres: {{settings: {{work_mem: 32MB, maintenance_work_mem: 128MB}}}}
roles:
  pgtune_test_golden: {{settings: {{statement_timeout: 30s}}}}
tables:
  letta.messages:
    prune_indexes: true
    storage:
      autovacuum_vacuum_scale_factor: 0.05
      fillfactor: null
      autovacuum_analyze_threshold: 500
    indexes:
      ix_messages_agent_created_at: {{columns: [agent_id, created_at]}}
      ix_messages_created_at: {{columns: [created_at, id]}}
      ix_messages_run_sequence: {{columns: [run_id, sequence_id]}}
      ix_messages_org_agent: {{columns: [organization_id, agent_id]}}
      ix_messages_agent_errors: {{columns: [agent_id, created_at], where: "is_err = true", include: [run_id]}}
  letta.messages_by_month:
    storage:
      autovacuum_vacuum_scale_factor: 0.02
    indexes:
      ix_messages_by_month_agent: {{columns: [agent_id, created_at]}}
    partitioning:
      strategy: range
      key: created_at
      interval: 1 month
      premake: 2
      start: 2026-01-01
      retention: 10 months
      default_partition: true
  letta.tenants_data:
    partitioning:
      strategy: list
      key: organization_id
      partitions:
        tenants_data_org_a: [org-a]
        tenants_data_org_b: [org-b, org-c]
      default_partition: true
pool:
  application: {{instances: 2, pool_size: 10, max_overflow: 5, through: pgbouncer}}
  pgbouncer:
    admin_dsn: {admin_dsn}
    config_file: {ini}
    settings:
      pool_mode: transaction
      default_pool_size: 25
      server_lifetime: 30min
"""


@pytest.fixture
def golden_server(pg16: Server, pgbouncer: Bouncer) -> Iterator[Server]:
    pg16.reset()
    pg16.load("letta.sql")
    pg16.load("letta_partitioned.sql")
    pg16.sql("CREATE ROLE pgtune_test_golden")
    pg16.sql(SETUP)
    pg16.sql("ALTER SYSTEM SET statement_timeout = '45s'")
    pg16.sql("SELECT pg_reload_conf()")
    yield pg16
    pg16.reset()


def _normalised(text: str, bouncer: Bouncer, server: Server) -> str:
    """Paths and ports of this run's throwaway servers, as placeholders."""
    return text.replace(str(bouncer.ini), "<pgbouncer.ini>").replace(bouncer.admin_dsn(), "<admin_dsn>")


def _check(name: str, rendered: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("PGTUNE_UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8"), f"{name} differs from the golden file"


def test_every_kind_renders_as_the_golden_files(
    golden_server: Server, pgbouncer: Bouncer, write_profile: Callable[..., Path]
) -> None:
    path = write_profile(PROFILE.format(admin_dsn=pgbouncer.admin_dsn(), ini=pgbouncer.ini))
    with psycopg.connect(golden_server.dsn, autocommit=True, application_name="pgtune") as conn:
        plan: Plan = build_plan(conn, load_profile(path), as_of=AS_OF)
    kinds = {c.kind for c in plan.changes}
    assert kinds == {"setting", "storage", "index", "partition", "pool"}, kinds
    actions = {c.action for c in plan.changes}
    assert actions == {"create", "update", "delete", "replace"}, actions
    version = plan.server.version

    def norm(text: str) -> str:
        return _normalised(text, pgbouncer, golden_server).replace(version, "<version>")

    _check("plan-all-kinds.txt", norm(render_text(plan)))
    _check("plan-all-kinds.md", norm(render_markdown(plan)))
    _check("plan-all-kinds.sql", norm(render_sql(plan)))
    data = json.loads(norm(render_json(plan)))
    data["server"]["version_num"] = 0
    golden = json.loads((GOLDEN / "plan-all-kinds.json").read_text(encoding="utf-8"))
    added: set[str] = set()
    _holds(golden, data, "$", added)
    assert added == JSON_KEYS_ADDED_SINCE_GOLDEN


JSON_KEYS_ADDED_SINCE_GOLDEN = {"$.changes[].address", "$.changes[].reset"}
"""The JSON plan is a contract that only grows ("add keys; never rename"): every key and value of
the golden file holds, and the keys added since it was written are exactly these."""


def _holds(old: object, new: object, path: str, added: set[str]) -> None:
    if isinstance(old, dict):
        assert isinstance(new, dict), path
        for key, value in old.items():
            assert key in new, f"{path}.{key} was removed"
            _holds(value, new[key], f"{path}.{key}", added)
        added.update(f"{path}.{key}" for key in new.keys() - old.keys())
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), path
        for a, b in zip(old, new, strict=True):
            _holds(a, b, f"{path}[]", added)
    else:
        assert old == new, f"{path}: {old!r} became {new!r}"
