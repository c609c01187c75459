"""Adopting what runs: `pgtune inspect` round-trips to an empty plan; `--into` edits values in place."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from pgtune.base.errors import Location
from pgtune.profile.edit import replace_values, value_spans, yaml_text
from pgtune.profile.source import parse_value
from tests.conftest import TEST_PREFIX, CliResult, Server

Cli = Callable[..., CliResult]

BUSY = f"""
ALTER TABLE letta.messages SET (fillfactor = 85, autovacuum_vacuum_scale_factor = 0.02, toast.autovacuum_enabled = off);
ALTER TABLE letta.runs SET (autovacuum_analyze_threshold = 500);
CREATE INDEX ix_messages_err ON letta.messages (agent_id, created_at DESC) WHERE is_err = true;
CREATE INDEX ix_messages_lower_text ON letta.messages (lower(text::text)) INCLUDE (role);
CREATE INDEX ix_messages_content ON letta.messages USING hash (conversation_id) WITH (fillfactor = 80);
CREATE UNIQUE INDEX ix_steps_run_status ON letta.steps (run_id, status) NULLS NOT DISTINCT;
CREATE INDEX ix_messages_by_month_agent ON letta.messages_by_month (agent_id, created_at);
CREATE TABLE letta.messages_by_month_p2026_12 PARTITION OF letta.messages_by_month
    FOR VALUES FROM ('2026-12-01') TO ('2027-01-01');
CREATE TABLE letta.tenants (org text NOT NULL, payload text) PARTITION BY LIST (org);
CREATE TABLE letta.tenants_acme PARTITION OF letta.tenants FOR VALUES IN ('acme', 'acme-eu');
CREATE TABLE letta.tenants_default PARTITION OF letta.tenants DEFAULT;
CREATE ROLE {TEST_PREFIX}app;
ALTER ROLE {TEST_PREFIX}app SET statement_timeout = '30s';
ALTER ROLE {TEST_PREFIX}app SET search_path = "$user", letta;
ALTER DATABASE postgres SET work_mem = '32MB';
"""
SYSTEM = (
    "ALTER SYSTEM SET random_page_cost = 1.1",
    "ALTER SYSTEM SET log_min_duration_statement = '250ms'",
    "ALTER SYSTEM SET shared_preload_libraries = 'plpgsql'",  # in every build (pgserver's has no contrib)
    "SELECT pg_reload_conf()",
)


@pytest.fixture
def busy(letta_tables: Server) -> Iterator[Server]:
    letta_tables.sql(BUSY)
    for statement in SYSTEM:
        letta_tables.sql(statement)
    yield letta_tables


def test_an_adopted_profile_plans_no_changes(busy: Server, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "adopted.yaml"
    result = cli(
        "inspect",
        "--dsn",
        busy.dsn,
        "--tables",
        "letta.*",
        "--name",
        "prod",
        "--out",
        str(out),
        "--as-of",
        "2026-11-24",
    )
    assert result.code == 0, result.stderr
    assert "still shows" not in result.stderr, result.stderr
    doc = YAML(typ="safe").load(out.read_text())
    assert doc["name"] == "prod"
    assert doc["settings"]["random_page_cost"] == 1.1
    assert doc["settings"]["log_min_duration_statement"] == "250ms"
    assert doc["settings"]["shared_preload_libraries"] == ["plpgsql"]  # pending restart: the file's
    assert "port" not in doc["settings"] and "listen_addresses" not in doc["settings"]
    assert doc["databases"]["postgres"]["settings"] == {"work_mem": "32MB"}
    assert doc["roles"][f"{TEST_PREFIX}app"]["settings"] == {
        "statement_timeout": "30s",
        "search_path": '"$$user", letta',
    }
    messages = doc["tables"]["letta.messages"]
    assert messages["storage"] == {
        "autovacuum_vacuum_scale_factor": 0.02,
        "fillfactor": 85,
        "toast.autovacuum_enabled": "off",
    }
    assert messages["indexes"]["ix_messages_err"] == {
        "columns": ["agent_id", "created_at DESC"],
        "where": "is_err = TRUE",
    }
    assert messages["indexes"]["ix_messages_lower_text"]["include"] == ["role"]
    assert messages["indexes"]["ix_messages_content"] == {
        "columns": ["conversation_id"],
        "method": "hash",
        "with": {"fillfactor": 80},
    }
    assert "uq_messages_sequence_id" not in messages["indexes"]  # backs a constraint: not adopted
    assert doc["tables"]["letta.steps"]["indexes"]["ix_steps_run_status"]["nulls_not_distinct"] is True
    assert doc["tables"]["letta.messages_by_month"]["partitioning"] == {
        "strategy": "range",
        "key": "created_at",
        "interval": "1 month",
        "start": "2026-10-01",
        "premake": 1,
        "default_partition": True,
    }
    assert doc["tables"]["letta.tenants"]["partitioning"] == {
        "strategy": "list",
        "key": "org",
        "partitions": {"tenants_acme": ["acme", "acme-eu"]},
        "default_partition": True,
    }
    planned = cli("plan", str(out), "--dsn", busy.dsn, "--as-of", "2026-11-24", "--detailed-exitcode")
    assert planned.code == 0, planned.stdout + planned.stderr
    assert "No changes." in planned.stdout


def test_inspect_reports_what_it_cannot_adopt(busy: Server, cli: Cli) -> None:
    busy.sql(
        "CREATE TABLE letta.odd (id bigint, at date NOT NULL) PARTITION BY RANGE (at);"
        "CREATE TABLE letta.odd_a PARTITION OF letta.odd FOR VALUES FROM ('2026-01-01') TO ('2026-01-11');"
        "CREATE TABLE letta.odd_b PARTITION OF letta.odd FOR VALUES FROM ('2026-01-11') TO ('2026-02-01');"
    )
    result = cli("inspect", "--dsn", busy.dsn, "--tables", "letta.odd", "--settings", "none")
    assert result.code == 0
    assert "letta.odd: its partitions do not share one supported interval; partitioning not adopted" in result.stderr


PROFILE = """\
# yaml-language-server: $schema=../schema/pgtune-profile.schema.json
# Production tuning — reviewed by the DBA team.
name: prod
extends: base.yaml
settings:
  random_page_cost: 4          # spinning disks, once
  work_mem: ${WORK_MEM:-2MB}   # per environment
