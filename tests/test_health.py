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

from pgtune.base.errors import ProfileError
from pgtune.checks.health import Result, run
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
    _until(db, "SELECT n_tup_upd >= 40000 FROM pg_stat_user_tables WHERE relname = 'churn'")
    young = db.checks(tmp_path)["autovacuum_recency"]  # the statistics are minutes old, the threshold 1d
    assert young.status == "skipped" and young.detail.startswith("not judged: "), young
    assert "less than the 1 d it needs (checks.autovacuum_recency.min_age)" in young.detail
    results = db.checks(tmp_path, "name: h\nchecks: {table_bloat: {min_size: 0}, autovacuum_recency: {warn: 1s}}\n")
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
    churned = next(o for o in recency.objects if o["table"] == "public.churn")
    assert churned["since_vacuum"] is None and churned["age"] >= 1  # never: as long as the statistics watched
    assert recency.value == max(o["age"] for o in recency.objects) and "of statistics (since" in recency.detail


def _until(db: Db, query: str) -> None:
    assert db.server.wait_for(query, dbname=db.name), f"timed out waiting for {query}"


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
    fk = results["fk_without_index"]  # a young database, no deletes on parent: nothing to weigh yet
    assert fk.status == "ok" and fk.value == 0 and fk.suggestion is None, fk
    assert [(o["table"], o["constraint"], o["columns"]) for o in fk.objects] == [
        ("public.child", "child_parent_id_fkey", ["parent_id"])
    ]
    assert "a scan costs little (below min_size)" in fk.objects[0]["verdict"]


FK_SCHEMA = (
    "CREATE TABLE org (id int PRIMARY KEY);"  # referenced, never deleted from
    "CREATE TABLE parent (id int PRIMARY KEY);"  # referenced, deleted from
    "CREATE TABLE child (id int PRIMARY KEY, org_id int REFERENCES org (id), parent_id int REFERENCES parent (id),"
    " pad text);"
    "INSERT INTO org VALUES (1); INSERT INTO parent SELECT g FROM generate_series(1, 2000) g;"
    "INSERT INTO child SELECT g, 1, 1 + g % 1000, repeat('x', 120) FROM generate_series(1, 20000) g;"
)


def test_a_foreign_key_without_index_is_weighed_on_what_the_tables_do(db: Db, tmp_path: Path) -> None:
    db.sql(FK_SCHEMA)
    db.sql("ANALYZE")
    young = db.checks(tmp_path)["fk_without_index"]  # minutes of statistics, min_age 7d, no deletes yet
    assert young.status == "ok" and young.value == 0, young
    assert {o["constraint"]: o["verdict"].split(":")[0] for o in young.objects} == {
        "child_org_id_fkey": "not judged",
        "child_parent_id_fkey": "not judged",
    }
    db.sql("DELETE FROM parent WHERE id > 1000")  # 1,000 parents nobody references: each scans child
    _until(db, "SELECT n_tup_del >= 1000 FROM pg_stat_user_tables WHERE relname = 'parent'")
    results = db.checks(tmp_path, "name: h\nchecks: {fk_without_index: {min_age: 0s}}\n")
    fk = results["fk_without_index"]
    assert fk.status == "warn" and fk.value == 1, fk
    needed, other = fk.objects
    assert needed["constraint"] == "child_parent_id_fkey" and needed["verdict"].startswith("needed: 1000 deletes")
    assert needed["referenced_deletes"] == 1000 and needed["writes"] == 20000
    assert other["constraint"] == "child_org_id_fkey" and other["verdict"].startswith("not needed: no deletes")
    assert fk.suggestion is not None and fk.suggestion.startswith(
        "tables: {public.child: {indexes: {ix_child_parent_id: {columns: [parent_id]}}}} — about "
    )
    assert "written on each insert and key update of public.child (20000 writes in " in fk.suggestion
    assert "on each delete or key update of public.parent" in fk.suggestion


