"""Table storage parameters against real PostgreSQL 15 and 16."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import Server

from pgtune.base.errors import PgtuneError
from pgtune.kinds.engine import build_plan
from pgtune.plan.model import Plan, value_data
from pgtune.profile.loader import load_profile

PlanFor = Callable[[str], Plan]

SCHEMA = """
CREATE SCHEMA pgtune_test;
CREATE TABLE pgtune_test.messages (
    id text PRIMARY KEY, agent_id text NOT NULL, sequence_id bigint UNIQUE, created_at timestamptz,
    is_err boolean, content jsonb
) WITH (autovacuum_vacuum_scale_factor = 0.050, autovacuum_enabled = TRUE);
CREATE TABLE pgtune_test.steps (id text PRIMARY KEY, run_id text) WITH (fillfactor = 70);
CREATE TABLE pgtune_test.events (id bigint, created_at date NOT NULL, payload text) PARTITION BY RANGE (created_at);
CREATE TABLE pgtune_test.events_2026_01 PARTITION OF pgtune_test.events
    FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE pgtune_test.events_default PARTITION OF pgtune_test.events DEFAULT;
CREATE TABLE pgtune_test.narrow (id int);
"""


@pytest.fixture
def schema(pg: Server) -> Iterator[Server]:
    pg.sql(SCHEMA)
    yield pg
    pg.sql("DROP SCHEMA pgtune_test CASCADE")


def reloptions(pg: Server, table: str) -> tuple[list[str], list[str]]:
    row = pg.sql(
        "SELECT coalesce(c.reloptions, '{}'), coalesce(t.reloptions, '{}') FROM pg_class c "
        "LEFT JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.oid = %s::regclass",
        (table,),
    )[0]
    return sorted(row[0]), sorted(row[1])


MESSAGES = """
    name: storage
    tables:
      pgtune_test.messages:
        storage:
          autovacuum_vacuum_scale_factor: 0.05
          autovacuum_vacuum_threshold: 500
          autovacuum_analyze_scale_factor: 0.02
          autovacuum_enabled: on
          fillfactor: 90
          toast.autovacuum_vacuum_scale_factor: 0.05
          toast.autovacuum_enabled: 'true'
