"""What partitions are and where they stand: the declared tables, each one's live layout (read in
set-based queries: one for every declared table's layout and children), and the time and integer
ranges the profile wants (computed by the server, in the session's time zone, from now() or --as-of)."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property, lru_cache
from typing import Any, NamedTuple, Protocol

import psycopg
from pglast.parser import parse_sql_json  # with this module: a plan loads it while the server resolves the tables
from psycopg import sql

import pgtune.kinds.early as early
from pgtune.base.errors import Deferred, Location, ProfileError
from pgtune.base.identifiers import identifier, qualified_text
from pgtune.kinds import Column, PlanContext, load_sql, load_versioned_sql, oid_array
from pgtune.kinds.early import Read
from pgtune.kinds.partitioning import (
    IntStep,
    PartitioningError,
    Step,
    TimeStep,
    check_naming,
    default_naming,
    parse_interval,
    parse_period,
)
from pgtune.kinds.tables import Table
from pgtune.profile.model import PartitioningSpec
from pgtune.profile.source import PathKey

KIND = "partition"


TIME_TYPES = {"timestamp with time zone", "timestamp without time zone", "date"}


INT_TYPES = {"smallint", "integer", "bigint"}


STRATEGIES = {"r": "range", "l": "list", "h": "hash"}


BOUND_CHECK = "pgtune_partition_bound"


LIKE = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED"


Value = datetime | date | int | None  # None: MINVALUE/MAXVALUE


class Child(NamedTuple):  # one per partition of every declared table: tuples are the cheapest records to make
    oid: int
    schema: str
    name: str
    partitioned: bool
    kind: str  # range | list | default
    lower: Value = None
    upper: Value = None
    values: frozenset[str] = frozenset()
    detach_pending: bool = False

    @property
    def qualified(self) -> str:
        return qualified_text(self.schema, self.name)


@dataclass
class Layout:
    strategy: str
    key_count: int
    key_is_expression: bool
    key_column: str | None
    key_type: str | None
    default_oid: int
    children: list[Child] = field(default_factory=list)

    @property
    def default(self) -> Child | None:
        return next((c for c in self.children if c.kind == "default"), None)


@dataclass
class Declared:
    key: str
    table: Table
    spec: PartitioningSpec
    location: Location | Deferred | None
    step: Step | None = None
    retention: str | int | None = None
    naming: str = ""


def _path_location(ctx: PlanContext, key: str, *rest: str) -> Location | None:
    return ctx.loaded.location(("tables", key, "partitioning", *rest))


def _declared(ctx: PlanContext) -> tuple[list[Declared], list[ProfileError]]:
    out, errors = [], []
    for key, spec in ctx.loaded.profile.tables.items():
        table = ctx.tables.get(key)
        if spec.partitioning is None or table is None:
            continue
        p = spec.partitioning
        d = Declared(key, table, p, ctx.loaded.where(("tables", key, "partitioning"), key=True))
        try:
            if p.strategy == "range":
                if p.interval is None:
                    raise PartitioningError("range partitioning needs an interval")
                if p.partitions:
                    raise PartitioningError("partitions: is for list partitioning; range partitions follow interval")
                d.step = parse_interval(p.interval)
                d.retention = parse_period(p.retention, d.step) if p.retention else None
                d.naming = p.naming or default_naming(d.step)
                check_naming(d.naming)
            elif p.interval or p.retention or p.start:
                raise PartitioningError("interval, start and retention are for range partitioning")
        except PartitioningError as exc:
            errors.append(ProfileError(d.location, f"{table.qualified}: {exc}"))
            continue
        out.append(d)
    return out, errors


def _datum(node: dict[str, Any]) -> str | int | None:
    const = node.get("A_Const")
    if const is None or const.get("isnull"):
        return None  # NULL, or MINVALUE / MAXVALUE
    if "ival" in const:
        return int(const["ival"].get("ival", 0))
    if "boolval" in const:
        return "true" if const["boolval"].get("boolval") else "false"
    for kind in ("sval", "fval"):
        if kind in const:
            return str(const[kind].get(kind, ""))
    return None


@lru_cache(maxsize=8192)
def _bound(text: str) -> tuple[str, tuple[str | int | None, ...]]:
    """A partition bound (pg_get_expr of relpartbound) as its kind and datums, parsed by
    libpg_query into JSON; cached, since tables partitioned alike repeat the same bounds."""
    stmt = json.loads(parse_sql_json(f"CREATE TABLE x PARTITION OF y {text}"))["stmts"][0]["stmt"]
    spec = stmt["CreateStmt"]["partbound"]
    if spec.get("is_default"):
        return "default", ()
    if spec.get("strategy") == "l":
        return "list", tuple(_datum(v) for v in spec.get("listdatums") or ())
    return "range", (_datum(spec["lowerdatums"][0]), _datum(spec["upperdatums"][0]))


def _typed(raw: str | int | None, key_type: str | None) -> Value:
    if raw is None:
        return None
    if key_type in INT_TYPES:
        return int(raw)
    if key_type == "date":
        return date.fromisoformat(str(raw))
    if key_type in TIME_TYPES:
        return datetime.fromisoformat(str(raw))
    return None


def _child(row: dict[str, Any], key_type: str | None) -> Child:
    kind, datums = _bound(row["bound"])
    oid, schema, name = row["child_oid"], row["child_schema"], row["child_name"]
    partitioned, pending = row["child_relkind"] == "p", row["detach_pending"]
    if kind == "default":
        return Child(oid, schema, name, partitioned, "default", detach_pending=pending)
    if kind == "list":
        values = frozenset("NULL" if v is None else str(v) for v in datums)
        return Child(oid, schema, name, partitioned, "list", values=values, detach_pending=pending)
    lower, upper = _typed(datums[0], key_type), _typed(datums[1], key_type)
    return Child(oid, schema, name, partitioned, "range", lower, upper, detach_pending=pending)


def layouts_read(tables: list[Table], version_num: int) -> Read:
    """The layouts of these partitioned tables and their children (one query)."""
    query = load_versioned_sql(
        "partitioned", version_num, detach_pending=(140000, "coalesce(i.inhdetachpending, false)", "false")
    )
    return Read("partition layouts", query, {"tables": oid_array(t.oid for t in tables)}, as_dicts=True)


def read_layouts(
    conn: psycopg.Connection, tables: list[Table], version_num: int, fetch: Callable[[Read], list[Any]] | None = None
) -> dict[int, Layout]:
    """`fetch`: the plan's (kinds.PlanContext.fetch: the rows the engine asked for early), else sent now."""
    read = layouts_read(tables, version_num)
    rows = fetch(read) if fetch is not None else early.fetch(conn, read)
    layouts: dict[int, Layout] = {}
    for row in rows:
        layout = layouts.setdefault(
            row["table_oid"],
            Layout(
                str(STRATEGIES.get(row["strategy"], row["strategy"])),
                row["key_count"],
                row["key_is_expression"],
                row["key_column"],
                row["key_type"],
                row["default_oid"],
            ),
        )
        if row["child_oid"] is not None:
            layout.children.append(_child(row, layout.key_type))
    return layouts


