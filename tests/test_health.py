"""`pgtune check` on real servers: every condition is provoked for real, in its own database so
statistics do not leak between tests, and the check must fire with the right status."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from pgtune.errors import ProfileError
from pgtune.health import Result, run
from pgtune.profile.loader import load_profile
from tests.conftest import TEST_PREFIX, CliResult, Server

Cli = Callable[..., CliResult]


class Db:
    """A fresh database on the test server, for one test."""

    def __init__(self, server: Server, name: str) -> None:
        self.server, self.name = server, name
        self.dsn = server.cluster.dsn(name)

    def connect(self, autocommit: bool = True) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=autocommit)

    def sql(self, statement: str) -> None:
        with self.connect() as conn:
            conn.execute(statement.encode())

    def checks(self, tmp_path: Path, profile: str | None = None) -> dict[str, Result]:
        loaded = None
        if profile is not None:
            path = tmp_path / "checks.yaml"
            path.write_text(textwrap.dedent(profile).lstrip("\n"))
            loaded = load_profile(path)
        with self.connect() as conn:
            return {r.name: r for r in run(conn, loaded)}


@pytest.fixture
def db(pg: Server, request: pytest.FixtureRequest) -> Iterator[Db]:
    name = f"{TEST_PREFIX}health_{abs(hash(request.node.name)) % 10**8}"
    pg.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg.sql(f'CREATE DATABASE "{name}"')
    yield Db(pg, name)


def _bad(results: dict[str, Result]) -> dict[str, str]:
    return {n: r.status for n, r in results.items() if r.status in ("warn", "critical")}


def test_a_healthy_fresh_database_passes(db: Db, tmp_path: Path, cli: Cli) -> None:
    assert _bad(db.checks(tmp_path)) == {}
    result = cli("check", "--dsn", db.dsn, "--fail-on", "warn")
    assert result.code == 0, result.stdout
    assert "0 warn, 0 critical" in result.stdout


FAST = """
name: health
checks:
  long_transactions: {warn: 1s, critical: 1h}
  idle_in_transaction: {warn: 1s}
  lock_waits: {warn: 1s}
