"""Partitions of tables the application already partitioned: ranges kept ahead of now, retention,
list partitions and the default partition.

Reads are set-based: one query for every declared table's layout and children, one for the time
ranges the server computes (date_trunc in the session's time zone, from `now()` or `--as-of`),
and one composed query each for integer maxima and rows waiting in default partitions.

A new partition is created as a standalone table (`LIKE parent`, with the table's declared
storage parameters), given a CHECK constraint matching its bound, attached (SHARE UPDATE
EXCLUSIVE on the parent; the CHECK spares the validation scan), and the CHECK is dropped —
all in one transaction under lock_timeout. Old partitions are detached concurrently where
PostgreSQL allows it (14+, no default partition), else with a flagged ACCESS EXCLUSIVE lock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pgtune.base.errors import Deferred, Location, ProfileError, raise_if_any
from pgtune.base.identifiers import identifier, qualified_text
from pgtune.kinds import (
    Adoption,
    Column,
    DiffEnv,
    ExportOptions,
    KindResult,
    PlanContext,
    load_sql,
    load_versioned_sql,
)
from pgtune.kinds.partitioning import (
    IntStep,
    PartitioningError,
    Step,
    TimeStep,
    check_naming,
    default_naming,
    parse_interval,
    parse_period,
    partition_name,
)
from pgtune.kinds.storage import creation_options
from pgtune.kinds.tables import Table, not_owned
from pgtune.plan.hazards import hazard
from pgtune.plan.model import Address, Analyze, Bound, Change, Hazard, Notice, Statement
from pgtune.profile.loader import LoadedProfile
from pgtune.profile.model import PartitioningSpec
from pgtune.profile.source import PathKey

KIND = "partition"
TIME_TYPES = {"timestamp with time zone", "timestamp without time zone", "date"}
INT_TYPES = {"smallint", "integer", "bigint"}
STRATEGIES = {"r": "range", "l": "list", "h": "hash"}
BOUND_CHECK = "pgtune_partition_bound"
LIKE = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED"

Value = datetime | date | int | None  # None: MINVALUE/MAXVALUE


@dataclass(frozen=True)
class Child:
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
    from pglast.parser import parse_sql_json  # loaded only when there are bounds to read

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
    common = {
        "oid": row["child_oid"],
        "schema": row["child_schema"],
        "name": row["child_name"],
        "partitioned": row["child_relkind"] == "p",
        "detach_pending": row["detach_pending"],
    }
    if kind == "default":
        return Child(kind="default", **common)
    if kind == "list":
        values = frozenset("NULL" if v is None else str(v) for v in datums)
        return Child(kind="list", values=values, **common)
    return Child(kind="range", lower=_typed(datums[0], key_type), upper=_typed(datums[1], key_type), **common)


def read_layouts(conn: psycopg.Connection, tables: list[Table], version_num: int) -> dict[int, Layout]:
    layouts: dict[int, Layout] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        query = load_versioned_sql(
            "partitioned", version_num, detach_pending=(140000, "coalesce(i.inhdetachpending, false)", "false")
        )
        rows = cur.execute(query, {"tables": [t.oid for t in tables]}).fetchall()
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
    now = None
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(load_sql("time_bounds"), params):
            key_type = layouts[row["table_oid"]].key_type
            ranges.setdefault(row["table_oid"], []).append(
                (_as_key(row["lower"], key_type), _as_key(row["upper"], key_type))
            )
            if row["cutoff"] is not None:
                cutoffs[row["table_oid"]] = _as_key(row["cutoff"], key_type)
            now = row["now"]
    return ranges, cutoffs, now


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
class _Create:
    d: Declared
    name: str
    bound: sql.Composable
    after: Bound
    lower: Value = None
    upper: Value = None
    values: tuple[str, ...] = ()
    rows_in_default: int = 0
    reattach: bool = False  # a table pgtune detached earlier (its name and mark): attached again, rows and all

    @property
    def is_default(self) -> bool:
        return self.after.default


ATTACH_LOCKS = {"references": "SHARE ROW EXCLUSIVE", "referenced_by": "ACCESS SHARE"}
DETACH_LOCKS = {"references": "SHARE ROW EXCLUSIVE", "referenced_by": "ACCESS EXCLUSIVE"}
DROP_LOCKS = {"references": "ACCESS EXCLUSIVE"}
"""Locks on the other end of a partitioned table's foreign keys, as measured on PostgreSQL 15/16
(pg_locks inside the statement, and what it waits for behind a conflicting holder): ATTACH adds
the FK's triggers on referenced tables and reads referencing ones; DETACH (plain or CONCURRENTLY)
changes both; DROP TABLE of a detached partition drops its triggers on the referenced table."""


def read_foreign_keys(conn: psycopg.Connection, oids: list[int]) -> dict[int, dict[str, list[str]]]:
    """Per partitioned table: the tables its foreign keys point at, and those pointing at it."""
    out: dict[int, dict[str, list[str]]] = {}
    if not oids:
        return out
    for oid, direction, schema, name in conn.execute(load_sql("foreign_keys"), {"tables": oids}).fetchall():
        out.setdefault(oid, {}).setdefault(direction, []).append(qualified_text(schema, name))
    return out


class _Builder:
    def __init__(self, env: DiffEnv, wants: Wanted, live: PartitionLive) -> None:
        self.env, self.wants, self.live = env, wants, live
        self.partitioned = sorted(d.table.oid for d in live.declared)
        self._foreign_keys: dict[int, dict[str, list[str]]] | None = None
        self.declared = wants.declared_tables

    @property
    def foreign_keys(self) -> dict[int, dict[str, list[str]]]:
        """Asked on the first change that locks through them: a plan with nothing to do never asks."""
        if self._foreign_keys is None:
            self._foreign_keys = self.live.facts.foreign_keys(self.partitioned)
        return self._foreign_keys

    def other_locks(
        self, table: Table, modes: dict[str, str], also: tuple[tuple[str, str], ...] = ()
    ) -> tuple[tuple[str, str], ...]:
        """Locks a statement on `table` takes on the other end of its foreign keys (and `also`)."""
        keys = self.foreign_keys.get(table.oid, {})
        found = [(other, mode) for direction, mode in modes.items() for other in keys.get(direction, [])]
        return tuple(dict.fromkeys([*also, *found]))

    def undeclared(self, statements: list[Statement], layout: Layout, own: str) -> Hazard | None:
        """A hazard naming the tables the profile does not mention that these statements lock
        (the partition itself and its siblings are part of the declared table)."""
        tree = {own, *(c.qualified for c in layout.children)}
        strangers = {
            rel: mode for s in statements for rel, mode in s.locks if rel not in self.declared and rel not in tree
        }
        if not strangers:
            return None
        listed = ", ".join(f"{rel} ({mode})" for rel, mode in strangers.items())
        return hazard(
            "LOCKS_OTHER_TABLES",
            f"Also locks tables the profile does not mention, through foreign keys: {listed}. Writers to them "
            "queue behind pgtune while it waits for the lock — at most lock_timeout per attempt.",
        )

    def s(
        self,
        composed: sql.Composable,
        transactional: bool = True,
        lock: str = "SHARE UPDATE EXCLUSIVE",
        retryable: bool = True,
        locks: tuple[tuple[str, str], ...] = (),
    ) -> Statement:
        return Statement(self.env.render(composed), transactional, lock, retryable, locks=locks)

    def reattach(self, c: _Create, layout: Layout) -> Change:
        """A table pgtune detached (retention) that the profile wants again: check its rows against
        the bound under a lock on that table alone, attach (the check spares the scan under the
        parent's lock), drop the check — one transaction."""
        t = c.d.table
        parent, child = identifier(t.schema, t.name), identifier(t.schema, c.name)
        key, mark = sql.Identifier(c.d.spec.key), sql.Identifier(BOUND_CHECK)
        own = qualified_text(t.schema, c.name)
        statements = [
            self.s(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(child, mark),
                lock="none",
                locks=((own, "ACCESS EXCLUSIVE"),),
            ),
            self.s(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} IS NOT NULL AND {})").format(
                    child, mark, key, self._condition(c, key)
                ),
                lock="none",
                locks=((own, "ACCESS EXCLUSIVE"),),
            ),
            self._attach(t, parent, child, c.bound, layout, False),
            self.s(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(child, mark), lock="none"),
        ]
        hazards: list[Hazard] = []
        if layout.default is not None:
            hazards.append(self._default_scan(layout))
        strangers = self.undeclared(statements, layout, own)
        if strangers is not None:
            hazards.append(strangers)
        note = (
            f"partition of {t.qualified}: the table pgtune detached earlier is attached again, its rows visible "
            f"through {t.qualified} once more (its rows are checked against the bound first, locking only {own})"
        )
        return Change(
            Address(KIND, c.name, t.schema),
            "create",
            None,
            replace(c.after, reattach=True),
            tuple(statements),
            hazards=tuple(hazards),
            note=note,
        )

    def _attach(
        self,
        t: Table,
        parent: sql.Composable,
        child: sql.Composable,
        bound: sql.Composable,
        layout: Layout,
        is_default: bool,
    ) -> Statement:
        """ATTACH PARTITION: SHARE UPDATE EXCLUSIVE on the parent, ACCESS EXCLUSIVE on the default
        partition (scanned for the new range), and the foreign keys' other ends."""
        default = layout.default
        also = ((default.qualified, "ACCESS EXCLUSIVE"),) if default is not None and not is_default else ()
        return self.s(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} {}").format(parent, child, bound),
            locks=self.other_locks(t, ATTACH_LOCKS, also),
        )

    def _default_scan(self, layout: Layout) -> Hazard:
        default = layout.default
        assert default is not None
        return hazard(
            "ACQUIRES_ACCESS_EXCLUSIVE_LOCK",
            f"ATTACH locks the default partition {default.qualified} (ACCESS EXCLUSIVE) and scans it "
            "for rows of the new range: keep default partitions small.",
        )

    def create(self, c: _Create, layout: Layout) -> Change:
        if c.reattach:
            return self.reattach(c, layout)
        t = c.d.table
        parent = identifier(t.schema, t.name)
        child = identifier(t.schema, c.name)
        options = self.wants.creation_options.get(c.d.key, [])
        with_clause = (
            sql.SQL(" WITH ({})").format(
                sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.SQL(k), sql.Literal(v)) for k, v in options)
            )
            if options
            else sql.SQL("")
        )
        # Locks on the new table itself are harmless (no one uses it yet): stated as "none".
        statements = [
            self.s(sql.SQL("CREATE TABLE {} (LIKE {} " + LIKE + "){}").format(child, parent, with_clause), lock="none")
        ]
        hazards: list[Hazard] = []
        key = sql.Identifier(c.d.spec.key)
        default = layout.default
        if c.rows_in_default and default is not None:
            insertable = [c.name for c in self.live.columns.get(t.oid, []) if not c.generated]
            cols = sql.SQL(", ").join(sql.Identifier(n) for n in insertable)
            statements.append(
                self.s(
                    sql.SQL(
                        "WITH moved AS (DELETE FROM {} WHERE {} RETURNING {}) INSERT INTO {} ({}) SELECT {} FROM moved"
                    ).format(
                        identifier(default.schema, default.name), self._condition(c, key), cols, child, cols, cols
                    ),
                    lock="ROW EXCLUSIVE",
                )
            )
            hazards.append(
                hazard(
                    "DATA_MOVE",
                    f"Moves {c.rows_in_default} rows from {default.qualified} into {c.name}, in the same transaction.",
                )
            )
        if not c.is_default:  # a bound to check
            statements.append(
                self.s(
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} IS NOT NULL AND {})").format(
                        child, sql.Identifier(BOUND_CHECK), key, self._condition(c, key)
                    ),
                    lock="none",
                )
            )
        statements.append(self._attach(t, parent, child, c.bound, layout, c.is_default))
        if not c.is_default:  # a bound to check
            statements.append(
                self.s(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(child, sql.Identifier(BOUND_CHECK)),
                    lock="none",  # the new table, not yet visible to anyone
                )
            )
        if default is not None and not c.is_default:
            hazards.append(self._default_scan(layout))
        strangers = self.undeclared(statements, layout, qualified_text(t.schema, c.name))
        if strangers is not None:
            hazards.append(strangers)
        note = f"partition of {t.qualified}; created standalone, then attached"
        if options:
            note += " with " + ", ".join(f"{k}={v}" for k, v in options)
        return Change(
            Address(KIND, c.name, t.schema),
            "create",
            None,
            c.after,
            tuple(statements),
            hazards=tuple(hazards),
            note=note,
        )

    def _condition(self, c: _Create, key: sql.Composable) -> sql.Composable:
        if c.values:
            return sql.SQL("{} IN ({})").format(key, sql.SQL(", ").join(sql.Literal(v) for v in c.values))
        parts = []
        if c.lower is not None:
            parts.append(sql.SQL("{} >= {}").format(key, sql.Literal(c.lower)))
        if c.upper is not None:
            parts.append(sql.SQL("{} < {}").format(key, sql.Literal(c.upper)))
        return sql.SQL(" AND ").join(parts)

    def retire(self, d: Declared, child: Child, layout: Layout, rows: int) -> Change:
        t = d.table
        parent, target = identifier(t.schema, t.name), identifier(child.schema, child.name)
        hazards: list[Hazard] = []
        before = Bound(display(child.lower), display(child.upper))
        detach_locks = self.other_locks(t, DETACH_LOCKS)
        if child.detach_pending:
            statements = [
                self.s(
                    sql.SQL("ALTER TABLE {} DETACH PARTITION {} FINALIZE").format(parent, target),
                    transactional=False,
                    locks=detach_locks,
                )
            ]
            note = "finishes an interrupted concurrent detach"
        elif self.env.server.version_num >= 140000 and layout.default is None:
            statements = [
                self.s(
                    sql.SQL("ALTER TABLE {} DETACH PARTITION {} CONCURRENTLY").format(parent, target),
                    transactional=False,
                    retryable=False,
                    locks=detach_locks,
                )
            ]
            note = f"older than the retention ({d.spec.retention}): detached concurrently"
        else:
            statements = [
                self.s(
                    sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(parent, target),
                    lock="ACCESS EXCLUSIVE",
                    locks=detach_locks,
                )
            ]
            why = "a default partition exists" if layout.default is not None else "PostgreSQL < 14"
            hazards.append(
                hazard(
                    "ACQUIRES_ACCESS_EXCLUSIVE_LOCK",
                    f"Plain DETACH ({why}): ACCESS EXCLUSIVE on {t.qualified} while it runs.",
                )
            )
            note = f"older than the retention ({d.spec.retention}): detached"
        held = _rows_text(rows)
        if d.spec.retention_action == "drop":
            statements.append(
                self.s(
                    sql.SQL("DROP TABLE {}").format(target),
                    lock="ACCESS EXCLUSIVE",
                    locks=self.other_locks(t, DROP_LOCKS),
                )
            )
            hazards.append(hazard("DELETES_DATA", f"Drops {child.qualified} and every row in it ({held})."))
            note += ", then dropped"
        else:
            # A pending detach (FINALIZE) hid its rows already, in an apply that was gated then.
            if rows and not child.detach_pending:
                hazards.append(
                    hazard(
                        "HIDES_DATA",
                        f"Detaches {child.qualified} holding {held}: queries on {t.qualified} no longer see them "
                        "(the table is kept, and re-attached by a later plan that wants its range back).",
                    )
                )
            if child.lower is not None and child.upper is not None:
                # pgtune's mark on the table it detached: its bound, NOT VALID (no scan), so a later
                # plan that wants the range back knows the table is its own to attach again.
                key = sql.Identifier(d.spec.key)
                condition = sql.SQL("{} IS NOT NULL AND {} >= {} AND {} < {}").format(
                    key, key, sql.Literal(child.lower), key, sql.Literal(child.upper)
                )
                statements.append(
                    self.s(
                        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({}) NOT VALID").format(
                            target, sql.Identifier(BOUND_CHECK), condition
                        ),
                        lock="none",
                        locks=((child.qualified, "ACCESS EXCLUSIVE"),),
                    )
                )
            note += f"; the table is kept ({held}), marked for a later re-attach"
        strangers = self.undeclared(statements, layout, child.qualified)
        if strangers is not None:
            hazards.append(strangers)
        return Change(
            Address(KIND, child.name, child.schema),
            "delete",
            before,
            None,
            tuple(statements),
            hazards=tuple(hazards),
            note=note,
        )


