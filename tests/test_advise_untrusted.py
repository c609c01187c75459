"""The workload is untrusted input (issue 39, breaks 1 and 2): a tenant who can create functions and
run statements must not get `pgtune advise` (run as a superuser) to execute their code with its
rights, nor hold it — and the locks it takes — for as long as they like.

Each planted variant reaches a tenant's IMMUTABLE plpgsql function from a statement the tenant ran:
called directly, behind a view, in a partial index's predicate (the relcache folds it for any
statement on the table), and as `now()` through a role search_path that puts the tenant's schema
before pg_catalog. Planning folds such a function; the function writes a file with lo_export when
it finds itself a superuser (the original break) and logs who it ran as. PostgreSQL 15 with
pg_stat_statements and HypoPG (Debian's packages)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from pgtune.integrations.sandbox import LocalCluster
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
TENANT = "pgtune_tenant"


@pytest.fixture(scope="module")
def server(workload15: LocalCluster) -> Iterator[LocalCluster]:
    with workload15.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {TENANT}")
        conn.execute(f"CREATE ROLE {TENANT} LOGIN")
    yield workload15


def _database(cluster: LocalCluster, name: str) -> str:
    with cluster.connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        conn.execute(f'CREATE DATABASE "{name}" OWNER {TENANT}'.encode())
    with cluster.connect(name) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("CREATE EXTENSION hypopg")
        conn.execute(f"CREATE SCHEMA app AUTHORIZATION {TENANT}".encode())
    return name


def _probe(variant: str, target: Path) -> str:
    """The tenant's function: logs who it ran as; as a superuser, writes `target` with lo_export."""
    return f"""
        CREATE FUNCTION app.probe() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
        BEGIN
            RAISE WARNING 'pgtune-probe {variant} ran as %', current_user;
            IF current_setting('is_superuser') = 'on' THEN
                PERFORM lo_export((SELECT min(oid) FROM pg_largeobject_metadata), '{target}');
            END IF;
            RETURN 1;
        END $f$;
    """


VARIANTS: dict[str, tuple[str, str]] = {
    # variant: (what the tenant plants beside app.t and app.probe(), the statement the tenant runs)
    "direct": ("", "SELECT * FROM app.t WHERE a = %s AND app.probe() = 1"),
    "view": (
        "CREATE VIEW app.v AS SELECT * FROM app.t WHERE app.probe() = 1",
        "SELECT * FROM app.v WHERE a = %s",
    ),
    "index predicate": (
        "CREATE INDEX t_b_probe ON app.t (b) WHERE app.probe() = 1",
        "SELECT * FROM app.t WHERE a = %s",
    ),
    "search_path": (
        "CREATE FUNCTION app.now() RETURNS timestamptz LANGUAGE sql IMMUTABLE "
        "AS 'SELECT pg_catalog.now() + app.probe() * interval ''0s''';"
        f"ALTER ROLE {TENANT} IN DATABASE CURRENT_DATABASE_NAME SET search_path = app, pg_catalog",
        "SELECT * FROM app.t WHERE a = %s AND at < now()",
    ),
}