def _validate(d: Declared, layout: Layout | None) -> str | None:
    """Why pgtune cannot manage this table's partitions as declared (None: it can)."""
    t = d.table
    if layout is None:
        return (
            f"{t.qualified} is not partitioned; declaring partitioning does not convert it: "
            f"that needs a migration (CREATE TABLE ... PARTITION BY {d.spec.strategy.upper()} ({d.spec.key}))"
        )
    if layout.strategy != d.spec.strategy:
        found = layout.strategy.upper()
        return f"{t.qualified} is partitioned BY {found}, not {d.spec.strategy}; changing it needs a migration"
    if layout.key_count != 1 or layout.key_is_expression:
        return f"{t.qualified}: only a single-column partition key is supported"
    if layout.key_column != d.spec.key:
        return f"{t.qualified} is partitioned by {layout.key_column!r}, not {d.spec.key!r}"
    if any(c.partitioned for c in layout.children):
        return f"{t.qualified}: multi-level partitioning is not supported"
    if d.spec.strategy == "range":
        if isinstance(d.step, TimeStep) and layout.key_type not in TIME_TYPES:
            return f"{t.qualified}: a time interval needs a date or timestamp key, {d.spec.key!r} is {layout.key_type}"
        if isinstance(d.step, IntStep) and layout.key_type not in INT_TYPES:
            return f"{t.qualified}: an integer interval needs an integer key, {d.spec.key!r} is {layout.key_type}"
    return None


def _as_key(value: datetime, key_type: str | None) -> Value:
    if key_type == "date":
        return value.date()
    if key_type == "timestamp without time zone":
        return value.replace(tzinfo=None)
    return value