def _default_rows(creates: list[_Create], layouts: dict[int, Layout], b: _Builder, facts: Facts) -> None:
    """Rows waiting in default partitions for each range about to be created (one question)."""
    waiting = [c for c in creates if layouts[c.d.table.oid].default is not None and not c.is_default]
    if not waiting:
        return
    questions = []
    for c in waiting:
        default = layouts[c.d.table.oid].default
        assert default is not None
        questions.append((default, b._condition(c, sql.Identifier(c.d.spec.key))))
    for c, count in zip(waiting, facts.rows_where(questions), strict=True):
        c.rows_in_default = count


@dataclass
class Wanted:
    declared: list[Declared]
    errors: list[ProfileError]
    creation_options: dict[str, list[tuple[str, str]]]  # per table key: storage parameters new partitions get
    declared_tables: set[str]  # every declared table (schema.name): locks on others are a hazard
    location: Callable[[PathKey], Location | None]  # where a profile path is (errors on list partitions)


class Facts(Protocol):
    """What the comparison asks about the objects it found, only when a change needs it (each one
    query whatever the number of objects): the server answers in a plan, fixed data in unit tests."""

    def foreign_keys(self, oids: list[int]) -> dict[int, dict[str, list[str]]]: ...

    def taken(self, wanted: list[tuple[str, str, int]]) -> dict[int, dict[str, Any]]: ...

    def rows_where(self, questions: list[tuple[Child, sql.Composable]]) -> list[int]: ...

    def row_counts(self, children: list[Child]) -> dict[int, int]: ...


