"""`pgtune advise` on a real PostgreSQL 15 with pg_stat_statements and HypoPG: Letta's schema
seeded, two of its indexes dropped, Letta's query shapes run (examples/letta/workload.py) — the
dropped composite index is advised for the queries that need it, nothing for the write-only table
or what an index already covers; --into yields a profile that plans exactly that index with every
comment kept; after apply the queries' generic plans use it and a second advise proposes nothing
for them. Autovacuum and work_mem advice from provoked statistics, and absent without evidence."""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from pgtune.integrations.sandbox import LocalCluster
from tests.conftest import LETTA_EXAMPLE, REPO, CliResult, Server, _bindir, _timed

Cli = Callable[..., CliResult]
DROPPED = ("ix_messages_agent_sequence", "ix_messages_agent_conversation_sequence")
PROFILE = """\
# Letta's database, grown by `pgtune advise`.
name: letta-advised  # reviewed in pull requests
tables:
  # The hot table: every agent step reads its history.
  letta.messages:
    storage:
      fillfactor: 90  # room for HOT updates of updated_at
"""


def _load(name: str) -> object:
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / "letta" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def advised_server() -> Iterator[LocalCluster]:
    """PostgreSQL 15 with pg_stat_statements preloaded and HypoPG (Debian's postgresql-15-hypopg)."""
    cluster = LocalCluster(_bindir("15"), conf={"shared_preload_libraries": "pg_stat_statements"})
    try:
        with _timed("advise 15"):
            cluster.init().start()
        with cluster.connect() as conn:
            conn.execute(LETTA_EXAMPLE.read_text(encoding="utf-8"))
        with cluster.connect() as conn:  # Letta's search_path (`letta`): the extensions land there, as in Letta's
            conn.execute("CREATE EXTENSION pg_stat_statements")
            conn.execute("CREATE EXTENSION hypopg")
        _load("seed").seed(cluster.dsn(), 60_000, 500, 30)  # type: ignore[attr-defined]
        with cluster.connect() as conn:
            for name in DROPPED:
                conn.execute(f"DROP INDEX letta.{name}")
            conn.execute("SELECT pg_stat_statements_reset()")
        _load("workload").run(cluster.dsn(), 300, agents=500)  # type: ignore[attr-defined]
        yield cluster
    finally:
        cluster.destroy()


def _advise(cli: Cli, cluster: LocalCluster, profile: Path, *args: str) -> tuple[CliResult, dict]:
    result = cli("advise", str(profile), "--dsn", cluster.dsn(), "--format", "json", *args)
    assert result.code == 0, result.stdout + result.stderr
    return result, json.loads(result.stdout)