"""


def test_a_held_transaction_is_long_and_idle_in_transaction(db: Db, tmp_path: Path) -> None:
    with db.connect(autocommit=False) as holder:
        holder.execute("SELECT 1")  # open transaction, then idle in it
        pid = holder.info.backend_pid
        time.sleep(1.3)
        results = db.checks(tmp_path, FAST)
    for name in ("long_transactions", "idle_in_transaction"):
        assert results[name].status == "warn", results[name]
        assert results[name].value >= 1.0
        assert [o["pid"] for o in results[name].objects] == [pid]
    assert "idle_in_transaction_session_timeout" in (results["idle_in_transaction"].suggestion or "")


def test_a_blocked_writer_shows_the_blocking_chain(db: Db, tmp_path: Path) -> None:
    db.sql("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0)")
    holder = db.connect(autocommit=False)
    holder.execute("UPDATE t SET v = 1 WHERE id = 1")
    holder_pid = holder.info.backend_pid
    blocked_pid: list[int] = []

    def writer() -> None:
        with db.connect() as conn:
            blocked_pid.append(conn.info.backend_pid)
            conn.execute("UPDATE t SET v = 2 WHERE id = 1")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(1.5)
        results = db.checks(tmp_path, FAST)
    finally:
        holder.rollback()
        holder.close()
        thread.join(10)
    waits = results["lock_waits"]
    assert waits.status == "warn", waits
    assert f"pid {blocked_pid[0]} waits" in waits.detail
    assert f"for pid {holder_pid}" in waits.detail


def test_a_real_deadlock_is_counted(db: Db, tmp_path: Path) -> None:
    db.sql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)")
    a, b = db.connect(autocommit=False), db.connect(autocommit=False)
    a.execute("UPDATE t SET id = id WHERE id = 1")
    b.execute("UPDATE t SET id = id WHERE id = 2")
    errors: list[Exception] = []

    def second(conn: psycopg.Connection, row: int) -> None:
        try:
            conn.execute(f"UPDATE t SET id = id WHERE id = {row}".encode())
        except psycopg.errors.DeadlockDetected as exc:
            errors.append(exc)
        finally:
            conn.rollback()

    threads = [threading.Thread(target=second, args=(a, 2)), threading.Thread(target=second, args=(b, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    a.close()
    b.close()
    assert len(errors) == 1
    time.sleep(0.5)
    result = db.checks(tmp_path)["deadlocks"]
    assert result.status == "warn" and result.value >= 1, result


def test_dead_tuples_bloat_and_vacuum_recency(db: Db, tmp_path: Path) -> None:
    db.sql(
        "CREATE TABLE churn (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = false);"
        "INSERT INTO churn SELECT g, 0 FROM generate_series(1, 20000) g;"
        "UPDATE churn SET v = 1; UPDATE churn SET v = 2;"
        "CREATE TABLE holes (id int, pad text);"
        "INSERT INTO holes SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;"
        "DELETE FROM holes WHERE id % 10 < 7;"
    )
    db.sql("VACUUM ANALYZE holes")
    time.sleep(0.3)
    results = db.checks(tmp_path, "name: h\nchecks: {table_bloat: {min_size: 0}}\n")
    dead = results["dead_tuples"]
    assert dead.status == "warn" and [o["table"] for o in dead.objects] == ["public.churn"]
    assert dead.objects[0]["ratio"] >= 0.6 and dead.objects[0]["autovacuum_enabled"] is False
    assert dead.suggestion == (
        "tables: {public.churn: {storage: {autovacuum_enabled: true, autovacuum_vacuum_scale_factor: 0.1, "
        "autovacuum_vacuum_threshold: 500}}}"
    )
    bloat = results["table_bloat"]
    assert bloat.status == "critical", bloat
    holes = next(o for o in bloat.objects if o["table"] == "public.holes")
    assert 0.55 <= holes["bloat"] <= 0.8 and holes["unreliable"] is False
    churn = next(o for o in bloat.objects if o["table"] == "public.churn")
    assert churn["unreliable"] is True  # never analyzed: no statistics to estimate from
    recency = results["autovacuum_recency"]
    assert recency.status == "warn" and "public.churn" in [o["table"] for o in recency.objects]


def test_invalid_unused_duplicate_and_unindexed_fk(db: Db, tmp_path: Path) -> None:
    db.sql(
        "CREATE TABLE parent (id int PRIMARY KEY);"
        "CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id), code text);"
        "INSERT INTO child SELECT g, NULL, 'same' FROM generate_series(1, 100) g;"
        "CREATE INDEX ix_child_code ON child (code);"
        "CREATE INDEX ix_child_code_again ON child (code);"
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.sql("CREATE UNIQUE INDEX CONCURRENTLY ix_child_code_unique ON child (code)")
    results = db.checks(tmp_path, "name: h\nchecks: {unused_indexes: {min_size: 0, min_age: 0s}}\n")
    assert results["invalid_indexes"].status == "warn"
    assert [o["index"] for o in results["invalid_indexes"].objects] == ["public.ix_child_code_unique"]
    dup = results["duplicate_indexes"]
    assert dup.status == "warn" and dup.objects[0]["indexes"] == "public.ix_child_code, public.ix_child_code_again"
    assert dup.objects[0]["drop"] == ["public.ix_child_code_again"]
    unused = results["unused_indexes"]
    assert unused.status == "warn"
    assert {"public.ix_child_code", "public.ix_child_code_again"} <= {o["index"] for o in unused.objects}
    fk = results["fk_without_index"]
    assert fk.status == "warn" and fk.objects == [
        {"table": "public.child", "constraint": "child_parent_id_fkey", "columns": ["parent_id"]}
    ]
    assert fk.suggestion == "tables: {public.child: {indexes: {ix_child_parent_id: {columns: [parent_id]}}}}"


def test_a_setting_pending_restart(db: Db, tmp_path: Path) -> None:
    db.server.sql("ALTER SYSTEM SET shared_buffers = '160MB'")
    db.server.sql("SELECT pg_reload_conf()")
    time.sleep(0.5)
    result = db.checks(tmp_path)["pending_restart"]
    assert result.status == "warn" and result.objects[0]["name"] == "shared_buffers"


def test_a_rollback_heavy_workload(db: Db, tmp_path: Path) -> None:
    with db.connect(autocommit=False) as conn:
        for i in range(200):
            conn.execute("SELECT 1")
            conn.rollback() if i % 4 == 0 else conn.commit()
    time.sleep(0.3)
    result = db.checks(tmp_path)["rollback_ratio"]
    assert result.status == "warn" and 0.2 <= result.value <= 0.3, result


def test_cli_exit_codes_formats_and_read_only(db: Db, cli: Cli, write_profile: Callable[..., Path]) -> None:
    db.sql("CREATE TABLE parent (id int PRIMARY KEY); CREATE TABLE child (parent_id int REFERENCES parent (id))")
    position = db.server.log_position()
    warned = cli("check", "--dsn", db.dsn, "--format", "json")
    assert warned.code == 0  # default --fail-on critical: a warning does not fail
    doc = json.loads(warned.stdout)
    by_name = {c["name"]: c for c in doc["checks"]}
    assert set(by_name["fk_without_index"]) == {
        "name",
        "status",
        "value",
        "threshold",
        "detail",
        "objects",
        "suggestion",
    }
    assert by_name["fk_without_index"]["status"] == "warn"
    assert by_name["fk_without_index"]["threshold"] == {"warn": 1.0}
    strict = cli("check", "--dsn", db.dsn, "--fail-on", "warn", "--format", "markdown")
    assert strict.code == 3
    assert "| :warning: | `fk_without_index` |" in strict.stdout
    db.server.assert_only_reads_since(position)
    bad = write_profile("name: h\nchecks:\n  cache_hit_ratio: {warn: 2}\n  disabled: [cache_hit_ratioo]\n")
    result = cli("check", str(bad), "--dsn", db.dsn)
    assert result.code == 1
    assert f"{bad}:4:14:" in result.stderr  # unknown check name in disabled
    with pytest.raises(ProfileError, match=r"checks.cache_hit_ratio.warn: a ratio is between 0 and 1"):
        from pgtune.health import resolve_limits

        resolve_limits(load_profile(write_profile("name: h\nchecks: {cache_hit_ratio: {warn: 2}}\n", name="b.yaml")))
    disabled = cli(
        "check",
        str(write_profile("name: h\nchecks: {disabled: [fk_without_index]}\n", name="d.yaml")),
        "--dsn",
        db.dsn,
        "--fail-on",
        "warn",
    )
    assert disabled.code == 0, disabled.stdout
