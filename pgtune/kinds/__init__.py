"""Resource kinds: each module reads its slice of the catalog, validates, and diffs.

A kind module exposes `plan(ctx: PlanContext) -> KindResult`. Adding a kind means adding a
module and listing it in `engine.KINDS`; the renderers and the executor stay unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, NamedTuple

import psycopg

from pgtune.plan import Change, Check, Notice, ServerInfo

if TYPE_CHECKING:
    from pgtune.kinds.tables import Table
    from pgtune.profile.loader import LoadedProfile


@dataclass
class KindResult:
    changes: list[Change] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


class Column(NamedTuple):  # one per column of every declared table: the cheapest record to create
    name: str
    generated: bool
    attnum: int
    type_oid: int
    typmod: int
    collation: int


def read_columns(conn: psycopg.Connection, table_oids: list[int]) -> dict[int, list[Column]]:
    """Columns of these tables, in attnum order (one query)."""
    out: dict[int, list[Column]] = {}
    for row in conn.execute(load_sql("columns"), {"tables": table_oids}).fetchall():
        out.setdefault(row[0], []).append(Column(*row[1:]))
    return out


@dataclass
class PlanContext:
    """What every kind gets: the snapshot connection, the profile, the server, resolved tables."""

    conn: psycopg.Connection
    loaded: LoadedProfile
    server: ServerInfo
    tables: dict[str, Table]  # profile key -> table (keys that failed to resolve are absent)
    as_of: str | None = None  # "now" for time partitions (--as-of); None: the server's now()
    exclude: tuple[str, ...] = ()  # glob patterns of schema.name never touched (profile + --exclude)
    _columns: dict[int, list[Column]] | None = field(default=None, repr=False)
    memo: dict[str, Any] = field(default_factory=dict, repr=False)  # derived once per plan, shared by kinds

    def excluded(self, schema: str, name: str) -> str | None:
        """The exclusion pattern that protects schema.name, if any."""
        return excluded_by(self.exclude, schema, name)

    def columns(self) -> dict[int, list[Column]]:
        """Columns of every declared table, in order: one query per plan, for whichever kind asks first."""
        if self._columns is None:
            self._columns = read_columns(self.conn, sorted({t.oid for t in self.tables.values()}))
        return self._columns


def excluded_by(patterns: tuple[str, ...], schema: str, name: str) -> str | None:
    """The first glob pattern matching "schema.name" (case-sensitive, like the catalog)."""
    if not patterns:
        return None
    target = f"{schema}.{name}"
    return next((p for p in patterns if fnmatchcase(target, p)), None)


@cache
def load_sql(name: str) -> str:
    """A catalog query kept as a .sql file beside the code (read once)."""
    return resources.files("pgtune.kinds").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def load_versioned_sql(name: str, version_num: int, **columns: tuple[int, str, str]) -> str:
    """A catalog query with `/*marker*/` placeholders for columns newer than some supported
    versions: `marker=(since, expression, fallback)` puts in the expression on servers since
    that version, the fallback value before (no to_jsonb(row) tricks: those cost ~20 µs a row)."""
    text = load_sql(name)
    for marker, (since, expression, fallback) in columns.items():
        text = text.replace(f"/*{marker}*/", expression if version_num >= since else fallback)
    return text