def _workload_queryid(cluster: LocalCluster, fragment: str) -> int:
    with cluster.connect() as conn:
        row = conn.execute(
            "SELECT queryid FROM pg_stat_statements WHERE query LIKE %s ORDER BY calls DESC LIMIT 1", (f"%{fragment}%",)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_the_dropped_composite_index_is_advised_and_the_loop_closes(
    advised_server: LocalCluster, cli: Cli, tmp_path: Path
) -> None:
    cluster = advised_server
    profile = tmp_path / "letta.yaml"
    profile.write_text(PROFILE, encoding="utf-8")
    _result, doc = _advise(cli, cluster, profile)
    indexes = [a for a in doc["advice"] if a["kind"] == "index"]
    assert [(a["object"], a["columns"]) for a in indexes] == [("letta.messages", ["agent_id", "sequence_id"])], doc
    history = _workload_queryid(cluster, "ORDER BY sequence_id DESC")
    evidence = indexes[0]["evidence"]
    assert [q["queryid"] for q in evidence["queries"]] == [history]
    assert evidence["queries"][0]["cost_after"] < evidence["queries"][0]["cost_before"] / 2
    assert not [a for a in doc["advice"] if a["object"] in ("letta.steps", "letta.runs", "letta.agents")]

    text = cli("advise", str(profile), "--dsn", cluster.dsn())
    assert "index ix_messages_agent_id_sequence_id on letta.messages (agent_id, sequence_id)" in text.stdout
    md = cli("advise", str(profile), "--dsn", cluster.dsn(), "--format", "markdown")
    assert "| index | `letta.messages` |" in md.stdout

    into = cli("advise", str(profile), "--dsn", cluster.dsn(), "--into")
    assert into.code == 0, into.stderr
    written = profile.read_text(encoding="utf-8")
    for line in PROFILE.splitlines():
        assert line in written  # every comment and line kept
    assert (
        "      ix_messages_agent_id_sequence_id: {columns: [agent_id, sequence_id]}  # pgtune advise: saves" in written
    )
    plan = cli("plan", str(profile), "--dsn", cluster.dsn(), "--format", "json")
    assert plan.code == 0, plan.stderr
    changes = {(c["kind"], c["object"]) for c in json.loads(plan.stdout)["changes"]}
    assert changes == {("index", "letta.ix_messages_agent_id_sequence_id"), ("storage", "letta.messages")}

    applied = cli("apply", str(profile), "--dsn", cluster.dsn(), "--yes")
    assert applied.code == 0, applied.stdout + applied.stderr
    _result, after = _advise(cli, cluster, profile)
    assert not [a for a in after["advice"] if a["kind"] == "index"], after
    used = {u["index"]: u["queries"] for u in after["in_use"]}
    assert history in used["ix_messages_agent_id_sequence_id"]


def test_autovacuum_advice_from_a_write_heavy_table(advised_server: LocalCluster, cli: Cli, tmp_path: Path) -> None:
    cluster = advised_server
    with cluster.connect() as conn:
        conn.execute("CREATE TABLE public.busy (id int PRIMARY KEY, n int)")
        conn.execute("CREATE TABLE public.quiet (id int PRIMARY KEY, n int)")
        conn.execute("CREATE TABLE public.tiny (id int PRIMARY KEY, n int)")
        conn.execute("INSERT INTO public.busy SELECT g, 0 FROM generate_series(1, 200000) g")
        conn.execute("INSERT INTO public.quiet SELECT g, 0 FROM generate_series(1, 200000) g")
        conn.execute("INSERT INTO public.tiny SELECT g, 0 FROM generate_series(1, 500) g")
        conn.execute("ANALYZE public.busy, public.quiet, public.tiny")
        conn.execute("SELECT pg_stat_reset()")
        conn.execute("UPDATE public.busy SET n = n + 1 WHERE id <= 3000")
        conn.execute("UPDATE public.tiny SET n = n + 1")
        conn.execute("UPDATE public.tiny SET n = n + 1")
        conn.execute("UPDATE public.tiny SET n = n + 1")
        conn.execute("SELECT pg_stat_force_next_flush()")
    _wait_for(cluster, "SELECT n_tup_upd >= 3000 FROM pg_stat_user_tables WHERE relname = 'busy'")
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\n", encoding="utf-8")
    _result, doc = _advise(cli, cluster, profile, "--vacuum-interval", "1s")
    storage = {a["object"]: a for a in doc["advice"] if a["kind"] == "storage"}
    assert "public.quiet" not in storage and "public.tiny" not in storage  # no writes; too small
    busy = storage["public.busy"]
    advised = float(busy["values"]["autovacuum_vacuum_scale_factor"])
    assert 0 < advised < 0.2
    assert busy["evidence"]["triggers"]["vacuum"]["dead_rows_per_hour"] > 0
    into = cli("advise", str(profile), "--dsn", cluster.dsn(), "--vacuum-interval", "1s", "--into")
    assert into.code == 0, into.stderr
    assert "public.busy:\n    storage:\n      autovacuum_vacuum_scale_factor:" in profile.read_text(encoding="utf-8")
    # No evidence, no advice: at the default hour-long target these rates need nothing.
    _result, calm = _advise(cli, cluster, profile)
    assert not [a for a in calm["advice"] if a["kind"] == "storage" and a["object"] == "public.quiet"]


def test_work_mem_advice_from_a_spilling_role(advised_server: LocalCluster, cli: Cli, tmp_path: Path) -> None:
    cluster = advised_server
    role = "pgtune_test_spiller"
    with cluster.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN")
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\n", encoding="utf-8")
    _result, before = _advise(cli, cluster, profile)
    assert not [a for a in before["advice"] if a["kind"] == "setting" and a["values"]["role"] == role]
    with psycopg.connect(cluster.dsn(user=role), autocommit=True) as conn:
        for _ in range(3):
            conn.execute("SELECT g FROM generate_series(1, 300000) g ORDER BY md5(g::text)").fetchall()
    _result, doc = _advise(cli, cluster, profile)
    mine = [a for a in doc["advice"] if a["kind"] == "setting" and a["values"]["role"] == role]
    assert len(mine) == 1, doc["advice"]
    advised = mine[0]
    assert advised["profile"] == [
        {"path": ["roles", role, "settings", "work_mem"], "value": advised["values"]["work_mem"]}
    ]
    assert advised["evidence"]["largest_spill_per_call_bytes"] > 1024 * 1024
    assert advised["evidence"]["worst_case_memory_mb"] >= int(advised["values"]["work_mem"].removesuffix("MB"))
    assert not [a for a in doc["advice"] if a["kind"] == "setting" and a["object"] != "work_mem"]


def test_without_hypopg_or_pg_stat_statements_nothing_is_guessed(pg15: object, cli: Cli, tmp_path: Path) -> None:
    server = pg15  # no pg_stat_statements preloaded, no HypoPG extension
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\n", encoding="utf-8")
    result = cli("advise", str(profile), "--dsn", server.dsn, "--format", "json")  # type: ignore[attr-defined]
    assert result.code == 3, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert [a for a in doc["advice"] if a["kind"] in ("index", "setting")] == []
    assert any("pg_stat_statements" in m for m in doc["missing"])


def _wait_for(cluster: LocalCluster, query: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with cluster.connect() as conn:
            row = conn.execute(query).fetchone()
        if row and row[0]:
            return
        time.sleep(0.1)  # polling the statistics collector's state, bounded
    raise AssertionError(f"timed out waiting for {query}")


def test_without_hypopg_index_advice_is_refused_not_guessed(
    advised_server: LocalCluster, cli: Cli, tmp_path: Path
) -> None:
    cluster = advised_server
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\n", encoding="utf-8")
    with cluster.connect() as conn:
        conn.execute("DROP EXTENSION hypopg")
    try:
        result = cli("advise", str(profile), "--dsn", cluster.dsn(), "--format", "json")
        assert result.code == 3, result.stdout + result.stderr
        doc = json.loads(result.stdout)
        assert not [a for a in doc["advice"] if a["kind"] == "index"]
        assert any("HypoPG" in m and "postgresql-<version>-hypopg" in m for m in doc["missing"]), doc["missing"]
        text = cli("advise", str(profile), "--dsn", cluster.dsn())
        assert text.code == 3 and "Not advised:" in text.stdout
    finally:
        with cluster.connect() as conn:
            conn.execute("CREATE EXTENSION hypopg")


def test_generic_plans_on_every_version(pg: Server) -> None:
    """The costing path of each version: EXPLAIN (GENERIC_PLAN) on 16+, PREPARE + EXPLAIN EXECUTE before;
    a statement the server cannot plan is skipped, and a prepared one never lingers."""
    from pgtune.advice.catalog import Session, Statement
    from pgtune.advice.indexes import Coster
    from pgtune.advice.shapes import parse

    pg.sql("DROP TABLE IF EXISTS public.pgtune_test_gp; CREATE TABLE public.pgtune_test_gp (id int, kind text)")
    try:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            version = conn.info.server_version
            coster = Coster(Session(conn), version, None)

            def statement(queryid: int, text: str) -> Statement:
                return Statement(queryid, "postgres", 1, 1.0, 1, 0, parse(text))

            listed = statement(1, "SELECT id FROM public.pgtune_test_gp WHERE kind = $1 ORDER BY id LIMIT $2")
            cost = coster.cost(listed)
            assert cost is not None and cost > 0
            assert coster.cost(statement(2, "SELECT nope FROM public.pgtune_test_gp WHERE id = $1")) is None
            assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
    finally:
        pg.sql("DROP TABLE IF EXISTS public.pgtune_test_gp")


def test_check_reads_top_queries_from_the_extensions_schema_whatever_the_search_path(
    advised_server: LocalCluster, cli: Cli, tmp_path: Path
) -> None:
    """pg_stat_statements lives in `letta` here (Letta's database); a session whose search_path does
    not hold it still gets the top queries, from the extension's own schema."""
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\n", encoding="utf-8")
    dsn = advised_server.dsn() + " options='-c search_path=public'"
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SHOW search_path").fetchone() == ("public",)
        assert conn.execute("SELECT to_regclass('pg_stat_statements')").fetchone() == (None,)
    result = cli("check", str(profile), "--dsn", dsn, "--format", "json", "--fail-on", "never")
    top = {c["name"]: c for c in json.loads(result.stdout)["checks"]}["top_queries"]
    assert top["status"] == "ok", top
    assert top["value"] == 5 and all(q["calls"] >= 1 for q in top["objects"])
