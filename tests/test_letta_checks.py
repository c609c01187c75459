"""Letta as it really runs (issue 44), each case reproduced on PostgreSQL 15 with pg_stat_statements:
an application that does not pool (Letta's NullPool default) opens a connection per request — `check`
reports the churn and the profile's pool arithmetic (pool: none, concurrency) is the peak that ran;
foreign keys are weighed on what scans (an UPDATE that keeps the referenced key is no reason for an
index, a key-changing UPDATE or a DELETE still is); indexes another tool owns are never suggested for
dropping nor pruned; a one-row table never warns on dead rows."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgtune.checks.health import Result, run
from pgtune.integrations.sandbox import LocalCluster
from pgtune.profile.loader import load_profile
from pgtune.targets import workflow

APP = "pgtune_nopool_app"
THREADS, REQUESTS = 8, 25


def _database(cluster: LocalCluster, name: str) -> str:
    with cluster.connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(cluster.dsn(name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
    return cluster.dsn(name)


def _until(dsn: str, query: str) -> None:
    """Poll until the statistics show what the test did (backends report them at their own pace)."""
    from pgtune.base.poll import poll

    def seen() -> bool:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(query).fetchone()
            return bool(row and row[0])

    poll(seen, 30, interval=0.1)


def _checks(dsn: str, tmp_path: Path, profile: str) -> dict[str, Result]:
    path = tmp_path / "checks.yaml"
    path.write_text(profile, encoding="utf-8")
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {r.name: r for r in run(conn, load_profile(path))}


@pytest.fixture(scope="module")
def app_role(workload15: LocalCluster) -> Iterator[LocalCluster]:
    with workload15.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {APP}")
        conn.execute(f"CREATE ROLE {APP} LOGIN")
    yield workload15


def test_a_no_pool_application_churns_and_its_pool_arithmetic_is_what_ran(
    app_role: LocalCluster, tmp_path: Path
) -> None:
    dsn = _database(app_role, "pgtune_test_churn")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE agents (id int PRIMARY KEY, name text); GRANT SELECT ON agents TO {APP}")
        conn.execute("INSERT INTO agents SELECT g, 'a' || g FROM generate_series(1, 100) g")
        conn.execute("SELECT pg_stat_reset()")  # the database's statistics start now: the churn is this run's
    app_dsn = app_role.dsn("pgtune_test_churn", user=APP)
    everyone_in, counted = threading.Barrier(THREADS + 1), threading.Barrier(THREADS + 1)

    def request(i: int) -> None:
        with psycopg.connect(app_dsn) as conn:  # NullPool: a connection for this one request
            conn.execute("SELECT name FROM agents WHERE id = %s", (i % 100 + 1,)).fetchone()
            if i == 0:  # the first requests of all threads at once: the concurrency the profile declares
                everyone_in.wait(timeout=30)
                counted.wait(timeout=30)

    def worker() -> None:
        for i in range(REQUESTS):
            request(i)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    everyone_in.wait(timeout=30)
    with psycopg.connect(dsn, autocommit=True) as conn:
        ((peak,),) = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (APP,)).fetchall()
    counted.wait(timeout=30)
    for t in threads:
        t.join()
    assert peak == THREADS

    # A rate needs 10 s of statistics (MIN_CHURN_SECONDS): the rest of the window passes idle, as a quiet app's would.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_sleep(greatest(0, 10.5 - extract(epoch FROM now() - stats_reset))) "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
    churn = _checks(dsn, tmp_path, "name: c\n")["connection_churn"]
    sessions = THREADS * REQUESTS
    assert churn.status == "warn", churn
    assert int(churn.detail.split()[0]) >= sessions  # the app's, and the few of the test's own
    assert churn.value >= 5 and "pooler" in (churn.suggestion or "")

    profile = tmp_path / "nopool.yaml"
    profile.write_text(
        f"name: nopool\npool:\n  application:\n    instances: 1\n    pool: none\n    concurrency: {THREADS}\n",
        encoding="utf-8",
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        plan = workflow.derive(conn, workflow.Inputs(load_profile(profile)))
    (capacity,) = [c for c in plan.checks if c.code == "POOL_CAPACITY"]
    assert capacity.status == "ok" and capacity.numbers["application_peak"] == peak
    assert f"1 x concurrency {THREADS} (pool: none, a connection per session) = {THREADS}" in capacity.message


FK_SCHEMA = """
CREATE TABLE agents (id int PRIMARY KEY, name text, updated_at timestamptz);
CREATE INDEX agents_updated_at ON agents (updated_at);  -- Letta's updates are non-HOT: an indexed column moves
CREATE TABLE run_metrics (id int PRIMARY KEY, agent_id int REFERENCES agents (id), pad text);
CREATE TABLE tags (id int PRIMARY KEY);
CREATE TABLE agent_tags (id int PRIMARY KEY, tag_id int REFERENCES tags (id), pad text);
INSERT INTO agents SELECT g, 'a', now() FROM generate_series(1, 1200) g;
INSERT INTO run_metrics SELECT g, 1 + g % 200, repeat('x', 100) FROM generate_series(1, 20000) g;
INSERT INTO tags SELECT g FROM generate_series(1, 1200) g;
INSERT INTO agent_tags SELECT g, 1 + g % 200, repeat('x', 100) FROM generate_series(1, 20000) g;
"""
WEIGH = "name: fk\nchecks: {fk_without_index: {min_age: 0s}}\n"


def _fk(results: dict[str, Result], constraint: str) -> dict:
    return next(o for o in results["fk_without_index"].objects if o["constraint"] == constraint)


def test_a_foreign_key_is_weighed_on_deletes_and_key_updates_not_on_updates(
    workload15: LocalCluster, tmp_path: Path
) -> None:
    dsn = _database(workload15, "pgtune_test_fk_keys")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(FK_SCHEMA)
        conn.execute("ANALYZE")
        conn.execute("SELECT pg_stat_statements_reset()")
        for i in range(400):  # Letta's manager: every step touches its agent, never its id
            conn.execute("UPDATE agents SET name = %s, updated_at = now() WHERE id = %s", (f"n{i}", 1 + i % 1200))
    _until(dsn, "SELECT n_tup_upd - n_tup_hot_upd >= 300 FROM pg_stat_user_tables WHERE relname = 'agents'")
    results = _checks(dsn, tmp_path, WEIGH)
    fk = results["fk_without_index"]
    assert fk.value == 0, fk
    kept = _fk(results, "run_metrics_agent_id_fkey")
    assert kept["referenced_key_updates"] == 0 and kept["verdict"].startswith("not needed: no deletes or key updates")
    assert "key updates from pg_stat_statements" in fk.detail

    with psycopg.connect(dsn, autocommit=True) as conn:  # re-keying agents nobody references still scans
        conn.execute("UPDATE agents SET id = id + 100000 WHERE id > 200")  # 1,000 rows in one statement
        conn.execute("DELETE FROM tags WHERE id > 200")  # 1,000 deletes, each scans agent_tags
    _until(dsn, "SELECT n_tup_del >= 1000 FROM pg_stat_user_tables WHERE relname = 'tags'")
    results = _checks(dsn, tmp_path, WEIGH)
    assert results["fk_without_index"].value == 2, results["fk_without_index"]
    rekeyed = _fk(results, "run_metrics_agent_id_fkey")
    assert rekeyed["referenced_key_updates"] == 1000 and rekeyed["verdict"].startswith("needed:")
    assert _fk(results, "agent_tags_tag_id_fkey")["verdict"].startswith("needed: 1000 deletes")


OWNED = """name: owned
owned_by:
  migrations:
    objects: [public.*]
    change: a new Alembic revision