class ServerFacts:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def foreign_keys(self, oids: list[int]) -> dict[int, dict[str, list[str]]]:
        return read_foreign_keys(self.conn, oids)

    def taken(self, wanted: list[tuple[str, str, int]]) -> dict[int, dict[str, Any]]:
        """Relations holding the names of partitions to create (schema, name, parent oid), by position."""
        params = {"schemas": [w[0] for w in wanted], "names": [w[1] for w in wanted], "parents": [w[2] for w in wanted]}
        with self.conn.cursor(row_factory=dict_row) as cur:
            return {row["i"] - 1: row for row in cur.execute(load_sql("detached"), params)}

    def rows_where(self, questions: list[tuple[Child, sql.Composable]]) -> list[int]:
        parts = [
            sql.SQL("SELECT {}::int, count(*) FROM {} WHERE {}").format(
                sql.Literal(i), identifier(child.schema, child.name), condition
            )
            for i, (child, condition) in enumerate(questions)
        ]
        counts: dict[int, int] = dict(self.conn.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall())
        return [counts.get(i, 0) for i in range(len(questions))]

    def row_counts(self, children: list[Child]) -> dict[int, int]:
        return _row_counts(self.conn, children)


@dataclass
class PartitionLive:
    declared: list[Declared]  # the declarations valid for their table's layout
    layouts: dict[int, Layout]
    ranges: dict[int, list[tuple[Value, Value]]]  # desired ranges per table, computed by the server's calendar
    cutoffs: dict[int, Value]  # retention: partitions ending at or before it retire
    columns: dict[int, list[Column]]
    facts: Facts


