"""The changes that create, re-attach and retire partitions, with their statements, locks and hazards:
a new partition is created as a standalone table (LIKE parent, the table's declared storage
parameters), given a CHECK constraint matching its bound, attached (SHARE UPDATE EXCLUSIVE on the
parent; the CHECK spares the validation scan), and the CHECK dropped, in one transaction under
lock_timeout. Old partitions are detached concurrently where PostgreSQL allows it (14+, no default
partition), else with a flagged ACCESS EXCLUSIVE lock."""

from __future__ import annotations

from dataclasses import dataclass, replace

import psycopg
from psycopg import sql

from pgtune.base.identifiers import identifier, qualified_text
from pgtune.kinds import DiffEnv, load_sql
from pgtune.kinds.partitions.model import (
    BOUND_CHECK,
    KIND,
    LIKE,
    Child,
    Declared,
    Layout,
    PartitionLive,
    Value,
    Wanted,
    _rows_text,
    display,
)
from pgtune.kinds.tables import Table
from pgtune.plan.hazards import hazard
from pgtune.plan.model import Address, Bound, Change, Hazard, Statement


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
            rel: mode
            for s in statements
            for rel, mode in s.locks
            if rel not in self.wants.declared_tables and rel not in tree
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
