"""Hiding data is gated like deleting it: a retention that would detach partitions holding rows
needs --allow-hazards HIDES_DATA, and a table pgtune detached comes back when the profile wants its
range again. Real PostgreSQL 15 and 16, the real CLI, the clock fixed by --as-of."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CliResult, Server

Cli = Callable[..., CliResult]
AS_OF = "2026-11-24"

SCHEMA = """
DROP TABLE IF EXISTS public.audit CASCADE;
CREATE TABLE public.audit (id bigint NOT NULL, at timestamptz NOT NULL, body text) PARTITION BY RANGE (at);
CREATE INDEX ix_audit_at ON public.audit (at);
"""

PROFILE = """
name: audit
tables:
  public.audit:
    partitioning: {{strategy: range, key: at, interval: 1 month, start: 2025-12-01, premake: 1,
                   retention: {retention}}}
"""


@pytest.fixture
def audit(pg: Server) -> Iterator[Server]:
    pg.sql(SCHEMA)
    for month in range(12):  # 2025-12 .. 2026-11, as pgtune names them
        year, mon = (2025, 12) if month == 0 else (2026, month)
        nxt = (2026, 1) if month == 0 else ((2026, month + 1) if month < 12 else (2027, 1))
        pg.sql(
            f"CREATE TABLE public.audit_p{year}_{mon:02d} PARTITION OF public.audit "
            f"FOR VALUES FROM ('{year}-{mon:02d}-01') TO ('{nxt[0]}-{nxt[1]:02d}-01')"
        )
    pg.sql(
        "INSERT INTO public.audit SELECT g, timestamptz '2025-12-01' + (g % 355) * interval '1 day', 'x' "
        "FROM generate_series(1, 7985) g"
    )
    yield pg
    pg.sql("DROP TABLE IF EXISTS public.audit CASCADE")
    for (name,) in pg.sql("SELECT relname FROM pg_class WHERE relname LIKE 'audit_p%' AND relkind = 'r'"):
        pg.sql(f'DROP TABLE IF EXISTS public."{name}"')


def _count(server: Server) -> int:
    return int(server.one("SELECT count(*) FROM public.audit"))  # type: ignore[arg-type]


def test_a_retention_typo_is_gated_and_fixing_it_reattaches(
    audit: Server, cli: Cli, write_profile: Callable[..., Path]
) -> None:
    typo = write_profile(PROFILE.format(retention="1 month"))
    fixed = write_profile(PROFILE.format(retention="12 months"), name="fixed.yaml")
    assert _count(audit) == 7985
    planned = cli("plan", str(typo), "--dsn", audit.dsn, "--as-of", AS_OF)
    assert planned.code == 0, planned.stderr
    assert "HIDES_DATA: Detaches public.audit_p2025_12 holding" in planned.stdout
    assert "Apply needs: --allow-hazards HIDES_DATA" in planned.stdout
    refused = cli("apply", str(typo), "--dsn", audit.dsn, "--as-of", AS_OF, "--yes")
    assert refused.code == 1 and "--allow-hazards HIDES_DATA" in refused.stderr
    assert _count(audit) == 7985  # the parent keeps its rows
    # Told to, pgtune hides them: the rows leave the parent, the tables stay.
    hidden = cli("apply", str(typo), "--dsn", audit.dsn, "--as-of", AS_OF, "--yes", "--allow-hazards", "HIDES_DATA")
    assert hidden.code == 0, hidden.stdout + hidden.stderr
    assert _count(audit) < 2000  # October and November stay
    assert audit.one("SELECT count(*) FROM public.audit_p2026_01") > 0  # kept, standalone
    # The fix plans re-attaches, not "No changes" and not new empty partitions.
    again = cli("plan", str(fixed), "--dsn", audit.dsn, "--as-of", AS_OF, "--format", "json")
    assert again.code == 0, again.stderr
    changes = json.loads(again.stdout)["changes"]
    attached = [c for c in changes if c["action"] == "create"]
    assert len(attached) == 10 and all(c["after"].get("reattach") for c in attached), changes
    applied = cli("apply", str(fixed), "--dsn", audit.dsn, "--as-of", AS_OF, "--yes")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert _count(audit) == 7985
    assert (
        audit.one("SELECT count(*) FROM pg_constraint WHERE conname = 'pgtune_partition_bound'") == 0
    )  # pgtune's marks are gone once attached
    empty = cli("plan", str(fixed), "--dsn", audit.dsn, "--as-of", AS_OF, "--detailed-exitcode")
    assert empty.code == 0, empty.stdout + empty.stderr


def test_detaching_empty_partitions_stays_ungated(audit: Server, cli: Cli, write_profile: Callable[..., Path]) -> None:
    audit.sql("TRUNCATE public.audit")
    typo = write_profile(PROFILE.format(retention="3 months"))
    applied = cli("apply", str(typo), "--dsn", audit.dsn, "--as-of", AS_OF, "--yes")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert "HIDES_DATA" not in applied.stdout
    assert cli("plan", str(typo), "--dsn", audit.dsn, "--as-of", AS_OF, "--detailed-exitcode").code == 0


def test_a_foreign_table_with_a_partitions_name_is_not_adopted(
    audit: Server, cli: Cli, write_profile: Callable[..., Path]
) -> None:
    audit.sql("DROP TABLE public.audit_p2026_05")
    audit.sql("CREATE TABLE public.audit_p2026_05 (id bigint, at timestamptz, body text)")
    profile = write_profile(PROFILE.format(retention="12 months"))
    result = cli("plan", str(profile), "--dsn", audit.dsn, "--as-of", AS_OF)
    assert result.code == 1
    assert "public.audit_p2026_05 already exists but is not a partition of public.audit" in result.stderr