databases:
  postgres: {settings: {work_mem: 8MB}}
tables:
  letta.messages:
    storage:
      fillfactor: 90           # hot updates
      autovacuum_vacuum_scale_factor: 0.02
    indexes:
      ix_messages_err:
        columns: [agent_id]
        where: is_err
      ix_messages_gone: {columns: [role]}
      ix_messages_created_at: {columns: [created_at, id]}

# end of file
"""


def test_into_pulls_live_values_and_keeps_every_other_byte(busy: Server, cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("name: base\nsettings:\n  log_min_duration_statement: 1s\n")
    path = tmp_path / "prod.yaml"
    path.write_text(PROFILE)
    result = cli("inspect", "--dsn", busy.dsn, "--into", str(path))
    assert result.code == 0, result.stderr
    text = path.read_text()
    assert text == PROFILE.replace("random_page_cost: 4          #", "random_page_cost: 1.1          #").replace(
        "postgres: {settings: {work_mem: 8MB}}", "postgres: {settings: {work_mem: 32MB}}"
    ).replace("fillfactor: 90           #", "fillfactor: 85           #").replace(
        "      ix_messages_err:\n        columns: [agent_id]\n        where: is_err\n",
        "      ix_messages_err:\n        {columns: [agent_id, created_at DESC], where: is_err = TRUE}\n",
    ).replace("ix_messages_gone: {columns: [role]}", "ix_messages_gone: absent")
    assert "log_min_duration_statement: left as is (set in a file this profile extends)" in result.stderr
    assert "settings.work_mem: left as is (set through ${...} interpolation)" in result.stderr
    assert "Updated " in result.stderr and ": 5 value(s) now match the server." in result.stderr
    again = cli("plan", str(path), "--dsn", busy.dsn, "--format", "json")
    remaining = [c["object"] for c in json.loads(again.stdout)["changes"]]
    assert remaining == ["log_min_duration_statement", "work_mem"]  # the two values left as they were


def test_value_spans_and_rendering_round_trip() -> None:
    text = "a: 1\nb: {c: [x, 'y z'], d: ~}\ne:\n  - f\n  - g: h\n"
    spans = value_spans(text)
    assert text[spans[("b", "c", 1)].start : spans[("b", "c", 1)].end] == "'y z'"
    assert text[spans[("e",)].start : spans[("e",)].end] == "- f\n  - g: h"
    for value in (
        "off",
        "1.1",
        "a: b",
        "it's",
        "  padded ",
        "",
        "null",
        "$$x",
        "is_err = true",
        "created_at DESC",
        "lower((text)::text)",
        "x: y",
        "a, b",
        "#c",
    ):
        rendered = yaml_text(value)
        assert parse_value(rendered, Location("t", 1, 1)) == value, rendered
    assert replace_values(text, {("a",): "2", ("b", "d"): ["p", "q"]}) == (
        "a: 2\nb: {c: [x, 'y z'], d: [p, q]}\ne:\n  - f\n  - g: h\n"
    )


def test_inspect_adopts_tables_whose_names_need_quoting(
    pg: Server, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    names = ['"MixedCase"', '"ünï"', '"we""ird; sch"']
    pg.sql("CREATE SCHEMA pgtune_test_q")
    try:
        for n in names:
            pg.sql(f"CREATE TABLE pgtune_test_q.{n} (id int, v int) WITH (fillfactor = 80)")
            pg.sql(f"CREATE INDEX ON pgtune_test_q.{n} (v)")
        out = tmp_path / "adopted.yaml"
        result = cli("inspect", "--dsn", pg.dsn, "--tables", "pgtune_test_q.*", "--settings", "none", "--out", str(out))
        assert result.code == 0, result.stderr
        assert "still shows" not in result.stderr and "not adopted" not in result.stderr, result.stderr
        text = out.read_text()
        for key in ('pgtune_test_q."MixedCase"', 'pgtune_test_q."ünï"', 'pgtune_test_q."we""ird; sch"'):
            assert key in text, text
        again = cli("plan", str(out), "--dsn", pg.dsn, "--detailed-exitcode")
        assert again.code == 0, again.stdout + again.stderr
    finally:
        pg.sql("DROP SCHEMA pgtune_test_q CASCADE")


def test_inspect_points_editors_at_the_shipped_schema(pg: Server, cli: Callable[..., CliResult]) -> None:
    from tests.conftest import REPO

    out = REPO / "profiles" / "pgtune-test-adopted.yaml"
    try:
        result = cli("inspect", "--dsn", pg.dsn, "--settings", "none", "--out", str(out))
        assert result.code == 0, result.stderr
        assert out.read_text().startswith("# yaml-language-server: $schema=../schema/pgtune-profile.schema.json\n")
    finally:
        out.unlink(missing_ok=True)