class PartitionKind:
    name = KIND
    runs_on = "primary"  # tables live in the replicated catalog

    def desired(self, ctx: PlanContext) -> Wanted | None:
        declared, errors = _declared(ctx)
        if not declared:
            raise_if_any(errors)
            return None
        return Wanted(
            declared,
            errors,
            {d.key: creation_options(ctx, d.key) for d in declared},
            {t.qualified for t in ctx.tables.values()},
            ctx.loaded.location,
        )

    def read(self, ctx: PlanContext, wants: Wanted) -> PartitionLive:
        layouts = read_layouts(ctx.conn, [d.table for d in wants.declared], ctx.server.version_num)
        errors = list(wants.errors)
        valid = []
        for d in wants.declared:
            problem = _validate(d, layouts.get(d.table.oid))
            if problem:
                errors.append(ProfileError(d.location, problem))
            else:
                valid.append(d)
        raise_if_any(errors)
        t_ranges, t_cutoffs, _now = time_ranges(ctx.conn, valid, layouts, ctx.as_of)
        i_ranges, i_cutoffs = int_ranges(ctx.conn, valid)
        return PartitionLive(
            valid, layouts, t_ranges | i_ranges, t_cutoffs | i_cutoffs, ctx.columns(), ServerFacts(ctx.conn)
        )

    def diff(self, wants: Wanted, live: PartitionLive, env: DiffEnv) -> KindResult:
        return diff(wants, live, env)

    def export(self, ctx: PlanContext, options: ExportOptions) -> dict[str, Any]:
        partitioned = [t for t in ctx.tables.values() if t.partitioned]
        if not partitioned:
            return {}
        layouts = read_layouts(ctx.conn, partitioned, ctx.server.version_num)
        out: dict[str, Any] = {}
        for table in partitioned:
            layout = layouts.get(table.oid)
            spec = None if layout is None else _export_one(table, layout, options.now, options.warnings)
            if spec:
                out[table.qualified] = {"partitioning": spec}
        return {"tables": out} if out else {}

    def adopt(self, change: Change, loaded: LoadedProfile) -> Adoption:
        return {}, "partition changes are not pulled into a profile"


