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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pgtune.advice.catalog import Session, Statement, TableFacts
from pgtune.advice.lab import Lab
from pgtune.advice.model import Advice, InUse
from pgtune.names import quote_ident

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
        self._imagining = False  # hypothetical indexes exist: plans are not the real ones
        self._real: dict[int, dict[str, Any] | None] = {}  # queryid -> plan with the real indexes only
        self._types: dict[int, dict[int, str]] = {}  # queryid -> the parameter types that planned it

    def plan(self, statement: Statement) -> dict[str, Any] | None:
        """The generic plan; with the real indexes only, EXPLAINed once per statement, VERBOSE (what
        the planner resolved: pgtune.advice.resolved reads it; the baseline costs and the in-use
        report read the same plan)."""
        if self._imagining:
            return self._explain(statement, verbose=False)
        if statement.queryid not in self._real:
            self._real[statement.queryid] = self._explain(statement, verbose=True)
        return self._real[statement.queryid]

    def _explain(self, statement: Statement, verbose: bool) -> dict[str, Any] | None:
        """Planned as printed; when the server cannot type a parameter from its context, again with
        the types its context implies (numeric for arithmetic and CASE results), remembered."""
        shape = statement.shape
        assert shape is not None
        lab = self.lab
        types = self._types.get(statement.queryid, dict(shape.types))
        plan = lab.explain(statement.queryid, shape.sql, shape.params, statement.role, verbose=verbose, types=types)
        if plan is None and lab.sqlstate.get(statement.queryid) in RETYPE and statement.queryid not in self._types:
            retyped = {**{n: "numeric" for n in shape.numeric}, **types}
            match = (
                _UNTYPED.search(lab.failures[statement.queryid].message) if statement.queryid in lab.failures else None
            )
            if match:
                retyped.setdefault(int(match.group(1)), "text")
            if retyped != types:
                lab.failures.pop(statement.queryid, None)
                plan = lab.explain(
                    statement.queryid, shape.sql, shape.params, statement.role, verbose=verbose, types=retyped
                )
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
        self._imagining = True
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
            self._imagining = False


def candidates(
    statements: list[Statement], table_key: tuple[str | None, str], facts: TableFacts
) -> list[tuple[str, ...]]:
    """Column lists worth costing: each column alone, the equality columns together, equality then
    a range or the sort — the shapes a btree serves, leading columns first."""
    known = set(facts.columns)
    out: list[tuple[str, ...]] = []
    for s in statements:
        usage = s.shape.tables.get(table_key) if s.shape else None
        if usage is None or not usage.filters:
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
    while len((base + suffix).encode()) > 63:
        base = base[:-1]
    return base.rstrip("_") + suffix


