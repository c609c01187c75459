"""Every shipped profile plans and applies cleanly against its example schema and re-plans empty,
on PostgreSQL 15 and 16."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgtune.base.errors import ProfileError
from pgtune.kinds.engine import build_plan
from pgtune.plan.model import Plan
from pgtune.profile.loader import load_profile
from tests.conftest import REPO, Server

EXAMPLES = REPO / "examples" / "letta"
AS_OF = "2026-11-24"


@pytest.fixture
def letta_schema(letta_example: Server) -> Iterator[Server]:
    yield letta_example


NO_CONTRIB = ["settings.shared_preload_libraries=null"]
"""pgserver's PostgreSQL 16 is built without contrib: letta.yaml's pg_stat_statements is not there."""


def _plan(server: Server, profile: Path, overrides: list[str] | None = None) -> Plan:
    with psycopg.connect(server.dsn, autocommit=True, application_name="pgtune") as conn:
        return build_plan(conn, load_profile(profile, overrides or ()), AS_OF)


def _letta_overrides(server: Server, profile: Path) -> list[str]:
    """Where the server lacks pg_stat_statements the shipped profile is refused at plan, naming it;
    it then applies with the library list overridden (as a user of such a server would)."""
    if server.version != "16":
        return []
    with pytest.raises(ProfileError, match="library 'pg_stat_statements' is not installed on this server"):
        _plan(server, profile)
    return NO_CONTRIB


def _converges(server: Server, profile: Path, overrides: list[str] | None = None) -> Plan:
    first = _plan(server, profile, overrides)
    assert not first.empty
    server.apply(first)
    again = _plan(server, profile, overrides)
    assert again.changes == (), [f"{c.kind} {c.object}" for c in again.changes]
    # letta.yaml describes compose's PgBouncer without its admin DSN: the settings feed the capacity check only.
    said = {n.code for n in again.notices if (n.code, n.object) != ("NOT_MANAGED", "pgbouncer")}
    assert said <= {"RESTART_PENDING"}, said
    return first


def test_letta_profile(letta_schema: Server) -> None:
    profile = REPO / "profiles" / "letta.yaml"
    plan = _converges(letta_schema, profile, _letta_overrides(letta_schema, profile))
    objects = {c.object for c in plan.changes}
    assert {"letta.messages", "letta.runs", "letta.steps"} <= objects
    # Letta's own messages indexes are in the example schema already, as in a migrated database: no builds.
    assert not [c.object for c in plan.changes if c.kind == "index"]
    assert {c.code: c.status for c in plan.checks}["POOL_CAPACITY"] == "ok"
    options = letta_schema.one("SELECT reloptions FROM pg_class WHERE oid = 'letta.messages'::regclass")
    assert sorted(options) == [  # type: ignore[arg-type]
        "autovacuum_analyze_scale_factor=0.02",
        "autovacuum_vacuum_scale_factor=0.05",
        "autovacuum_vacuum_threshold=500",
    ]


def test_letta_partitioned_profile(letta_schema: Server) -> None:
    letta_schema.sql((EXAMPLES / "schema-partitioned.sql").read_text())  # a fresh install: no rows yet
    profile = REPO / "profiles" / "letta-partitioned.yaml"
    plan = _converges(letta_schema, profile, _letta_overrides(letta_schema, profile))
    created = sorted(c.object for c in plan.changes if c.kind == "partition" and c.action == "create")
    assert created == [
        "letta.messages_p2026_11",
        "letta.messages_p2026_12",
        "letta.messages_p2027_01",
        "letta.messages_p2027_02",
    ]
    leaves = letta_schema.one(
        "SELECT count(*) FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid "
        "WHERE i.inhparent = 'letta.ix_messages_agent_sequence'::regclass AND x.indisvalid"
    )
    assert leaves == 4  # Letta's indexes reached every partition


@pytest.mark.parametrize("name", ["web", "oltp", "dw", "mixed"])
def test_generic_workload_profiles(pg: Server, name: str) -> None:
    plan = _converges(pg, REPO / "profiles" / f"{name}.yaml")
    assert all(c.source == "workload" for c in plan.changes if c.kind == "setting")
    assert any(c.object == "shared_buffers" for c in plan.changes)


def test_every_letta_value_says_why() -> None:
    """letta.yaml is documentation as much as configuration: each value line carries a comment."""
    for path in (REPO / "profiles" / "letta.yaml", REPO / "profiles" / "letta-partitioned.yaml"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            text = line.strip()
            if not text or text.startswith("#") or text.endswith(":") or text.startswith(("name:", "description:")):
                continue
            if text.startswith(("extends:", "columns:", "where:")):
                continue  # an index's parts: its comment is on its name's line
            assert " # " in line, f"{path.name}:{number}: {line}"