resource = PartitionKind()


def diff(wants: Wanted, live: PartitionLive, env: DiffEnv) -> KindResult:
    """Partitions to create (or re-attach) and to retire, then ANALYZE of each parent that grew."""
    layouts, ranges, cutoffs, valid = live.layouts, live.ranges, live.cutoffs, live.declared
    errors: list[ProfileError] = []
    result = KindResult()
    b = _Builder(env, wants, live)
    creates: list[_Create] = []
    retires: list[tuple[Declared, Child, Layout]] = []
    for d in sorted(valid, key=lambda d: (d.table.schema, d.table.name)):
        layout = layouts[d.table.oid]
        t = d.table
        if d.spec.strategy == "range":
            cutoff = cutoffs.get(t.oid)
            ranged = [c for c in layout.children if c.kind == "range"]
            for child in ranged:
                # Bounds of one table are all dates, timestamps or integers: they compare within their kind.
                if child.detach_pending or (
                    cutoff is not None and child.upper is not None and child.upper <= cutoff  # type: ignore[operator]
                ):
                    pattern = env.excluded(child.schema, child.name)
                    if pattern is not None:
                        result.notices.append(
                            Notice(
                                KIND, child.qualified, "EXCLUDED", f"due for retirement, but excluded by {pattern!r}"
                            )
                        )
                        continue
                    retires.append((d, child, layout))
            have = {(c.lower, c.upper) for c in ranged}
            for lower, upper in ranges.get(t.oid, []):
                if cutoff is not None and upper <= cutoff:  # type: ignore[operator]
                    continue  # retention wins: never re-create what it retires
                if (lower, upper) in have:
                    continue
                clash = next((c for c in ranged if _overlaps(c, lower, upper)), None)
                if clash is not None:
                    result.notices.append(
                        Notice(
                            KIND,
                            clash.qualified,
                            "MISALIGNED_PARTITION",
                            f"its bounds overlap the declared range {display(lower)} .. {display(upper)}; left as is",
                        )
                    )
                    continue
                name = partition_name(d.naming, t.name, lower)  # type: ignore[arg-type]
                bound = sql.SQL("FOR VALUES FROM ({}) TO ({})").format(sql.Literal(lower), sql.Literal(upper))
                creates.append(_Create(d, name, bound, Bound(display(lower), display(upper)), lower, upper))
        else:
            live_lists = {c.name: c for c in layout.children if c.kind == "list"}
            for name, values in d.spec.partitions.items():
                wanted = frozenset(values)
                existing = live_lists.get(name)
                if existing is not None:
                    if existing.values != wanted:
                        errors.append(
                            ProfileError(
                                wants.location(("tables", d.key, "partitioning", "partitions", name)),
                                f"{existing.qualified} holds {sorted(existing.values)}, not {sorted(wanted)}: "
                                "changing list bounds needs a detach, data moves and an attach (a migration)",
                            )
                        )
                    continue
                bound = sql.SQL("FOR VALUES IN ({})").format(sql.SQL(", ").join(sql.Literal(v) for v in values))
                creates.append(_Create(d, name, bound, Bound(values=tuple(values)), values=tuple(values)))
        if d.spec.default_partition and layout.default is None:
            name = f"{t.name}_default"
            creates.append(_Create(d, name, sql.SQL("DEFAULT"), Bound(default=True)))
    raise_if_any(errors)
    _check_names(live.facts, creates, errors)
    _default_rows(creates, layouts, b, live.facts)
    for c in creates:
        if c.rows_in_default and (c.reattach or not c.d.spec.move_default_rows):
            default = layouts[c.d.table.oid].default
            assert default is not None
            errors.append(
                ProfileError(
                    c.d.location,
                    f"{default.qualified} holds {c.rows_in_default} rows for the new partition {c.name} "
                    f"({c.after.lower} .. {c.after.upper}): attaching it would fail (SQLSTATE 23514). "
                    "Move them first, or set move_default_rows: true",
                )
            )
    errors += _privilege_errors(creates, retires)
    raise_if_any(errors)
    analyzed = []
    for c in creates:
        result.changes.append(b.create(c, layouts[c.d.table.oid]))
        if c.d.table not in analyzed:
            analyzed.append(c.d.table)
    counts = live.facts.row_counts([child for _, child, _ in retires]) if retires else {}
    for d, child, layout in retires:
        result.changes.append(b.retire(d, child, layout, counts.get(child.oid, 0)))
    for t in analyzed:
        result.changes.append(
            Change(
                Address(KIND, t.name, t.schema),
                "update",
                None,
                Analyze(),
                (b.s(sql.SQL("ANALYZE {}").format(identifier(t.schema, t.name))),),
                note="statistics of the partitioned parent (autovacuum never analyzes it)",
            )
        )
    return result


