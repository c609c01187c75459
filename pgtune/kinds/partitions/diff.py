"""Which partitions to create and to retire: the declared layout against the live one, the rows waiting
in default partitions and the privileges the changes need checked before anything is planned."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pgtune.base.errors import ProfileError, raise_if_any
from pgtune.base.identifiers import identifier, qualified_text
from pgtune.kinds import DiffEnv, KindResult, load_sql
from pgtune.kinds.partitioning import partition_name
from pgtune.kinds.partitions.model import (
    KIND,
    ROW_COUNT_CAP,
    Child,
    Declared,
    Facts,
    Layout,
    PartitionLive,
    Value,
    Wanted,
    display,
)
from pgtune.kinds.partitions.statements import _Builder, _Create, read_foreign_keys
from pgtune.kinds.tables import not_owned
from pgtune.plan.model import Address, Analyze, Bound, Change, Notice


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


def diff(wants: Wanted, live: PartitionLive, env: DiffEnv) -> KindResult:
    """Partitions to create (or re-attach) and to retire, then ANALYZE of each parent that grew."""
    layouts = live.layouts
    errors: list[ProfileError] = []
    result = KindResult()
    b = _Builder(env, wants, live)
    creates: list[_Create] = []
    retires: list[tuple[Declared, Child, Layout]] = []
    for d in sorted(live.declared, key=lambda d: (d.table.schema, d.table.name)):
        layout = layouts[d.table.oid]
        if d.spec.strategy == "range":
            _ranges(d, layout, live, env, result, creates, retires)
        else:
            _lists(d, layout, wants, creates, errors)
        if d.spec.default_partition and layout.default is None:
            name = f"{d.table.name}_default"
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


def _ranges(
    d: Declared,
    layout: Layout,
    live: PartitionLive,
    env: DiffEnv,
    result: KindResult,
    creates: list[_Create],
    retires: list[tuple[Declared, Child, Layout]],
) -> None:
    """A range-partitioned table: the partitions past retention to retire, the missing ones to create."""
    t = d.table
    cutoff = live.cutoffs.get(t.oid)
    ranged = [c for c in layout.children if c.kind == "range"]
    for child in ranged:
        # Bounds of one table are all dates, timestamps or integers: they compare within their kind.
        if child.detach_pending or (
            cutoff is not None and child.upper is not None and child.upper <= cutoff  # type: ignore[operator]
        ):
            pattern = env.excluded(child.schema, child.name)
            if pattern is not None:
                result.notices.append(
                    Notice(KIND, child.qualified, "EXCLUDED", f"due for retirement, but excluded by {pattern!r}")
                )
                continue
            retires.append((d, child, layout))
    have = {(c.lower, c.upper) for c in ranged}
    for lower, upper in live.ranges.get(t.oid, []):
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


def _lists(d: Declared, layout: Layout, wants: Wanted, creates: list[_Create], errors: list[ProfileError]) -> None:
    """A list-partitioned table: the declared partitions missing; one holding other values is an error."""
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
