"""The executor on a real server: stop at the first failure, bounded lock waits, one reload."""

from __future__ import annotations

import threading
import time

import psycopg
from conftest import Server

from pgtune.plan.model import Address, Change, Plan, ServerInfo, Statement
from pgtune.targets.executor import APPLIED, FAILED, SKIPPED, ExecOptions, execute


def change(obj: str, *sql: str, transactional: bool = True, reload: bool = False) -> Change:
    statements = tuple(Statement(s, transactional) for s in sql)
    return Change(Address("setting", obj), "update", None, None, statements, reload_required=reload)


def run(pg: Server, *changes: Change, **options: object) -> tuple[list[tuple[str, str]], list[str | None], bool]:
    plan = Plan("t", ServerInfo("x", 0), tuple(changes))
    with psycopg.connect(pg.dsn, autocommit=True, application_name="pgtune") as conn:
        report = execute(plan, conn, ExecOptions(**options))  # type: ignore[arg-type]
    return [(o.change.object, o.status) for o in report.outcomes], [o.error for o in report.outcomes], report.reloaded


def test_a_failure_stops_the_run_and_what_ran_is_reloaded(pg: Server) -> None:
    statuses, errors, reloaded = run(
        pg,
        change("work_mem", "ALTER SYSTEM SET work_mem = '40MB'", transactional=False, reload=True),
        change("broken", "ALTER DATABASE pgtune_test_missing SET work_mem = '1MB'"),
        change("jit", "ALTER SYSTEM SET jit = 'off'", transactional=False, reload=True),
    )
    assert statuses == [("work_mem", APPLIED), ("broken", FAILED), ("jit", SKIPPED)]
    assert errors[1] == 'database "pgtune_test_missing" does not exist (SQLSTATE 3D000)'
    assert reloaded
    assert pg.show("work_mem") == "40MB"
    assert pg.show("jit") == "on"


def test_multi_statement_changes_are_atomic(pg: Server) -> None:
    pg.sql("CREATE TABLE IF NOT EXISTS pgtune_test_t (id int)")
    try:
        statuses, _, _ = run(
            pg, change("t", "ALTER TABLE pgtune_test_t ADD COLUMN a int", "ALTER TABLE pgtune_test_t ADD COLUMN id int")
        )
        assert statuses == [("t", FAILED)]
        assert (
            pg.one("SELECT count(*) FROM pg_attribute WHERE attrelid = 'pgtune_test_t'::regclass AND attname = 'a'")
            == 0
        )
    finally:
        pg.sql("DROP TABLE pgtune_test_t")


def test_a_held_lock_makes_apply_give_up_within_lock_timeout_times_retries(pg: Server) -> None:
    pg.sql("CREATE TABLE IF NOT EXISTS pgtune_test_locked (id int)")
    holder = psycopg.connect(pg.dsn)
    try:
        holder.execute("LOCK TABLE pgtune_test_locked IN ACCESS EXCLUSIVE MODE")
        start = time.monotonic()
        statuses, errors, _ = run(
            pg,
            change("t", "ALTER TABLE pgtune_test_locked SET (fillfactor = 90)"),
            lock_timeout="200ms",
            retries=2,
            backoff_seconds=0.1,
        )
        elapsed = time.monotonic() - start
        assert statuses == [("t", FAILED)]
        assert "lock timeout" in (errors[0] or "") and "55P03" in (errors[0] or "")
        assert 0.6 <= elapsed < 3.0  # 3 attempts x 200ms + 0.1 + 0.2 backoff
    finally:
        holder.close()
        pg.sql("DROP TABLE pgtune_test_locked")


def test_a_lock_released_during_retries_lets_the_change_through(pg: Server) -> None:
    pg.sql("CREATE TABLE IF NOT EXISTS pgtune_test_briefly (id int)")
    holder = psycopg.connect(pg.dsn)
    try:
        holder.execute("LOCK TABLE pgtune_test_briefly IN ACCESS EXCLUSIVE MODE")
        threading.Timer(0.4, holder.rollback).start()
        statuses, _, _ = run(
            pg,
            change("t", "ALTER TABLE pgtune_test_briefly SET (fillfactor = 80)"),
            lock_timeout="200ms",
            retries=5,
            backoff_seconds=0.1,
        )
        assert statuses == [("t", APPLIED)]
        assert pg.one("SELECT reloptions FROM pg_class WHERE relname = 'pgtune_test_briefly'") == ["fillfactor=80"]
    finally:
        holder.close()
        pg.sql("DROP TABLE pgtune_test_briefly")
