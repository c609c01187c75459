"""`advise --into` writes names from the catalog as data (issue 39, break 3): a column whose name is
YAML or SQL syntax — a comment that forges keys, a newline, mixed case, parentheses, a number — is
written so that the profile reads back as exactly the advised index on exactly that column; the
next plan creates those indexes and nothing else, apply builds them, and a re-plan is empty.
PostgreSQL 15 with pg_stat_statements and HypoPG."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from ruamel.yaml import YAML

from pgtune.advice.model import Advice, Report
from pgtune.advice.writeback import WriteRefused, verify, write_into
from pgtune.integrations.sandbox import LocalCluster
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
DB = "pgtune_test_into_names"
COLUMNS = {
    "w1": "id /*: absent, n_id_idx: absent, b*/",  # forged keys in a flow mapping
    "w2": "line\nbreak",
    "w3": "agentId",
    "w4": "abs(id)",
    "w5": "-1",
}
PROFILE = """\
# Reviewed in pull requests.
name: names
tables:
  public.w1: {indexes: {n_id_idx: {columns: [pad]}}}  # flow style, kept
  public.w2:
    storage: {fillfactor: 90}
"""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def names_db(workload15: LocalCluster) -> Iterator[str]:
    with workload15.connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'.encode())
        conn.execute(f'CREATE DATABASE "{DB}"'.encode())
    with psycopg.connect(workload15.dsn(DB), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("CREATE EXTENSION hypopg")
        for table, column in COLUMNS.items():
            conn.execute(
                f"CREATE TABLE public.{table} (id int PRIMARY KEY, {_q(column)} int, pad text);"
                f"INSERT INTO public.{table} SELECT g, g % 5000, 'x' FROM generate_series(1, 50000) g;"
                f"ANALYZE public.{table}".encode()
            )
        conn.execute("CREATE INDEX n_id_idx ON public.w1 (pad)")
        conn.execute("SELECT pg_stat_statements_reset()")
        for table, column in COLUMNS.items():
            for value in range(30):
                conn.execute(f"SELECT id FROM public.{table} WHERE {_q(column)} = %s".encode(), (value,))
    yield workload15.dsn(DB)
    with workload15.connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'.encode())


def _plan(cli: Cli, profile: Path, dsn: str) -> dict:  # type: ignore[type-arg]
    result = cli("plan", str(profile), "--dsn", dsn, "--format", "json")
    assert result.code == 0, result.stdout + result.stderr
    doc: dict = json.loads(result.stdout)  # type: ignore[type-arg]
    return doc


def test_names_from_the_catalog_are_written_as_data(names_db: str, cli: Cli, tmp_path: Path) -> None:
    profile = tmp_path / "names.yaml"
    profile.write_text(PROFILE, encoding="utf-8")
    into = cli("advise", str(profile), "--dsn", names_db, "--into", "--min-saving", "0", "--format", "json")
    assert into.code == 0, into.stdout + into.stderr
    advised = {a["object"]: a for a in json.loads(into.stdout)["advice"] if a["kind"] == "index"}
    assert set(advised) == {f"public.{t}" for t in COLUMNS}, advised
    assert {t: a["columns"] for t, a in advised.items()} == {f"public.{t}": [c] for t, c in COLUMNS.items()}
    for a in advised.values():  # a plain identifier, whatever the column is called
        assert a["name"].replace("_", "").isalnum() and a["name"].islower(), a["name"]

    text = profile.read_text(encoding="utf-8")
    for line in PROFILE.splitlines():
        if not line.startswith("  public.w1:"):
            assert line in text  # every other line and comment kept
    assert "# flow style, kept" in text and "{n_id_idx: {columns: [pad]}, " in text
    declared = YAML(typ="safe").load(text)["tables"]
    assert declared["public.w1"]["indexes"]["n_id_idx"] == {"columns": ["pad"]}  # not forged away
    for table, column in COLUMNS.items():
        (name,) = [n for n in declared[f"public.{table}"]["indexes"] if n != "n_id_idx"]
        assert declared[f"public.{table}"]["indexes"][name] == {"columns": [_q(column)]}, (table, name)

    plan = _plan(cli, profile, names_db)
    assert sorted((c["kind"], c["action"], c["object"]) for c in plan["changes"]) == sorted(
        [("index", "create", f"public.{a['name']}") for a in advised.values()] + [("storage", "update", "public.w2")]
    ), plan["changes"]
    applied = cli("apply", str(profile), "--dsn", names_db, "--yes")
    assert applied.code == 0, applied.stdout + applied.stderr
    with psycopg.connect(names_db) as conn:
        built = dict(
            conn.execute(
                "SELECT c.relname, a.attname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
                "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0] "
                "WHERE c.relname LIKE 'ix\\_%%'"
            ).fetchall()
        )
    assert built == {a["name"]: a["columns"][0] for a in advised.values()}
    assert _plan(cli, profile, names_db)["changes"] == []


def _advice(path: tuple[str, ...], value: object) -> Report:
    report = Report("db")
    evidence = {"queries": [], "saved_ms": 1.0, "write_penalty_ms": 0.0}
    report.advice.append(Advice("index", "public.t", "x", evidence, ((path, value),)))
    return report


def test_a_write_that_reads_back_differently_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(PROFILE, encoding="utf-8")
    before = profile.read_bytes()
    # What the old writer produced for a flow-style table: the name pasted as a key.
    forged = PROFILE.replace(
        "{indexes: {n_id_idx: {columns: [pad]}}}",
        "{indexes: {n_id_idx: {columns: [pad]}, ix_w1_id /*: absent, n_id_idx: absent, b*/: {columns: [a]}}}",
    )
    with pytest.raises(WriteRefused, match=r"would (not load back|change more than the advised entries)"):
        verify(profile, forged, [(("tables", "public.w1", "indexes", "ix_w1_id"), {"columns": ["a"]})])
    assert profile.read_bytes() == before
    # A name that is also a ${VAR}: doubled, it reads back as itself.
    report = _advice(("tables", "public.t", "indexes", "ix_t_path"), {"columns": ['"${HOME}"']})
    assert write_into(profile, report) == 1
    assert YAML(typ="safe").load(profile.read_text())["tables"]["public.t"]["indexes"]["ix_t_path"] == {
        "columns": ['"$${HOME}"']
    }
    # A value the profile refuses is refused before anything is written.
    written = profile.read_bytes()
    with pytest.raises(WriteRefused):
        write_into(profile, _advice(("tables", "public.t", "indexes", "ix_bad"), {"columns": []}))
    assert profile.read_bytes() == written