"""


def test_storage_parameters_apply_typed_and_re_plan_empty(schema: Server, plan_for: PlanFor) -> None:
    plan = plan_for(MESSAGES)
    [change] = plan.changes
    assert change.object == "pgtune_test.messages"
    assert change.action == "update"
    # 0.050 and TRUE already stored: typed equality, so only the real differences are planned.
    assert value_data(change.after) == {
        "autovacuum_vacuum_threshold": "500",
        "autovacuum_analyze_scale_factor": "0.02",
        "fillfactor": "90",
        "toast.autovacuum_vacuum_scale_factor": "0.05",
        "toast.autovacuum_enabled": "on",
    }
    assert [s.lock for s in change.statements] == ["SHARE UPDATE EXCLUSIVE"]
    schema.apply(plan)
    main, toast = reloptions(schema, "pgtune_test.messages")
    assert main == [
        "autovacuum_analyze_scale_factor=0.02",
        "autovacuum_enabled=true",
        "autovacuum_vacuum_scale_factor=0.050",
        "autovacuum_vacuum_threshold=500",
        "fillfactor=90",
    ]
    assert toast == ["autovacuum_enabled=on", "autovacuum_vacuum_scale_factor=0.05"]
    assert plan_for(MESSAGES).changes == ()


def test_null_resets_and_unlisted_parameters_are_left_alone(schema: Server, plan_for: PlanFor) -> None:
    plan = plan_for("name: s\ntables:\n  pgtune_test.steps:\n    storage: {fillfactor: null, parallel_workers: 2}\n")
    [change] = plan.changes
    assert [s.sql for s in change.statements] == [
        'ALTER TABLE "pgtune_test"."steps" SET (parallel_workers = \'2\')',
        'ALTER TABLE "pgtune_test"."steps" RESET (fillfactor)',
    ]
    schema.apply(plan)
    assert reloptions(schema, "pgtune_test.steps")[0] == ["parallel_workers=2"]
    only_reset = plan_for("name: s\ntables:\n  pgtune_test.steps:\n    storage: {parallel_workers: null}\n")
    assert [(c.action, value_data(c.before), value_data(c.after)) for c in only_reset.changes] == [
        ("delete", {"parallel_workers": "2"}, {"parallel_workers": None})
    ]
    schema.apply(only_reset)
    assert reloptions(schema, "pgtune_test.steps")[0] == []
    assert plan_for("name: s\ntables:\n  pgtune_test.steps:\n    storage: {parallel_workers: null}\n").changes == ()


def test_a_partitioned_parent_applies_to_every_leaf(schema: Server, plan_for: PlanFor) -> None:
    profile = "name: p\ntables:\n  pgtune_test.events:\n    storage: {autovacuum_vacuum_scale_factor: 0.01}\n"
    plan = plan_for(profile)
    assert [c.object for c in plan.changes] == ["pgtune_test.events_2026_01", "pgtune_test.events_default"]
    assert all("partition of pgtune_test.events" in (c.note or "") for c in plan.changes)
    schema.apply(plan)
    for leaf in ("pgtune_test.events_2026_01", "pgtune_test.events_default"):
        assert reloptions(schema, leaf)[0] == ["autovacuum_vacuum_scale_factor=0.01"]
    assert reloptions(schema, "pgtune_test.events")[0] == []
    assert plan_for(profile).changes == ()


def test_bare_names_resolve_through_search_path(schema: Server, plan_for: PlanFor) -> None:
    schema.sql("ALTER ROLE postgres SET search_path = pgtune_test, public")
    plan = plan_for("name: b\ntables:\n  steps:\n    storage: {fillfactor: 80}\n")
    assert [c.object for c in plan.changes] == ["pgtune_test.steps"]
    schema.sql("CREATE TABLE public.steps (id int)")
    with pytest.raises(PgtuneError, match=r"table 'steps' is ambiguous: pgtune_test\.steps, public\.steps"):
        plan_for("name: b\ntables:\n  steps:\n    storage: {fillfactor: 80}\n")
    schema.sql("DROP TABLE public.steps")


def test_toast_parameters_on_a_table_without_toast_are_a_notice(schema: Server, plan_for: PlanFor) -> None:
    plan = plan_for("name: t\ntables:\n  pgtune_test.narrow:\n    storage: {toast.autovacuum_enabled: off}\n")
    assert plan.changes == ()
    assert [(n.object, n.code) for n in plan.notices] == [("pgtune_test.narrow", "NO_TOAST_TABLE")]


@pytest.mark.parametrize(
    ("table", "storage", "expected"),
    [
        ("pgtune_test.nope", "{fillfactor: 90}", "3:3: unknown table 'pgtune_test.nope'"),
        (
            "pgtune_test.messages",
            "{fillfacter: 90}",
            "4:15: unknown storage parameter 'fillfacter'; did you mean 'fillfactor'",
        ),
        ("pgtune_test.messages", "{fillfactor: 5}", "4:27: fillfactor = '5' is outside the valid range 10 .. 100"),
        (
            "pgtune_test.messages",
            "{autovacuum_enabled: sometimes}",
            "4:35: autovacuum_enabled requires a Boolean value",
        ),
        ("pgtune_test.messages", "{toast.fillfactor: 90}", "4:15: unknown storage parameter 'toast.fillfactor'"),
        (
            "pgtune_test.messages",
            "{autovacuum_vacuum_threshold: 10MB}",
            "4:44: autovacuum_vacuum_threshold: invalid value",
        ),
        ("'pgtune_test.messages; DROP TABLE x'", "{fillfactor: 90}", "3:3: invalid table name"),
    ],
)
def test_invalid_storage_is_refused_with_positions_and_runs_nothing(
    schema: Server, write_profile: Callable[..., Path], table: str, storage: str, expected: str
) -> None:
    path = write_profile(f"name: bad\ntables:\n  {table}:\n    storage: {storage}\n")
    position = schema.log_position()
    with (
        pytest.raises(PgtuneError) as info,
        psycopg.connect(schema.dsn, autocommit=True, application_name="pgtune") as conn,
    ):
        build_plan(conn, load_profile(path))
    assert any(line.startswith(f"{path}:{expected}") for line in info.value.lines()), info.value.lines()
    schema.assert_only_reads_since(position)
    assert reloptions(schema, "pgtune_test.messages")[0] == [
        "autovacuum_enabled=true",
        "autovacuum_vacuum_scale_factor=0.050",
    ]


def test_postgresql_18_storage_parameters(pg: Server, plan_for: Callable[[str], Plan]) -> None:
    pg.sql("DROP TABLE IF EXISTS public.eager; CREATE TABLE public.eager (id int, v text)")
    profile = """
        name: eager
        tables:
          public.eager:
            storage:
              autovacuum_vacuum_max_threshold: 50000
              toast.autovacuum_vacuum_max_threshold: 100000
              vacuum_max_eager_freeze_failure_rate: 0.05
        """
    try:
        if int(pg.version) < 18:
            with pytest.raises(PgtuneError, match="'autovacuum_vacuum_max_threshold' needs PostgreSQL 18"):
                plan_for(profile)
            return
        pg.apply(plan_for(profile))
        assert sorted(pg.one("SELECT reloptions FROM pg_class WHERE oid = 'public.eager'::regclass")) == [  # type: ignore[arg-type]
            "autovacuum_vacuum_max_threshold=50000",
            "vacuum_max_eager_freeze_failure_rate=0.05",
        ]
        assert plan_for(profile).changes == ()
    finally:
        pg.sql("DROP TABLE IF EXISTS public.eager")