def time_ranges(
    conn: psycopg.Connection, declared: list[Declared], layouts: dict[int, Layout], as_of: str | None
) -> tuple[dict[int, list[tuple[Value, Value]]], dict[int, Value], datetime | None]:
    """Desired ranges and retention cutoffs of every time-partitioned table, in one query."""
    timed = [d for d in declared if isinstance(d.step, TimeStep)]
    if not timed:
        return {}, {}, None
    params = {
        "as_of": as_of,
        "tables": [d.table.oid for d in timed],
        "truncs": [d.step.trunc for d in timed if isinstance(d.step, TimeStep)],
        "steps": [d.step.sql_interval for d in timed if isinstance(d.step, TimeStep)],
        "starts": [d.spec.start for d in timed],
        "premakes": [d.spec.premake for d in timed],
        "retentions": [d.retention for d in timed],
    }
    ranges: dict[int, list[tuple[Value, Value]]] = {}
    cutoffs: dict[int, Value] = {}
    # fetched whole, as tuples: a cursor iterated row by row, into dicts, cost ~10 µs a range
    rows = conn.execute(load_sql("time_bounds"), params).fetchall()
    for table_oid, lower, upper, cutoff, _ in rows:
        key_type = layouts[table_oid].key_type
        ranges.setdefault(table_oid, []).append((_as_key(lower, key_type), _as_key(upper, key_type)))
        if cutoff is not None:
            cutoffs[table_oid] = _as_key(cutoff, key_type)
    return ranges, cutoffs, rows[-1][4] if rows else None


def int_ranges(
    conn: psycopg.Connection, declared: list[Declared]
) -> tuple[dict[int, list[tuple[Value, Value]]], dict[int, Value]]:
    """Integer ranges: from start (or the range holding max(key)) to premake ranges past it."""
    counted = [d for d in declared if isinstance(d.step, IntStep)]
    if not counted:
        return {}, {}
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}::oid, (SELECT max({}) FROM {})::bigint").format(
            sql.Literal(d.table.oid), sql.Identifier(d.spec.key), identifier(d.table.schema, d.table.name)
        )
        for d in counted
    )
    maxima: dict[int, int | None] = dict(conn.execute(query).fetchall())
    ranges: dict[int, list[tuple[Value, Value]]] = {}
    cutoffs: dict[int, Value] = {}
    for d in counted:
        assert isinstance(d.step, IntStep)
        size, current = d.step.size, maxima.get(d.table.oid) or 0
        first = int(d.spec.start) if d.spec.start and d.spec.start.strip().lstrip("-").isdigit() else current
        low = (min(first, current) // size) * size
        high = (current // size + d.spec.premake) * size
        ranges[d.table.oid] = [(lo, lo + size) for lo in range(low, high + 1, size)]
        if isinstance(d.retention, int):
            cutoffs[d.table.oid] = current - d.retention
    return ranges, cutoffs


def display(value: Value) -> str | int | None:
    if isinstance(value, datetime):
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass
class Wanted:
    declared: list[Declared]
    errors: list[ProfileError]
    creation_options: dict[str, list[tuple[str, str]]]  # per table key: storage parameters new partitions get
    tables: Collection[Table]  # every declared table: locks on others are a hazard (see declared_tables)
    location: Callable[[PathKey], Location | None]  # where a profile path is (errors on list partitions)

    @cached_property
    def declared_tables(self) -> set[str]:
        """Every declared table as schema.name: worked out only for a plan with a change that locks."""
        return {t.qualified for t in self.tables}


class Facts(Protocol):
    """What the comparison asks about the objects it found, only when a change needs it (each one
    query whatever the number of objects): the server answers in a plan, fixed data in unit tests."""

    def foreign_keys(self, oids: list[int]) -> dict[int, dict[str, list[str]]]: ...

    def taken(self, wanted: list[tuple[str, str, int]]) -> dict[int, dict[str, Any]]: ...

    def rows_where(self, questions: list[tuple[Child, sql.Composable]]) -> list[int]: ...

    def row_counts(self, children: list[Child]) -> dict[int, int]: ...


@dataclass
class PartitionLive:
    declared: list[Declared]  # the declarations valid for their table's layout
    layouts: dict[int, Layout]
    ranges: dict[int, list[tuple[Value, Value]]]  # desired ranges per table, computed by the server's calendar
    cutoffs: dict[int, Value]  # retention: partitions ending at or before it retire
    columns: dict[int, list[Column]]
    facts: Facts


ROW_COUNT_CAP = 100_000
"""Rows counted per retiring partition, at most: enough to say "holds data" and how much, bounded
in time however large the partition (more is shown as "more than 100,000 rows")."""


def _rows_text(rows: int) -> str:
    if rows > ROW_COUNT_CAP:
        return f"more than {ROW_COUNT_CAP:,} rows"
    return f"{rows:,} row{'s' if rows != 1 else ''}"