ROW_COUNT_CAP = 100_000
"""Rows counted per retiring partition, at most: enough to say "holds data" and how much, bounded
in time however large the partition (more is shown as "more than 100,000 rows")."""


def _row_counts(conn: psycopg.Connection, children: list[Child]) -> dict[int, int]:
    """Rows in each partition about to be retired (capped), in one query."""
    if not children:
        return {}
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}::oid, (SELECT count(*) FROM (SELECT FROM {} LIMIT {}) s)").format(
            sql.Literal(c.oid), identifier(c.schema, c.name), sql.Literal(ROW_COUNT_CAP + 1)
        )
        for c in children
    )
    return {oid: count for oid, count in conn.execute(query).fetchall()}


def _rows_text(rows: int) -> str:
    if rows > ROW_COUNT_CAP:
        return f"more than {ROW_COUNT_CAP:,} rows"
    return f"{rows:,} row{'s' if rows != 1 else ''}"


def _privilege_errors(creates: list[_Create], retires: list[tuple[Declared, Child, Layout]]) -> list[ProfileError]:
    """Creating partitions needs the parent's owner and CREATE on its schema; retiring them the
    parent's owner and (to drop) the partition's. Checked for every table before anything runs."""
    errors: list[ProfileError] = []
    seen: set[int] = set()
    for d in [c.d for c in creates] + [r[0] for r in retires]:
        if d.table.oid in seen:
            continue
        seen.add(d.table.oid)
        problem = not_owned(d.table, "creating, attaching and detaching its partitions")
        if problem is None and any(c.d is d for c in creates) and not d.table.may_create:
            problem = ProfileError(d.location, d.table.may_not_create("new partitions are created"))
        if problem is None:
            leaves = {leaf.oid: leaf for leaf in d.table.leaves}
            dropped = [leaves[c.oid] for dd, c, _ in retires if dd is d and c.oid in leaves]
            if d.spec.retention_action == "drop":
                problem = not_owned(d.table, "dropping retired partitions", dropped)
        if problem is not None:
            errors.append(problem)
    return errors