def advise_table(
    coster: Coster,
    table_key: tuple[str | None, str],
    facts: TableFacts,
    statements: list[Statement],
    declared: list[tuple[str, ...]],
    profile_key: str,
    threshold_ms: float,
    unplanned: frozenset[int] = frozenset(),
) -> tuple[list[Advice], list[str]]:
    """Greedy choice of up to MAX_PER_TABLE indexes for one table; notes say what was left and why.
    Statements in `unplanned` (untrusted, or by a role pgtune may not become) are never planned; their
    writes still count against an index."""
    mine = [s for s in statements if s.shape and table_key in s.shape.tables]
    readers = [
        s
        for s in mine
        if s.shape and s.shape.command != "insert" and s.shape.tables[table_key].filters and s.queryid not in unplanned
    ]
    notes: list[str] = []
    if not readers:
        return [], notes
    held = [keys for _n, keys, partial in facts.indexes if keys and not partial] + declared
    current: dict[int, float] = {}
    for s in readers:
        cost = coster.cost(s)
        if cost is not None:
            current[s.queryid] = cost
    readers = [s for s in readers if s.queryid in current]
    chosen: list[tuple[str, ...]] = []
    advice: list[Advice] = []
    pool = [c for c in candidates(readers, table_key, facts) if not covered(c, held)]
    for _round in range(MAX_PER_TABLE):
        best: tuple[float, tuple[str, ...], dict[int, float], float, float] | None = None
        for columns in pool:
            if columns in chosen or covered(columns, chosen):
                continue
            with coster.hypothetical(facts, [*chosen, columns]) as ok:
                if not ok:
                    continue
                costs = {s.queryid: coster.cost(s) for s in readers}
            saved = 0.0
            for s in readers:
                cost = costs.get(s.queryid)
                before = current[s.queryid]
                if cost is not None and before > 0 and cost <= before * (1 - MIN_IMPROVEMENT):
                    saved += s.total_ms * (1 - cost / before)
            penalty = write_penalty(facts, mine, table_key, columns, len(chosen))
            net = saved - penalty
            if best is None or _better(net, columns, best[0], best[1]):
                best = (net, columns, {k: v for k, v in costs.items() if v is not None}, saved, penalty)
        if best is None or best[0] < threshold_ms:
            if best is not None and best[3] > 0:
                notes.append(
                    f"{facts.qualified}: best further candidate ({', '.join(best[1])}) would save {best[3]:.1f} ms "
                    f"less {best[4]:.1f} ms of writes: below the {threshold_ms:.1f} ms threshold"
                )
            break
        net, columns, after, saved, penalty = best
        helped = [
            s for s in readers if after.get(s.queryid, current[s.queryid]) <= current[s.queryid] * (1 - MIN_IMPROVEMENT)
        ]
        name = index_name(facts.name, columns)
        evidence = {
            "queries": [
                {
                    "queryid": s.queryid,
                    "calls": s.calls,
                    "total_ms": round(s.total_ms, 3),
                    "cost_before": round(current[s.queryid], 2),
                    "cost_after": round(after[s.queryid], 2),
                }
                for s in helped
            ],
            "saved_ms": round(saved, 3),
            "write_penalty_ms": round(penalty, 3),
            "table": {
                "rows": facts.live_rows,
                "inserted": facts.inserted,
                "updated": facts.updated,
                "hot_updated": facts.hot_updated,
                "deleted": facts.deleted,
                "indexes": len(facts.indexes) + len(chosen),
            },
        }
        advice.append(
            Advice(
                "index",
                facts.qualified,
                f"index {name} on {facts.qualified} ({', '.join(columns)}): saves ~{saved:.0f} ms of "
                f"{sum(s.total_ms for s in helped):.0f} ms over {len(helped)} quer{'y' if len(helped) == 1 else 'ies'}"
                f", writes cost ~{penalty:.1f} ms",
                evidence,
                ((("tables", profile_key, "indexes", name), {"columns": [quote_ident(c) for c in columns]}),),
                columns=columns,
                name=name,
            )
        )
        chosen.append(columns)
        current.update(after)
    return advice, notes


def _better(net: float, columns: tuple[str, ...], best_net: float, best_columns: tuple[str, ...]) -> bool:
    """A wider index must save clearly more (NARROWER_WINS) than a narrower one to be preferred:
    each column more costs space and writes the cost model does not see."""
    if len(columns) < len(best_columns):
        return net >= best_net * (1 - NARROWER_WINS)
    if len(columns) > len(best_columns):
        return net > best_net * (1 + NARROWER_WINS)
    return net > best_net


def write_penalty(
    facts: TableFacts,
    statements: list[Statement],
    table_key: tuple[str | None, str],
    columns: tuple[str, ...],
    added: int,
) -> float:
    """What one more index costs the writes of the same workload window (pg_stat_statements' rows
    of the INSERT/UPDATE/DELETE statements on the table): an entry per row inserted, deleted or
    updated without HOT (the table's HOT share from pg_stat_user_tables), and, when the index holds
    a column an UPDATE writes, every HOT update of it turned into one that writes every index."""
    hot_share = facts.hot_updated / facts.updated if facts.updated else 0.0
    indexes = len(facts.indexes) + added
    penalty = 0.0
    for s in statements:
        if s.shape is None or s.shape.command == "select":
            continue
        if s.shape.command == "update":
            penalty += s.rows * (1 - hot_share) * WRITE_MS_PER_ENTRY
            if set(s.shape.tables[table_key].written) & set(columns):
                penalty += s.rows * hot_share * WRITE_MS_PER_ENTRY * (indexes + 1)
        else:
            penalty += s.rows * WRITE_MS_PER_ENTRY
    return penalty


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