def _plant(cluster: LocalCluster, db: str, variant: str, target: Path) -> None:
    setup, statement = VARIANTS[variant]
    with psycopg.connect(cluster.dsn(db, user=TENANT), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE app.t (a int, b int, at timestamptz DEFAULT now());"
            "INSERT INTO app.t (a, b) SELECT g % 1000, g FROM generate_series(1, 20000) g; ANALYZE app.t;"
            "SELECT lo_from_bytea(0, 'written by a tenant''s function');"
        )
        conn.execute(_probe(variant, target).encode())
        if setup:
            conn.execute(setup.replace("CURRENT_DATABASE_NAME", f'"{db}"').encode())
    with psycopg.connect(cluster.dsn(db), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
    with psycopg.connect(cluster.dsn(db, user=TENANT), autocommit=True) as conn:
        for a in range(20):
            conn.execute(statement, (a,))  # type: ignore[arg-type]


def _ran_as(cluster: LocalCluster, since: int, variant: str) -> set[str]:
    with cluster.log.open("rb") as fh:
        fh.seek(since)
        text = fh.read().decode(errors="replace")
    marker = f"pgtune-probe {variant} ran as "
    return {line.split(marker, 1)[1].strip() for line in text.splitlines() if marker in line}


def _advise(cli: Cli, cluster: LocalCluster, db: str, tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\n", encoding="utf-8")
    result = cli("advise", str(profile), "--dsn", cluster.dsn(db), "--format", "json", "--min-saving", "0", *args)
    assert result.code == 0, result.stdout + result.stderr
    doc: dict = json.loads(result.stdout)  # type: ignore[type-arg]
    return doc


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_planted_function_never_runs_with_the_advising_roles_rights(
    server: LocalCluster, cli: Cli, tmp_path: Path, variant: str
) -> None:
    db = _database(server, "pgtune_test_planted_" + variant.replace(" ", "_"))
    target = tmp_path / "written-as-postgres.txt"
    _plant(server, db, variant, target)
    position = server.log.stat().st_size

    doc = _advise(cli, server, db, tmp_path)
    assert not target.exists(), f"{variant}: the tenant's function ran as a superuser and wrote a file"
    assert "postgres" not in _ran_as(server, position, variant)
    coverage = doc["coverage"]
    assert coverage["workload_statements"] >= 1, coverage
    untrusted = [n for n in coverage["not_planned"] if n["reason"] == "untrusted"]
    assert untrusted and all("app." in n["detail"] and f"owned by {TENANT}" in n["detail"] for n in untrusted), doc
    assert coverage["planned"] == 0, coverage

    # Trusted on request, the statement is planned as the role that ran it: the function runs as the tenant.
    position = server.log.stat().st_size
    trusted = _advise(cli, server, db, tmp_path, "--trust-functions")
    assert not target.exists()
    assert _ran_as(server, position, variant) <= {TENANT}, _ran_as(server, position, variant)
    assert trusted["coverage"]["planned"] >= 1, trusted["coverage"]


def test_a_role_pgtune_may_not_become_is_refused_with_the_grant(server: LocalCluster, cli: Cli, tmp_path: Path) -> None:
    """An advising role that is not a superuser plans only as roles it may SET ROLE to."""
    db = _database(server, "pgtune_test_planted_roles")
    target = tmp_path / "never.txt"
    _plant(server, db, "direct", target)
    with server.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS pgtune_advisor")
        conn.execute("CREATE ROLE pgtune_advisor LOGIN IN ROLE pg_read_all_stats")
    try:
        profile = tmp_path / "p.yaml"
        profile.write_text("name: p\n", encoding="utf-8")
        dsn = server.dsn(db, user="pgtune_advisor")
        result = cli("advise", str(profile), "--dsn", dsn, "--format", "json", "--trust-functions")
        assert result.code == 0, result.stderr
        doc = json.loads(result.stdout)
        refused = [n for n in doc["coverage"]["not_planned"] if n["reason"] == "role"]
        assert refused and "GRANT pgtune_tenant TO pgtune_advisor" in refused[0]["detail"], doc["coverage"]
        assert doc["coverage"]["planned"] == 0
    finally:
        with server.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'.encode())
            conn.execute("DROP ROLE IF EXISTS pgtune_advisor")


SLOW = """
    CREATE FUNCTION app.slow() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
    BEGIN PERFORM pg_sleep(1); RETURN 1; END $f$;
"""


def test_planted_slow_statements_cannot_hold_advise_or_its_locks(
    server: LocalCluster, cli: Cli, tmp_path: Path
) -> None:
    """Five statements whose planning sleeps 1 s each: not planned by default; trusted, the overall
    deadline stops the run and says what it covered, and no lock is held between statements — a
    migration's ACCESS EXCLUSIVE lock is granted within one statement's planning time."""
    db = _database(server, "pgtune_test_planted_slow")
    with psycopg.connect(server.dsn(db, user=TENANT), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE app.t (a int, b int, c int, d int, e int);"
            "INSERT INTO app.t SELECT g, g, g, g, g FROM generate_series(1, 20000) g; ANALYZE app.t;"
        )
        conn.execute(SLOW)
    with psycopg.connect(server.dsn(db), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
    with psycopg.connect(server.dsn(db, user=TENANT), autocommit=True) as conn:
        for column in "abcde":
            conn.execute(f"SELECT * FROM app.t WHERE {column} = %s AND app.slow() = 1".encode(), (1,))

    started = time.monotonic()
    default = _advise(cli, server, db, tmp_path)
    assert time.monotonic() - started < 5, "untrusted statements must not be planned at all"
    assert sorted(n["reason"] for n in default["coverage"]["not_planned"]) == ["untrusted"] * 5

    granted: list[bool] = []

    def migrate() -> None:
        with psycopg.connect(server.dsn(db), autocommit=True) as conn:
            server_pid = None
            for _ in range(200):  # poll until advise is planning (its backend runs app.slow())
                row = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgtune' AND state = 'active' "
                    "AND wait_event = 'PgSleep'"
                ).fetchone()
                if row:
                    server_pid = row[0]
                    break
                time.sleep(0.05)
            assert server_pid is not None
            conn.execute("SET lock_timeout = '2500ms'")
            try:
                with conn.transaction():
                    conn.execute("LOCK TABLE app.t IN ACCESS EXCLUSIVE MODE")
                    granted.append(True)
            except psycopg.errors.LockNotAvailable:
                granted.append(False)

    migration = threading.Thread(target=migrate)
    migration.start()
    started = time.monotonic()
    trusted = _advise(cli, server, db, tmp_path, "--trust-functions", "--deadline", "3")
    elapsed = time.monotonic() - started
    migration.join()
    assert granted == [True], "advise held its locks across statements"
    coverage = trusted["coverage"]
    assert coverage["stopped"] and "deadline" in coverage["stopped"], coverage
    assert any(n["reason"] == "deadline" for n in coverage["not_planned"]), coverage
    assert elapsed < 3 + 5 + 5, f"advise ran {elapsed:.1f} s past a 3 s deadline"


def test_an_extensions_sql_functions_are_trusted_when_the_profile_says_so(
    server: LocalCluster, cli: Cli, tmp_path: Path
) -> None:
    """earthdistance's functions are SQL (not C): untrusted by default, planned once the profile lists
    the extension in trusted_extensions; cube's C functions are trusted as they are. The extensions'
    own views (pg_stat_statements') are never taken for the workload's tables."""
    db = _database(server, "pgtune_test_trusted_ext")
    with psycopg.connect(server.dsn(db), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION cube")
        conn.execute("CREATE EXTENSION earthdistance")
        conn.execute(
            "CREATE TABLE public.places (id int PRIMARY KEY, kind int, lat float8, lon float8);"
            "INSERT INTO public.places SELECT g, g % 500, g % 90, g % 180 FROM generate_series(1, 20000) g;"
            "ANALYZE public.places"
        )
        conn.execute("SELECT pg_stat_statements_reset()")
        for kind in range(20):
            conn.execute("SELECT earth() * lat FROM public.places WHERE kind = %s", (kind,)).fetchall()
            conn.execute("SELECT cube(lat) FROM public.places WHERE kind = %s", (kind,)).fetchall()
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\n", encoding="utf-8")
    doc = json.loads(cli("advise", str(profile), "--dsn", server.dsn(db), "--format", "json").stdout)
    untrusted = [n for n in doc["coverage"]["not_planned"] if n["reason"] == "untrusted"]
    assert len(untrusted) == 1 and "earth()" in untrusted[0]["detail"], doc["coverage"]
    assert doc["coverage"]["planned"] == 1  # cube(float8) is C: trusted without a word
    profile.write_text("name: p\ntrusted_extensions: [earthdistance]\n", encoding="utf-8")
    doc = json.loads(cli("advise", str(profile), "--dsn", server.dsn(db), "--format", "json").stdout)
    assert doc["coverage"]["workload_statements"] == doc["coverage"]["planned"] == 2, doc["coverage"]
    assert not doc["coverage"]["not_planned"]


def test_plan_impact_never_runs_a_planted_function(server: LocalCluster, cli: Cli, tmp_path: Path) -> None:
    """`plan --impact` plans the workload in the same lab as advise: a planted function is not planned."""
    db = _database(server, "pgtune_test_planted_impact")
    target = tmp_path / "written-as-postgres.txt"
    _plant(server, db, "direct", target)
    position = server.log.stat().st_size
    profile = tmp_path / "impact.yaml"
    profile.write_text("name: p\nsettings:\n  work_mem: 64MB\n  enable_seqscan: off\n", encoding="utf-8")
    result = cli("plan", str(profile), "--dsn", server.dsn(db), "--impact", "--format", "json")
    assert result.code == 0, result.stdout + result.stderr
    assert not target.exists() and "postgres" not in _ran_as(server, position, "direct")
    coverage = json.loads(result.stdout)["impact"]["coverage"]
    untrusted = [n for n in coverage["not_planned"] if n["reason"] == "untrusted"]
    assert untrusted and coverage["planned"] == 0, coverage