def _overlaps(child: Child, lower: Value, upper: Value) -> bool:
    lo_ok = child.upper is None or lower < child.upper  # type: ignore[operator]
    hi_ok = child.lower is None or child.lower < upper  # type: ignore[operator]
    return lo_ok and hi_ok


def _check_names(facts: Facts, creates: list[_Create], errors: list[ProfileError]) -> None:
    """A name a new partition needs that is taken: a table pgtune detached earlier (standalone, its
    mark, the parent's columns) is attached again; anything else is an error."""
    if not creates:
        return
    taken = facts.taken([(c.d.table.schema, c.name, c.d.table.oid) for c in creates])
    for i, c in enumerate(creates):
        row = taken.get(i)
        if row is None:
            continue
        ours = row["relkind"] == "r" and not row["relispartition"] and not row["inherits"] and row["marked"]
        if ours and not c.is_default and row["same_columns"]:
            if not row["owned"]:
                errors.append(
                    ProfileError(
                        c.d.location,
                        f"{qualified_text(c.d.table.schema, c.name)} (detached earlier) would be attached again, "
                        "but the current role does not own it",
                    )
                )
            c.reattach = True
            continue
        why = "not a partition of" if not ours else "detached earlier, but its columns no longer match"
        errors.append(
            ProfileError(
                c.d.location,
                f"{qualified_text(c.d.table.schema, c.name)} already exists but is {why} "
                f"{c.d.table.qualified}: attach or rename it by hand",
            )
        )
    raise_if_any(errors)