tables:
  public.agents_tags:
    prune_indexes: true
checks: {unused_indexes: {min_size: 0, min_age: 0s}}
"""


def test_what_the_migrations_own_is_never_suggested_for_dropping_nor_pruned(
    workload15: LocalCluster, tmp_path: Path
) -> None:
    dsn = _database(workload15, "pgtune_test_owned")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE agents_tags (agent_id int, tag text, CONSTRAINT unique_agent_tag UNIQUE (agent_id, tag));"
            "CREATE INDEX ix_agents_tags_agent_id_tag ON agents_tags (agent_id, tag);"
            "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY) WITH (autovacuum_enabled = false);"
            "INSERT INTO alembic_version VALUES ('0')"
        )
        for i in range(1, 200):  # 167 revisions in Letta's history: one row, rewritten at each
            conn.execute("UPDATE alembic_version SET version_num = %s", (str(i),))
    _until(dsn, "SELECT n_dead_tup >= 150 FROM pg_stat_user_tables WHERE relname = 'alembic_version'")
    results = _checks(dsn, tmp_path, OWNED)
    dup = results["duplicate_indexes"]
    assert dup.status == "warn" and dup.objects[0]["drop"] == []
    assert dup.objects[0]["owned"] == [
        "public.ix_agents_tags_agent_id_tag is owned by migrations: change it in a new Alembic revision"
    ]
    assert dup.suggestion is not None and "absent" not in dup.suggestion and "migrations" in dup.suggestion
    unused = results["unused_indexes"]
    assert {o["index"] for o in unused.objects} >= {"public.ix_agents_tags_agent_id_tag"}
    assert unused.suggestion is not None and "absent" not in unused.suggestion
    dead = results["dead_tuples"]  # one row, 199 dead: smaller than min_size (1MB), never a warning
    assert dead.status == "ok" and "smaller than min_size" in dead.detail, dead

    path = tmp_path / "owned.yaml"
    path.write_text(OWNED, encoding="utf-8")
    with psycopg.connect(dsn, autocommit=True) as conn:
        plan = workflow.derive(conn, workflow.Inputs(load_profile(path)))
    assert not plan.changes  # prune_indexes: the owned index stays
    assert [(n.code, n.object) for n in plan.notices if n.code == "OWNED_NOT_PRUNED"] == [
        ("OWNED_NOT_PRUNED", "public.ix_agents_tags_agent_id_tag")
    ]
