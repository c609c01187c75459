"""Index advice from the workload: candidates from what queries filter, join and sort on, each
costed with HypoPG over every query of its table, less what it would cost the table's writes.

The method (docs/advise.md): dexter's generic plans and hypothetical indexes, widened to the whole
workload of a table. A candidate's worth is the time it saves all queries on the table together —
each query's measured total time scaled by how much its generic plan's cost falls — less a write
penalty for every row written (and, when it indexes a column UPDATEs write, for every HOT update it
would turn into a full one). Indexes are chosen greedily: the best first, then the others costed
with it in place, so a second index must earn its keep beside the first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pgtune.advice.catalog import Session, Statement, TableFacts
from pgtune.advice.lab import Lab
from pgtune.advice.model import InUse
from pgtune.advice.resolved import Usage

WRITE_MS_PER_ENTRY = 0.005
"""The cost of one index entry written (an insert, a non-HOT update, a delete's later cleanup):
5 µs, the order of a btree insertion into cached pages. Stated, not measured per server."""
MIN_IMPROVEMENT = 0.10
"""A query counts as helped when its generic plan's cost falls by at least this fraction."""
NARROWER_WINS = 0.05
MAX_PER_TABLE = 3
MAX_COLUMNS = 3
RETYPE = frozenset({"42P18", "42725", "42883", "42804"})
"""SQLSTATEs of a parameter the server could not type: indeterminate_datatype, ambiguous_function,
undefined_function (`sum(text)` after an untyped CASE), datatype_mismatch."""
_UNTYPED = re.compile(r"could not determine data type of parameter \$(\d+)")


@dataclass(frozen=True)
class Costed:
    statement: Statement
    cost: float


class Coster:
    """Generic-plan costs (no query runs: EXPLAIN without ANALYZE), with hypothetical indexes; every
    statement planned by the workload lab, as its own role (pgtune.advice.lab)."""

    def __init__(self, session: Session, version_num: int, hypopg_schema: str | None, lab: Lab | None = None) -> None:
        self.session = session
        self.version_num = version_num
        self.hypopg = hypopg_schema
        self.lab = lab if lab is not None else Lab(session, version_num)
        self.imagining = False  # hypothetical indexes exist: plans are not the real ones
        self._real: dict[int, dict[str, Any] | None] = {}  # queryid -> plan with the real indexes only
        self._types: dict[int, dict[int, str]] = {}  # queryid -> the parameter types that planned it

    def plan(self, statement: Statement) -> dict[str, Any] | None:
        """The generic plan; with the real indexes only, EXPLAINed once per statement, VERBOSE (what
        the planner resolved: pgtune.advice.resolved reads it; the baseline costs and the in-use
        report read the same plan)."""
        if self.imagining:
            return self._explain(statement, verbose=False)
        if statement.queryid not in self._real:
            self._real[statement.queryid] = self._explain(statement, verbose=True)
        return self._real[statement.queryid]

    def replan(self, statement: Statement, overrides: Mapping[str, str | None]) -> dict[str, Any] | None:
        """The generic plan (VERBOSE) under other settings for this one transaction, never cached:
        the plan's changes as `pgtune plan --impact` models them."""
        return self._explain(statement, verbose=True, overrides=overrides)

    def _explain(
        self, statement: Statement, verbose: bool, overrides: Mapping[str, str | None] | None = None
    ) -> dict[str, Any] | None:
        """Planned as printed; when the server cannot type a parameter from its context, again with
        the types its context implies (numeric for arithmetic and CASE results), remembered."""
        shape = statement.shape
        assert shape is not None
        lab = self.lab
        types = self._types.get(statement.queryid, dict(shape.types))

        def explain(declared: dict[int, str]) -> dict[str, Any] | None:
            return lab.explain(
                statement.queryid,
                shape.sql,
                shape.params,
                statement.role,
                verbose=verbose,
                types=declared,
                overrides=overrides,
            )

        plan = explain(types)
        if plan is None and lab.sqlstate.get(statement.queryid) in RETYPE and statement.queryid not in self._types:
            retyped = {**{n: "numeric" for n in shape.numeric}, **types}
            match = (
                _UNTYPED.search(lab.failures[statement.queryid].message) if statement.queryid in lab.failures else None
            )
            if match:
                retyped.setdefault(int(match.group(1)), "text")
            if retyped != types:
                lab.failures.pop(statement.queryid, None)
                plan = explain(retyped)
                if plan is not None:
                    self._types[statement.queryid] = retyped
        return plan

    def planned(self, queryid: int) -> bool:
        """Whether this statement's plan with the real indexes was read (it was costed)."""
        return self._real.get(queryid) is not None

    def cost(self, statement: Statement) -> float | None:
        plan = self.plan(statement)
        return float(plan["Total Cost"]) if plan else None

    @contextmanager
    def hypothetical(self, table: TableFacts, indexes: list[tuple[str, ...]]) -> Iterator[bool]:
        """These btree indexes exist for the planner (HypoPG, this session only) while inside."""
        assert self.hypopg is not None
        schema = sql.Identifier(self.hypopg)
        ok = True
        self.imagining = True
        try:
            for columns in indexes:
                ddl = (
                    sql.SQL("CREATE INDEX ON {} ({})")
                    .format(sql.Identifier(table.schema, table.name), sql.SQL(", ").join(map(sql.Identifier, columns)))
                    .as_string(self.session.conn)
                )
                try:
                    self.lab.call(sql.SQL("SELECT * FROM {}.hypopg_create_index({})").format(schema, sql.Literal(ddl)))
                except psycopg.Error:
                    ok = False  # a type without a btree operator class (json, vector ...): not a candidate
            yield ok
        finally:
            self.lab.call(sql.SQL("SELECT {}.hypopg_reset()").format(schema), final=True)
            self.imagining = False


def candidates(
    statements: list[Statement], table_key: tuple[str | None, str], facts: TableFacts
) -> list[tuple[str, ...]]:
    """Column lists worth costing for one table, from statements' parsed shapes (see candidates_from)."""
    uses = [s.shape.tables[table_key] for s in statements if s.shape and table_key in s.shape.tables]
    return candidates_from(uses, facts)  # type: ignore[arg-type]


def candidates_from(uses: list[Usage], facts: TableFacts) -> list[tuple[str, ...]]:
    """Column lists worth costing: each column alone, the equality columns together, equality then
    a range or the sort — the shapes a btree serves, leading columns first."""
    known = set(facts.columns)
    out: list[tuple[str, ...]] = []
    for usage in uses:
        if not usage.filters:
            continue
        eq = [c for c in usage.equality if c in known][:MAX_COLUMNS]
        rng = [c for c in usage.ranges if c in known and c not in eq][:1]
        order = [c for c in usage.order if c in known and c not in eq][:1]
        shapes: list[tuple[str, ...]] = [(c,) for c in [*eq, *rng, *order]]
        for k in range(2, len(eq) + 1):
            shapes.append(tuple(eq[:k]))
        for tail in (rng, order):
            for k in range(1, min(len(eq), MAX_COLUMNS - 1) + 1) if tail else ():
                shapes.append((*eq[:k], tail[0]))
            for lead in eq[1:] if tail else ():
                shapes.append((lead, tail[0]))
        for shape in shapes:
            if shape not in out:
                out.append(shape)
    return out


def covered(columns: tuple[str, ...], held: list[tuple[str, ...]]) -> bool:
    """An index already leads with these columns (a candidate it covers would never be chosen over it)."""
    return any(index[: len(columns)] == columns for index in held)


def index_name(table: str, columns: tuple[str, ...]) -> str:
    """`ix_<table>_<columns>`: names from the catalog are data, so every character but [a-z0-9_] is
    folded to `_` — an advised name is always a plain identifier, whatever its columns are called —
    and a name that had to be folded ends with a hash of the real names, so two never collide."""
    parts = [re.sub(r"[^a-z0-9_]+", "_", part.lower()) for part in (table, *columns)]
    suffix = ""
    if parts != [table, *columns]:
        suffix = "_" + hashlib.sha256("\0".join((table, *columns)).encode()).hexdigest()[:8]
    base = "ix_" + "_".join(parts)
    cut = False
    while len((base + suffix).encode()) > 63:
        base, cut = base[:-1], True
    if cut:  # a name cut short does not end on a dangling separator ("ix_" itself stays)
        base = base.rstrip("_") if len(base.rstrip("_")) > 3 else base
    return base + suffix


def in_use(coster: Coster, facts: TableFacts, statements: list[Statement], declared: list[str]) -> list[InUse]:
    """Which declared indexes of this table the queries' generic plans use now."""
    users: dict[str, list[int]] = {name: [] for name in declared}
    for s in statements:
        plan = coster.plan(s)
        for name in _index_names(plan):
            if name in users and s.queryid not in users[name]:
                users[name].append(s.queryid)
    return [InUse(facts.qualified, name, tuple(q)) for name, q in users.items()]


def _index_names(plan: Any) -> Iterator[str]:
    if isinstance(plan, dict):
        if "Index Name" in plan:
            yield str(plan["Index Name"])
        for child in plan.get("Plans", ()):
            yield from _index_names(child)