# --- export (inspect) -------------------------------------------------------------------------


NAMING_CANDIDATES = (
    "{table}_{year}_{month}",
    "{table}_{year}{month}",
    "{table}_y{year}m{month}",
    "{table}_p{year}{month}",
    "{table}_{year}_{month}_{day}",
    "{table}_p{year}{month}{day}",
    "{table}_{year}{month}{day}",
    "{table}_{year}",
    "{table}_{lower}",
)
"""Naming schemes tried when pgtune's (pg_partman 4.x) default does not reproduce the names."""

TIME_INTERVALS = ("1 hour", "1 day", "1 week", "1 month", "3 months", "1 year")


def _month_add(value: date, months: int) -> date:
    month = value.month - 1 + months
    return value.replace(year=value.year + month // 12, month=month % 12 + 1)


def _fits(interval: str, lower: Any, upper: Any) -> bool:
    if not isinstance(lower, date) or not isinstance(upper, date):
        return False
    if interval in ("1 hour", "1 day", "1 week"):
        step = {"1 hour": timedelta(hours=1), "1 day": timedelta(days=1), "1 week": timedelta(weeks=1)}[interval]
        if isinstance(lower, datetime):
            return upper - lower == step
        return interval != "1 hour" and upper - lower == step
    if lower.day != 1 or (isinstance(lower, datetime) and (lower.hour, lower.minute) != (0, 0)):
        return False
    months = {"1 month": 1, "3 months": 3, "1 year": 12}[interval]
    return _month_add(lower, months) == upper


def _export_one(table: Table, layout: Layout, now: datetime, warnings: list[str]) -> dict[str, Any] | None:
    """A partitioned table's layout as a declaration: interval, start, premake and naming inferred."""
    where = table.qualified
    if layout.key_count != 1 or layout.key_is_expression or layout.strategy not in ("range", "list"):
        warnings.append(f"{where}: {layout.strategy} partitioning on this key is not something pgtune manages")
        return None
    spec: dict[str, Any] = {"strategy": layout.strategy, "key": layout.key_column}
    if layout.strategy == "list":
        lists = [c for c in layout.children if c.kind == "list"]
        spec["partitions"] = {c.name: sorted(c.values) for c in sorted(lists, key=lambda c: c.name)}
    else:
        ranges = sorted((c for c in layout.children if c.kind == "range"), key=lambda c: c.lower)  # type: ignore[arg-type, return-value]
        if not ranges:
            warnings.append(f"{where}: no range partitions to infer an interval from; partitioning not adopted")
            return None
        interval = _interval(ranges)
        if interval is None:
            warnings.append(f"{where}: its partitions do not share one supported interval; partitioning not adopted")
            return None
        spec["interval"] = interval
        step = parse_interval(interval)
        current = now.date() if layout.key_type == "date" else now
        if isinstance(ranges[0].lower, int):
            spec["start"] = str(ranges[0].lower)
            spec["premake"] = 0
        else:
            if layout.key_type == "timestamp without time zone":
                current = now.replace(tzinfo=None)
            spec["start"] = display(ranges[0].lower)
            ahead = [c for c in ranges if c.lower is not None and c.lower > current]  # type: ignore[operator]
            spec["premake"] = len(ahead)
        naming = _naming(table.name, ranges, default_naming(step))
        if naming is None:
            warnings.append(f"{where}: partition names follow no known scheme; new ones get pgtune's default names")
        elif naming != default_naming(step):
            spec["naming"] = naming
    if layout.default is not None:
        spec["default_partition"] = True
    return spec


def _interval(ranges: list[Child]) -> str | None:
    if all(isinstance(c.lower, int) and isinstance(c.upper, int) for c in ranges):
        widths = {c.upper - c.lower for c in ranges}  # type: ignore[operator]
        return str(widths.pop()) if len(widths) == 1 else None
    for interval in TIME_INTERVALS:
        if all(_fits(interval, c.lower, c.upper) for c in ranges):
            return interval
    return None


def _naming(table: str, ranges: list[Child], default: str) -> str | None:
    for template in (default, *NAMING_CANDIDATES):
        try:
            if all(partition_name(template, table, c.lower) == c.name for c in ranges):  # type: ignore[arg-type]
                return template
        except (KeyError, ValueError):
            continue
    return None
