"""Adopt what runs: read the live state into a profile (`pgtune inspect`).

Each kind exports its own part (`Kind.export`), reading through the same catalog code it plans
with and rendering values the way it compares them, so planning the adopted profile against the
same server yields no changes.
It then proves it: the adopted profile is planned, and anything that would still change is
reported, never silently dropped.

What it writes:
- settings whose value comes from a configuration file (`--settings changed`, the default) or
  every settable one (`all`), minus the host's identity (paths, ports, locale: `HOST_SETTINGS`);
  the value is what the files make the server run, pending restarts included;
- per-database and per-role settings;
- for tables matching `--tables` globs: storage parameters (those every leaf shares, for a
  partitioned table), indexes that do not back a constraint, and partitioning (strategy, key,
  interval inferred from the partitions' bounds, start, premake, naming, default, list values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import psycopg
from ruamel.yaml.comments import CommentedMap

from pgtune.base.identifiers import qualified_text
from pgtune.kinds import ExportOptions, PlanContext, engine, tables
from pgtune.profile.edit import dump_document, yaml_number
from pgtune.profile.loader import LoadedProfile
from pgtune.profile.model import Profile, TableSpec
from pgtune.profile.source import PositionIndex


@dataclass
class Inspection:
    document: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _escape(value: Any) -> Any:
    """Profiles interpolate ${VAR}: a literal $ is written $$ (in every value, never in keys)."""
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, str):
        return value.replace("$", "$$")
    return value


def _matching_tables(conn: psycopg.Connection, patterns: list[str]) -> list[str]:
    rows = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' "
        "ORDER BY 1, 2"
    ).fetchall()
    # Globs match the names as stored ("MixedCase".t is MixedCase.t); keys are written as the
    # profile format reads them: parts that need it double-quoted.
    return [qualified_text(s, t) for s, t in rows if any(fnmatchcase(f"{s}.{t}", p) for p in patterns)]


def _tables(ctx: PlanContext, patterns: list[str], warnings: list[str]) -> None:
    """Resolve the tables matching the globs into ctx.tables, as a profile declaring them would."""
    names = _matching_tables(ctx.conn, patterns)
    if not names:
        return
    stub = LoadedProfile(Profile(name="inspect", tables={n: TableSpec() for n in names}), PositionIndex(), "<inspect>")
    resolved, problems = tables.resolve(ctx.conn, stub)
    for problem in problems:  # never silently incomplete
        warnings.append(f"not adopted: {problem.message}")
    ctx.tables.update((n, resolved[n]) for n in names if n in resolved)


def inspect(
    conn: psycopg.Connection,
    *,
    name: str,
    settings_mode: str = "changed",
    table_patterns: list[str] | None = None,
    as_of: str | None = None,
) -> Inspection:
    """The live state as a profile document (plain data, $ escaped), read in one snapshot: each
    kind exports its part (`Kind.export`), merged in the engine's order."""
    warnings: list[str] = []
    doc: dict[str, Any] = {"name": name}
    with conn.transaction():  # read only, so committed: no rollback counted against the database
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        conn.execute("SELECT set_config('DateStyle', 'ISO, YMD', true)")
        stub = LoadedProfile(Profile(name="inspect"), PositionIndex(), "<inspect>")
        ctx = PlanContext(conn, stub, engine.server_info(conn), {})
        if table_patterns:
            _tables(ctx, table_patterns, warnings)
        now_row = conn.execute("SELECT coalesce(%s::timestamptz, now())", (as_of,)).fetchone()
        assert now_row is not None
        options = ExportOptions(settings_mode, now_row[0], warnings)
        found: dict[str, Any] = {table.qualified: {} for table in ctx.tables.values()}
        for kind in engine.all_kinds():
            for key, value in kind.export(ctx, options).items():
                if key == "tables":
                    for table, entry in value.items():
                        found[table].update(entry)
                else:
                    doc[key] = value
        if found:
            doc["tables"] = found
    return Inspection(_escape(doc), warnings)


def to_yaml(doc: dict[str, Any], header: str) -> str:
    return dump_document(_commented(doc), header)


def _commented(data: Any) -> Any:
    """Index specs in flow style (one line per index reads like its definition); numbers unquoted."""
    if isinstance(data, dict):
        cm = CommentedMap((k, _commented(v)) for k, v in data.items())
        if "columns" in data:
            cm.fa.set_flow_style()
        return cm
    if isinstance(data, list):
        return [_commented(v) for v in data]
    if isinstance(data, str):
        return yaml_number(data)
    return data