def test_index_bloat_is_judged_by_how_the_index_is_written(db: Db, tmp_path: Path) -> None:
    db.sql(
        "CREATE TABLE serial (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, pad int);"
        "CREATE TABLE scattered (id text PRIMARY KEY, pad int);"
        # keys inserted after the index exists, out of order: pages split in the middle and stay half full
        "INSERT INTO scattered SELECT 'step-' || g, 0 FROM generate_series(1, 100000) g;"
        "INSERT INTO serial (pad) SELECT 0 FROM generate_series(1, 100000) g;"
    )
    db.sql("ANALYZE")
    limits = "name: h\nchecks: {index_bloat: {min_size: 0}}\n"
    fresh = {o["index"]: o for o in db.checks(tmp_path, limits)["index_bloat"].objects}
    assert "public.serial_pkey" not in fresh  # in order, at its fillfactor: nothing to report
    assert db.checks(tmp_path, limits)["index_bloat"].status == "ok"
    scattered = fresh.get("public.scattered_pkey")
    assert scattered is not None and scattered["written"] == "out of order", fresh
    assert scattered["indistinct"] is True and scattered["bloat"] == 0.0 and 0.5 <= scattered["fill"] < 0.9
    # Real bloat: nine rows of ten deleted and vacuumed; the leaf pages stay, a tenth full
    db.sql("DELETE FROM serial WHERE id % 10 <> 0; DELETE FROM scattered WHERE right(id, 1) <> '0'")
    db.sql("VACUUM ANALYZE serial")
    db.sql("VACUUM ANALYZE scattered")
    bloated = db.checks(tmp_path, limits)["index_bloat"]
    assert bloated.status == "critical", bloated
    found = {o["index"]: o for o in bloated.objects}
    assert found["public.serial_pkey"]["written"] == "in order" and found["public.serial_pkey"]["bloat"] >= 0.8
    assert found["public.scattered_pkey"]["bloat"] >= 0.7 and not found["public.scattered_pkey"]["indistinct"]


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
    db.sql(
        "CREATE TABLE parent (id int PRIMARY KEY); CREATE TABLE child (parent_id int REFERENCES parent (id));"
        "INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (1); DELETE FROM parent WHERE id = 2"
    )
    _until(db, "SELECT n_tup_del >= 1 FROM pg_stat_user_tables WHERE relname = 'parent'")
    weigh = str(write_profile("name: h\nchecks: {fk_without_index: {min_size: 0, min_age: 0s}}\n", name="w.yaml"))
    position = db.server.log_position()
    warned = cli("check", weigh, "--dsn", db.dsn, "--format", "json")
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
    strict = cli("check", weigh, "--dsn", db.dsn, "--fail-on", "warn", "--format", "markdown")
    assert strict.code == 3
    assert "| :warning: | `fk_without_index` |" in strict.stdout
    db.server.assert_only_reads_since(position)
    bad = write_profile("name: h\nchecks:\n  cache_hit_ratio: {warn: 2}\n  disabled: [cache_hit_ratioo]\n")
    result = cli("check", str(bad), "--dsn", db.dsn)
    assert result.code == 1
    assert f"{bad}:4:14:" in result.stderr  # unknown check name in disabled
    with pytest.raises(ProfileError, match=r"checks.cache_hit_ratio.warn: a ratio is between 0 and 1"):
        from pgtune.checks.health import resolve_limits

        resolve_limits(load_profile(write_profile("name: h\nchecks: {cache_hit_ratio: {warn: 2}}\n", name="b.yaml")))
    disabled = cli(
        "check",
        str(
            write_profile(
                "name: h\nchecks: {fk_without_index: {min_size: 0, min_age: 0s}, disabled: [fk_without_index]}\n",
                name="d.yaml",
            )
        ),
        "--dsn",
        db.dsn,
        "--fail-on",
        "warn",
    )
    assert disabled.code == 0, disabled.stdout
