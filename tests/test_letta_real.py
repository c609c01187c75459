"""Letta for real: the example schema is Letta's catalog (column for column, index for index, as a
database built by Letta's own migrations prints it: tests/fixtures/letta_catalog.json); the seed
fills it; the partitioned variant never loses data; the shipped profile survives a restart."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from pgtune.base.errors import ProfileError
from pgtune.integrations.sandbox import LocalCluster
from pgtune.kinds.engine import build_plan
from pgtune.profile.loader import load_profile
from pgtune.targets.executor import ExecOptions, execute
from tests.conftest import FIXTURES, REPO, CliResult, Server, _bindir, letta_schema

CATALOG = json.loads((FIXTURES / "letta_catalog.json").read_text(encoding="utf-8"))["tables"]
EXAMPLES = REPO / "examples" / "letta"
CHECKED = [
    "messages",
    "runs",
    "steps",
    "agents",
    "organizations",
    "agents_tags",
    "conversations",
    "conversation_messages",
]

COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""


def _bare(text: str | None) -> str | None:
    """Names as a session with `letta` on its search_path prints them (the reference was read so)."""
    return None if text is None else re.sub(r"\bletta\.", "", text)


def catalog_of(conn: psycopg.Connection, table: str) -> dict:
    conn.execute("SET search_path = public")
    columns = [
        {"name": n, "type": _bare(t), "not_null": nn, "default": _bare(d)}
        for n, t, nn, d in conn.execute(COLUMNS_SQL, (f"letta.{table}",)).fetchall()
    ]
    indexes = sorted(
        _bare(row[0])  # type: ignore[misc]
        for row in conn.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass", (f"letta.{table}",)
        ).fetchall()
    )
    constraints = dict(
        conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
            " AND contype <> 'n'",  # 18 records NOT NULL here too: the columns' not_null compares those
            (f"letta.{table}",),
        ).fetchall()
    )
    return {"columns": columns, "indexes": indexes, "constraints": {k: _bare(v) for k, v in constraints.items()}}


def constraint_gaps(found: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    """Each constraint that is missing, extra or defined otherwise, with what is wrong with it."""
    gaps = {n: f"missing: {d}" for n, d in wanted.items() if n not in found}
    gaps |= {n: f"not in Letta: {d}" for n, d in found.items() if n not in wanted}
    gaps |= {n: f"{found[n]} where Letta has {d}" for n, d in wanted.items() if n in found and found[n] != d}
    return gaps


def _wanted_constraints(table: str) -> dict[str, str]:
    return {n: _bare(d) for n, d in CATALOG[table]["constraints"].items()}  # type: ignore[misc]


@pytest.mark.parametrize("table", CHECKED)
def test_the_example_schema_is_lettas_catalog(letta_example: Server, table: str) -> None:
    with psycopg.connect(letta_example.dsn, autocommit=True) as conn:
        found = catalog_of(conn, table)
    wanted = CATALOG[table]
    assert found["columns"] == [{**c, "type": _bare(c["type"])} for c in wanted["columns"]]
    assert found["indexes"] == sorted(_bare(i) for i in wanted["indexes"])
    assert wanted["constraints"], "the fixture records this table's constraints"
    assert constraint_gaps(found["constraints"], _wanted_constraints(table)) == {}
    # Letta's search_path (`letta` alone), set on the database as Letta deploys it; pgvector in `letta`
    search_path = letta_example.one(
        "SELECT setconfig FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database "
        "WHERE datname = current_database()) AND setrole = 0"
    )
    assert search_path == ["search_path=letta"]
    vector = letta_example.one("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'vector'")
    assert vector in ("letta", None)  # None: this server's build has no pgvector


def _without_constraint(schema: str, name: str) -> str:
    """schema.sql with the constraint `name` taken out, wherever it is declared (inline or ALTER TABLE)."""
    lines = schema.splitlines()
    at = [i for i, line in enumerate(lines) if re.search(rf"\bCONSTRAINT {re.escape(name)} ", line)]
    assert len(at) == 1, name
    (i,) = at
    if lines[i].lstrip().startswith("CONSTRAINT") and not lines[i].rstrip().endswith(","):
        lines[i - 1] = lines[i - 1].rstrip().removesuffix(",")  # it was the table's last element
    del lines[i]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("table", "name"),
    [
        ("conversations", "conversations_agent_id_fkey"),
        ("agents_tags", "agents_tags_agent_id_fkey"),
        ("conversation_messages", "unique_conversation_message"),
    ],
)
def test_a_constraint_missing_from_the_example_schema_is_caught(pg16: Server, table: str, name: str) -> None:
    schema = (EXAMPLES / "schema.sql").read_text(encoding="utf-8")
    with letta_schema(pg16) as server:
        server.sql(_without_constraint(schema, name))
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            found = catalog_of(conn, table)
    assert constraint_gaps(found["constraints"], _wanted_constraints(table)) == {
        name: f"missing: {_wanted_constraints(table)[name]}"
    }


def _seed(server: Server | str, messages: int = 3000) -> None:
    dsn = server if isinstance(server, str) else server.dsn
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "seed.py"), "--dsn", dsn, "--messages", str(messages), "--agents", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _counts(server: Server) -> dict[str, int]:
    return {t: int(server.one(f"SELECT count(*) FROM letta.{t}")) for t in CHECKED}  # type: ignore[arg-type]


def test_partitioning_refuses_a_database_with_data_and_changes_nothing(letta_example: Server) -> None:
    _seed(letta_example)
    before_counts = _counts(letta_example)
    with psycopg.connect(letta_example.dsn, autocommit=True) as conn:
        before = {t: catalog_of(conn, t) for t in ["messages", "conversation_messages"]}
    with pytest.raises(psycopg.errors.RaiseException, match=r"letta\.messages holds rows; this file is for fresh"):
        letta_example.sql((EXAMPLES / "schema-partitioned.sql").read_text())
    assert _counts(letta_example) == before_counts and before_counts["messages"] == 3000
    with psycopg.connect(letta_example.dsn, autocommit=True) as conn:
        assert {t: catalog_of(conn, t) for t in ["messages", "conversation_messages"]} == before


def test_partitioning_a_letta_migrated_database_is_refused(letta_example: Server) -> None:
    letta_example.sql("CREATE TABLE letta.alembic_version (version_num varchar(32) NOT NULL)")
    with pytest.raises(psycopg.errors.RaiseException, match="built by Letta's migrations"):
        letta_example.sql((EXAMPLES / "schema-partitioned.sql").read_text())
    assert letta_example.one("SELECT relkind FROM pg_class WHERE oid = 'letta.messages'::regclass") == "r"


def test_a_fresh_install_is_partitioned_keeping_every_column_index_and_foreign_key(letta_example: Server) -> None:
    letta_example.sql((EXAMPLES / "schema-partitioned.sql").read_text())
    with psycopg.connect(letta_example.dsn, autocommit=True) as conn:
        found = catalog_of(conn, "messages")
        kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = 'letta.messages'::regclass").fetchone()
    assert kind == ("p",)
    wanted = CATALOG["messages"]
    expected_columns = [
        {**c, "not_null": True, "default": "now()"} if c["name"] == "created_at" else c for c in wanted["columns"]
    ]
    assert found["columns"] == expected_columns  # every column, in order; created_at now set
    names = {re.search(r"INDEX (\S+) ON", i).group(1) for i in found["indexes"]}  # type: ignore[union-attr]
    assert names == {re.search(r"INDEX (\S+) ON", i).group(1) for i in wanted["indexes"]}  # type: ignore[union-attr]
    assert found["constraints"]["messages_pkey"] == "PRIMARY KEY (id, created_at)"
    foreign = {k for k, v in wanted["constraints"].items() if v.startswith("FOREIGN KEY")}
    assert foreign <= set(found["constraints"])
    # The one thing lost, by necessity and documented: nothing unique on id alone for it to reference.
    with psycopg.connect(letta_example.dsn, autocommit=True) as conn:
        assert "conversation_messages_message_id_fkey" not in catalog_of(conn, "conversation_messages")["constraints"]


@pytest.fixture(params=["15", "16", "18"])
def fresh_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, LocalCluster]]:
    """A throwaway cluster of its own: the shipped profile is applied and the server restarted."""
    cluster = LocalCluster(_bindir(request.param))
    try:
        cluster.init().start()
        yield request.param, cluster
    finally:
        cluster.destroy()


def test_the_shipped_letta_profile_survives_a_restart(fresh_server: tuple[str, LocalCluster]) -> None:
    version, cluster = fresh_server
    cluster.load_sql_file(EXAMPLES / "schema.sql")
    subprocess.run(
        [sys.executable, str(EXAMPLES / "seed.py"), "--dsn", cluster.dsn(), "--messages", "2000", "--agents", "10"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    profile = REPO / "profiles" / "letta.yaml"
    overrides: list[str] = []
    if version == "16":  # pgserver's build has no contrib: the profile is refused, as a restart would fail
        with cluster.connect() as conn, pytest.raises(ProfileError, match="pg_stat_statements' is not installed"):
            build_plan(conn, load_profile(profile))
        overrides = ["settings.shared_preload_libraries=null"]
    loaded = load_profile(profile, overrides)
    with cluster.connect() as conn:
        plan = build_plan(conn, loaded)
        assert plan.restart_required
        report = execute(plan, conn, ExecOptions())
    assert not report.failed, [o.error for o in report.outcomes if o.error]
    cluster.restart()  # the server comes up with every pending setting
    with cluster.connect() as conn:
        shown = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('max_connections', 'autovacuum_max_workers', 'shared_preload_libraries', 'track_io_timing')"
            ).fetchall()
        )
        assert not conn.execute("SELECT count(*) FROM pg_settings WHERE pending_restart").fetchone()[0]  # type: ignore[index]
        again = build_plan(conn, loaded)
    assert (shown["max_connections"], shown["autovacuum_max_workers"], shown["track_io_timing"]) == ("200", "5", "on")
    assert shown["shared_preload_libraries"] == ("" if version == "16" else "pg_stat_statements")
    assert again.empty, [f"{c.kind} {c.object}" for c in again.changes]
    assert not [n for n in again.notices if n.code == "RESTART_PENDING"]


@pytest.fixture
def quiet_letta(pg: Server) -> Iterator[Server]:
    """A database of its own (no other session's rollbacks), built as examples/letta says and seeded."""
    name = "pgtune_test_quiet_letta"
    pg.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg.sql(f'CREATE DATABASE "{name}"')
    server = Server(pg.version, pg.cluster)
    dsn = pg.cluster.dsn(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((EXAMPLES / "schema.sql").read_text(encoding="utf-8").encode())
    subprocess.run(
        [sys.executable, str(EXAMPLES / "seed.py"), "--dsn", dsn, "--messages", "3000", "--agents", "20"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server.quiet_dsn = dsn  # type: ignore[attr-defined]
    yield server
    pg.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _xacts(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_check_judges_a_quiet_letta_database_like_a_careful_dba(
    quiet_letta: Server, cli: Callable[..., CliResult], write_profile: Callable[..., Path]
) -> None:
    dsn = quiet_letta.quiet_dsn  # type: ignore[attr-defined]
    letta = REPO / "profiles" / "letta.yaml"
    overrides = ["--set", "settings.shared_preload_libraries=null"] if quiet_letta.version == "16" else []
    commits, rollbacks = _xacts(dsn)
    for _ in range(2):
        assert cli("check", str(letta), "--dsn", dsn, "--format", "json", "--fail-on", "never").code == 0
        assert cli("plan", str(letta), "--dsn", dsn, *overrides).code == 0, "plan"
    deadline = time.monotonic() + 30
    while _xacts(dsn)[0] < commits + 4 and time.monotonic() < deadline:  # statistics reach the view asynchronously
        time.sleep(0.1)
    assert _xacts(dsn)[0] >= commits + 4  # pgtune's transactions were counted ...
    assert _xacts(dsn)[1] == rollbacks  # ... and none of them as a rollback
    result = cli("check", str(letta), "--dsn", dsn, "--format", "json", "--fail-on", "never")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["rollback_ratio"]["status"] in ("ok", "skipped")  # skipped: too few transactions to judge
    assert checks["rollback_ratio"]["value"] in (0, None)
    assert checks["unused_indexes"]["status"] == "skipped"  # minutes of statistics: not judged
    assert "not judged" in checks["unused_indexes"]["detail"]
    duplicates = checks["duplicate_indexes"]
    assert duplicates["status"] == "warn"
    assert duplicates["objects"][0]["indexes"] == (
        "letta.unique_agent_tag (constraint unique_agent_tag), letta.ix_agents_tags_agent_id_tag"
    )
    # Letta's migrations own both (owned_by: letta-migrations): found, but never suggested for dropping.
    assert duplicates["objects"][0]["drop"] == []
    assert duplicates["objects"][0]["owned"] == [
        "letta.ix_agents_tags_agent_id_tag is owned by letta-migrations: change it in a new Alembic revision in "
        "Letta (letta/alembic/versions), upstream"
    ]
    assert "declare absent" not in duplicates["suggestion"] and "letta-migrations" in duplicates["suggestion"]
    # Judged anyway (min_age 0): Letta's indexes the profile declares are never suggested for removal.
    judged = write_profile(
        f"name: judged\nextends: [{letta}]\nchecks: {{unused_indexes: {{min_size: 0, min_age: 0s}}}}\n"
    )
    checks = {
        c["name"]: c
        for c in json.loads(cli("check", str(judged), "--dsn", dsn, "--format", "json", "--fail-on", "never").stdout)[
            "checks"
        ]
    }
    unused = checks["unused_indexes"]
    flagged = {o["index"] for o in unused["objects"]}
    # Flagged, but as Letta's: the suggestion sends them to its migrations, never to `absent`.
    assert all(o["owned"] and "letta-migrations" in o["owned"] for o in unused["objects"])
    assert unused["suggestion"] is None or "absent" not in unused["suggestion"]
    assert flagged and not flagged & {
        f"letta.{n}"
        for n in (
            "ix_messages_agent_created_at",
            "ix_messages_created_at",
            "ix_messages_agent_sequence",
            "ix_messages_run_sequence",
            "ix_messages_org_agent",
        )
    }


JUDGED = (
    "name: judged\nchecks: {index_bloat: {min_size: 0}, table_bloat: {min_size: 0}, fk_without_index: {min_size: 0}}\n"
)


def _checks(cli: Callable[..., CliResult], profile: Path, dsn: str) -> dict[str, dict]:
    result = cli("check", str(profile), "--dsn", dsn, "--format", "json", "--fail-on", "never")
    assert result.code == 0, result.stderr
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}


def test_check_on_a_freshly_seeded_letta_database_then_on_one_with_history(
    pg16: Server, cli: Callable[..., CliResult], write_profile: Callable[..., Path]
) -> None:
    """Young: 50,000 messages on Letta's indexes (random text keys, split in the middle) raise no
    CRITICAL, no recency warning, no index for a key whose referenced rows are never deleted. With
    history provoked — organizations deleted, every message updated twice — each finding appears."""
    name = "pgtune_test_letta_judged"
    pg16.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg16.sql(f'CREATE DATABASE "{name}"')
    dsn = pg16.cluster.dsn(name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute((EXAMPLES / "schema.sql").read_text(encoding="utf-8").encode())
        _seed(dsn, 50_000)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("ANALYZE")
        young = _checks(cli, write_profile(JUDGED), dsn)
        assert not [n for n, c in young.items() if c["status"] == "critical"], young
        recency = young["autovacuum_recency"]
        assert recency["status"] == "skipped" and recency["detail"].startswith("not judged: "), recency
        bloat = young["index_bloat"]
        assert bloat["status"] == "ok", bloat
        judged = {o["index"]: o for o in bloat["objects"] if not o["unreliable"]}
        assert judged["letta.pk_steps_id"]["written"] == "out of order" and judged["letta.pk_steps_id"]["indistinct"]
        fk = young["fk_without_index"]
        assert fk["status"] == "ok" and fk["suggestion"] is None, fk
        to_orgs = [o for o in fk["objects"] if o["referenced"] == "letta.organizations"]
        assert to_orgs and all(not o["verdict"].startswith("needed") for o in to_orgs)

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO letta.organizations (id, name, privileged_tools) "
                "SELECT 'org-gone-' || g, 'gone', false FROM generate_series(1, 100) g"
            )
            conn.execute("DELETE FROM letta.organizations WHERE id LIKE 'org-gone-%'")
            for _ in range(2):  # non-HOT: updated_at is indexed
                conn.execute("UPDATE letta.messages SET updated_at = now() - random() * interval '1 day'")
            conn.execute("VACUUM ANALYZE letta.messages")
        assert pg16.wait_for(
            "SELECT n_tup_del >= 100 FROM pg_stat_user_tables WHERE relid = 'letta.organizations'::regclass",
            dbname=name,
        )
        history = write_profile(
            JUDGED.replace(
                "fk_without_index: {min_size: 0}",
                "fk_without_index: {min_size: 0, min_age: 0s}, autovacuum_recency: {warn: 1s}",
            ),
            name="history.yaml",
        )
        later = _checks(cli, history, dsn)
        fk = later["fk_without_index"]
        assert fk["status"] == "warn", fk
        needed = [o for o in fk["objects"] if o["verdict"].startswith("needed")]
        assert [(o["table"], o["referenced"], o["referenced_deletes"]) for o in needed] == [
            ("letta.steps", "letta.organizations", 100)
        ]
        assert fk["suggestion"].startswith("tables: {letta.steps: {indexes: {ix_steps_organization_id: ")
        bloated = {o["index"]: o for o in later["index_bloat"]["objects"]}
        assert later["index_bloat"]["status"] in ("warn", "critical"), later["index_bloat"]
        assert bloated["letta.uq_messages_sequence_id"]["written"] == "in order"
        assert bloated["letta.uq_messages_sequence_id"]["bloat"] >= 0.4
        assert later["autovacuum_recency"]["status"] == "warn"  # a threshold the statistics have outlived
    finally:
        pg16.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_partitioned_fresh_install_converges_and_its_seed_fills_it(
    letta_example: Server, cli: Callable[..., CliResult]
) -> None:
    """Fresh install -> apply the partitioned profile -> seed -> re-plan empty: the examples work together
    (the seed's history stays within the partitions the profile keeps)."""
    letta_example.sql((EXAMPLES / "schema-partitioned.sql").read_text())
    profile = REPO / "profiles" / "letta-partitioned.yaml"
    overrides = ["--set", "settings.shared_preload_libraries=null"] if letta_example.version == "16" else []
    applied = cli("apply", str(profile), "--dsn", letta_example.dsn, "--yes", *overrides)
    assert applied.code == 0, applied.stdout[-2000:] + applied.stderr[-2000:]
    _seed(letta_example, 3000)
    assert letta_example.one("SELECT count(*) FROM letta.messages") == 3000
    spread = letta_example.one("SELECT count(DISTINCT tableoid) FROM letta.messages")
    assert spread >= 1  # type: ignore[operator]
    again = cli("plan", str(profile), "--dsn", letta_example.dsn, "--format", "json", *overrides)
    assert again.code == 0, again.stderr
    changes = json.loads(again.stdout)["changes"]
    assert changes == [], [(c["kind"], c["object"], c["action"]) for c in changes]
