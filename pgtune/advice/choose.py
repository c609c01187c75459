"""The whole workload chooses its indexes.

Every statement of the workload has been planned (its generic plan, as its own role) and the planner
has said, per table, what each one tests, joins, sorts and returns (pgtune.advice.resolved). From
that, per table: btree candidates — equality columns first, then one range or the sort — never one an
existing or declared index leads with, never one whose leading columns a unique index already pins
to one row, never on a table too small for an index to beat a scan.

1. All candidates are created at once as hypothetical indexes (HypoPG) and every statement is planned
   once: the planner keeps the candidates it would use. Those, and the narrower ones on their leading
   column, make the pool.
2. Greedy, with re-costing: each candidate of the pool is costed with the indexes already chosen (on
   every table: an index can change a join) over every statement that touches its table, weighted by
   each statement's measured time, less what it costs the table's writes. The best clears the
   threshold or the choice ends; costs are taken again with it in place, so a second index must earn
   its keep beside the first, and two indexes for one statement happen only when both pay.
3. A chosen index that turns a frequent scan index-only with a column or two more gets them as
   INCLUDE, when that saves clearly more than it costs in size.
Advice is ranked by time saved per byte (HypoPG's size estimate).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from pgtune.advice.catalog import Statement, TableFacts
from pgtune.advice.indexes import (
    MAX_COLUMNS,
    MAX_PER_TABLE,
    MIN_IMPROVEMENT,
    NARROWER_WINS,
    WRITE_MS_PER_ENTRY,
    Coster,
    candidates_from,
    covered,
    index_name,
)
from pgtune.advice.model import Advice
from pgtune.advice.resolved import Usage
from pgtune.base.names import quote_ident

MIN_ROWS = 1000
"""Below this many rows a table is read faster whole than through an index: never a candidate."""
MAX_CHOSEN = 20
"""Indexes advised in one run at most: a workload that wants more wants a person to look at it."""
MAX_INCLUDE = 2
"""Columns an INCLUDE may add to make a scan index-only."""
INCLUDE_GAIN = 0.25
"""An INCLUDE must save this much more (of the index's own saving) than the index without it."""


@dataclass(frozen=True)
class Candidate:
    table: int  # the table's oid
    columns: tuple[str, ...]
    include: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return len(self.columns) + len(self.include)


@dataclass
class Member:
    """One planned statement of the workload."""

    statement: Statement
    tables: dict[int, Usage]  # table oid -> how the statement uses it
    writes: int | None  # the table it inserts into, updates or deletes from
    cost: float  # its generic plan's cost with the real indexes


@dataclass
class Chosen:
    candidate: Candidate
    saved: float
    penalty: float
    before: dict[int, float]
    after: dict[int, float]
    bytes: int = 0


@dataclass
class Chooser:
    coster: Coster
    members: list[Member]
    facts: dict[int, TableFacts]
    declared: dict[int, list[tuple[str, ...]]]
    min_saving: float  # a fraction of the workload's time, as it is with the indexes chosen so far
    notes: list[str] = field(default_factory=list)
    chosen: list[Chosen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.current = {m.statement.queryid: m.cost for m in self.members}

    # --- candidates ---------------------------------------------------------------------------------

    def candidates(self) -> list[Candidate]:
        out: list[Candidate] = []
        for oid, facts in self.facts.items():
            if facts.kind == "v" or max(facts.reltuples, facts.live_rows) < MIN_ROWS:
                continue
            held = [k for _n, k, partial in facts.indexes if k and not partial] + self.declared.get(oid, [])
            uses = [m.tables[oid] for m in self.members if oid in m.tables]
            for columns in candidates_from(uses, facts):
                if covered(columns, held) or pinned(columns, facts.unique):
                    continue
                out.append(Candidate(oid, columns))
        return out

    def touching(self, oid: int) -> list[Member]:
        return [m for m in self.members if oid in m.tables]

    # --- hypothetical indexes -----------------------------------------------------------------------

    @contextmanager
    def imagined(self, candidates: list[Candidate]) -> Iterator[dict[str, tuple[Candidate, int]]]:
        """These indexes exist for the planner (HypoPG, this session only) while inside: their
        hypothetical names -> (candidate, estimated bytes). One that HypoPG cannot build (a type
        without a btree operator class) is left out."""
        import psycopg

        assert self.coster.hypopg is not None
        schema = sql.Identifier(self.coster.hypopg)
        made: dict[str, tuple[Candidate, int]] = {}
        self.coster.imagining = True
        try:
            for c in candidates:
                try:
                    rows = self.coster.lab.call(
                        sql.SQL(
                            "SELECT h.indexname, {schema}.hypopg_relation_size(h.indexrelid) "
                            "FROM {schema}.hypopg_create_index({ddl}) h"
                        ).format(schema=schema, ddl=sql.Literal(self.ddl(c)))
                    )
                except psycopg.Error:
                    continue
                for name, size in rows:
                    made[str(name)] = (c, int(size or 0))
            yield made
        finally:
            self.coster.lab.call(sql.SQL("SELECT {}.hypopg_reset()").format(schema), final=True)
            self.coster.imagining = False

    def ddl(self, c: Candidate) -> str:
        facts = self.facts[c.table]
        text = "CREATE INDEX ON {} ({})".format(
            f"{quote_ident(facts.schema)}.{quote_ident(facts.name)}", ", ".join(map(quote_ident, c.columns))
        )
        if c.include:
            text += " INCLUDE ({})".format(", ".join(map(quote_ident, c.include)))
        return text

    def remaining_ms(self) -> float:
        """The workload's time as it would be with the indexes chosen so far: each statement's measured
        time scaled by the share of its cost left (the threshold's base: once one index has cut the
        workload tenfold, the next is judged against what is left, as a DBA would)."""
        return sum(
            m.statement.total_ms * min(1.0, self.current.get(m.statement.queryid, m.cost) / m.cost)
            for m in self.members
            if m.cost > 0
        )

    def saving(self, m: Member, was: float | None, now: float | None) -> float:
        """The time a statement saves when its cost falls from `was` to `now`: its measured time scaled
        by the fall's share of the cost it had when it was measured (after an earlier index cut its
        cost tenfold, a further halving saves a twentieth of its time, not half)."""
        if not was or now is None or m.cost <= 0 or now > was * (1 - MIN_IMPROVEMENT):
            return 0.0
        return m.statement.total_ms * (was - now) / max(m.cost, was)

    def costs(self, members: list[Member]) -> dict[int, float]:
        out = {}
        for m in members:
            cost = self.coster.cost(m.statement)
            if cost is not None:
                out[m.statement.queryid] = cost
        return out

    # --- the choice ---------------------------------------------------------------------------------

    def pool(self, candidates: list[Candidate]) -> list[Candidate]:
        """The candidates the planner uses with every candidate in place, and the narrower ones
        that lead with the same column (the narrowest that serves is preferred later)."""
        used: set[Candidate] = set()
        with self.imagined(candidates) as made:
            by_name = {name: c for name, (c, _size) in made.items()}
            tables = {c.table for c in candidates}
            for m in self.members:
                if not tables & set(m.tables):
                    continue
                plan = self.coster.plan(m.statement)
                used |= {by_name[n] for n in _index_names(plan) if n in by_name}
        pool = set(used)
        for u in used:
            pool |= {
                c
                for c in candidates
                if c.table == u.table and len(c.columns) < len(u.columns) and c.columns[0] == u.columns[0]
            }
        return sorted(pool, key=lambda c: (c.table, c.width, c.columns))

    def evaluate(self, c: Candidate) -> Chosen | None:
        """What `c` saves beside the indexes already chosen, less its cost to writes."""
        members = self.touching(c.table)
        others = [ch.candidate for ch in self.chosen]
        with self.imagined([*others, c]) as made:
            if not any(cand == c for cand, _size in made.values()):
                return None
            size = next(size for cand, size in made.values() if cand == c)
            after = self.costs(members)
        saved = sum(
            self.saving(m, self.current.get(m.statement.queryid), after.get(m.statement.queryid)) for m in members
        )
        added = sum(1 for ch in self.chosen if ch.candidate.table == c.table)
        penalty = write_cost(self.facts[c.table], self.members, c, added)
        before = {m.statement.queryid: self.current[m.statement.queryid] for m in members}
        return Chosen(c, saved, penalty, before, after, size)

    def choose(self) -> list[Chosen]:
        candidates = self.candidates()
        if not candidates:
            return []
        pool = self.pool(candidates)
        while len(self.chosen) < MAX_CHOSEN:
            best: Chosen | None = None
            for c in pool:
                if any(c == ch.candidate for ch in self.chosen):
                    continue
                mine = [ch.candidate.columns for ch in self.chosen if ch.candidate.table == c.table]
                if covered(c.columns, mine) or len(mine) >= MAX_PER_TABLE:
                    continue
                result = self.evaluate(c)
                if result is not None and (best is None or _better(result, best)):
                    best = result
            threshold = self.min_saving * self.remaining_ms()
            if best is None or best.saved - best.penalty <= 0 or best.saved - best.penalty < threshold:
                if best is not None and best.saved > 0:
                    facts = self.facts[best.candidate.table]
                    self.notes.append(
                        f"{facts.qualified}: best further candidate ({', '.join(best.candidate.columns)}) would "
                        f"save {best.saved:.1f} ms less {best.penalty:.1f} ms of writes: below the "
                        f"{threshold:.1f} ms threshold ({self.min_saving:g} of the workload's "
                        f"{self.remaining_ms():.0f} ms with the indexes chosen before it)"
                    )
                break
            best = self.include(best)
            self.chosen.append(best)
            self.current.update(best.after)
        self.consolidate()
        return self.chosen

    def consolidate(self) -> None:
        """An index another chosen one leads with is redundant: the wider one serves its queries. Then
        each index's evidence is what it adds beside all the others (the set as it will be built), and
        one that adds nothing is dropped."""
        if not self.chosen:
            return
        kept = [
            ch
            for ch in self.chosen
            if not any(
                other is not ch
                and other.candidate.table == ch.candidate.table
                and len(other.candidate.columns) > len(ch.candidate.columns)
                and other.candidate.columns[: len(ch.candidate.columns)] == ch.candidate.columns
                for other in self.chosen
            )
        ]
        if len(kept) == len(self.chosen) and len(kept) == 1:
            return
        tables = {ch.candidate.table for ch in kept}
        members = [m for m in self.members if tables & set(m.tables)]
        with self.imagined([ch.candidate for ch in kept]) as made:
            sizes = {cand: size for cand, size in made.values()}
            after = self.costs(members)
        final = []
        for ch in kept:
            others = [o.candidate for o in kept if o is not ch]
            touching = self.touching(ch.candidate.table)
            with self.imagined(others):
                before = self.costs(touching)
            saved = sum(
                self.saving(m, before.get(m.statement.queryid), after.get(m.statement.queryid)) for m in touching
            )
            if saved <= 0:
                continue
            final.append(Chosen(ch.candidate, saved, ch.penalty, before, after, sizes.get(ch.candidate, ch.bytes)))
        self.chosen = final

    def include(self, chosen: Chosen) -> Chosen:
        """The chosen index with INCLUDE columns, when they make its scans index-only and pay."""
        c = chosen.candidate
        outputs: list[str] = []
        for m in self.touching(c.table):
            if chosen.after.get(m.statement.queryid, 0) < chosen.before.get(m.statement.queryid, 0):
                for column in m.tables[c.table].outputs:
                    if column not in c.columns and column not in outputs:
                        outputs.append(column)
        if not outputs or len(outputs) > MAX_INCLUDE or len(c.columns) + len(outputs) > MAX_COLUMNS + MAX_INCLUDE:
            return chosen
        wider = self.evaluate(Candidate(c.table, c.columns, tuple(outputs)))
        if wider is None or chosen.saved <= 0:
            return chosen
        gain = (wider.saved - wider.penalty) - (chosen.saved - chosen.penalty)
        if gain >= INCLUDE_GAIN * chosen.saved and wider.bytes <= 2 * max(chosen.bytes, 1):
            return wider
        return chosen

    # --- advice -------------------------------------------------------------------------------------

    def advice(self, profile_keys: dict[int, str]) -> list[Advice]:
        out = []
        for ch in sorted(self.chosen, key=lambda ch: -(ch.saved / max(ch.bytes, 1))):
            c, facts = ch.candidate, self.facts[ch.candidate.table]
            helped = [
                m.statement
                for m in self.touching(c.table)
                if ch.after.get(m.statement.queryid) is not None
                and ch.before.get(m.statement.queryid)
                and ch.after[m.statement.queryid] <= ch.before[m.statement.queryid] * (1 - MIN_IMPROVEMENT)
            ]
            name = index_name(facts.name, c.columns)
            entry: dict[str, Any] = {"columns": [quote_ident(x) for x in c.columns]}
            if c.include:
                entry["include"] = [quote_ident(x) for x in c.include]
            evidence = {
                "queries": [
                    {
                        "queryid": s.queryid,
                        "calls": s.calls,
                        "total_ms": round(s.total_ms, 3),
                        "cost_before": round(ch.before[s.queryid], 2),
                        "cost_after": round(ch.after[s.queryid], 2),
                    }
                    for s in helped
                ],
                "saved_ms": round(ch.saved, 3),
                "write_penalty_ms": round(ch.penalty, 3),
                "bytes": ch.bytes,
                "table": {
                    "rows": facts.live_rows,
                    "inserted": facts.inserted,
                    "updated": facts.updated,
                    "hot_updated": facts.hot_updated,
                    "deleted": facts.deleted,
                    "indexes": len(facts.indexes),
                },
            }
            include = f" INCLUDE ({', '.join(c.include)})" if c.include else ""
            total = sum(s.total_ms for s in helped)
            out.append(
                Advice(
                    "index",
                    facts.qualified,
                    f"index {name} on {facts.qualified} ({', '.join(c.columns)}){include}: saves ~{ch.saved:.0f} ms "
                    f"of {total:.0f} ms over {len(helped)} quer{'y' if len(helped) == 1 else 'ies'}, writes cost "
                    f"~{ch.penalty:.1f} ms, ~{_size(ch.bytes)}",
                    evidence,
                    ((("tables", profile_keys[c.table], "indexes", name), entry),),
                    columns=c.columns,
                    name=name,
                )
            )
        return out


def pinned(columns: tuple[str, ...], unique: list[tuple[str, ...]]) -> bool:
    """The leading columns hold every column of a unique index: they find one row already, so the
    index would repeat the unique one, and any column after them sorts nothing."""
    return any(set(u) <= set(columns[: len(u)]) for u in unique if u)


def write_cost(facts: TableFacts, members: list[Member], c: Candidate, added: int) -> float:
    """What one more index costs the writes of the same window (pg_stat_statements' rows of the
    statements that write the table): an entry per row inserted, deleted or updated without HOT, and,
    when the index holds a column an UPDATE writes, every HOT update turned into one that writes every
    index (pgtune.advice.indexes.write_penalty, on the plan's write target)."""
    hot_share = facts.hot_updated / facts.updated if facts.updated else 0.0
    indexes = len(facts.indexes) + added
    columns = set(c.columns) | set(c.include)
    penalty = 0.0
    for m in members:
        s = m.statement
        if m.writes != c.table or s.shape is None:
            continue
        if s.shape.command == "update":
            penalty += s.rows * (1 - hot_share) * WRITE_MS_PER_ENTRY
            if set(s.shape.written) & columns:
                penalty += s.rows * hot_share * WRITE_MS_PER_ENTRY * (indexes + 1)
        else:
            penalty += s.rows * WRITE_MS_PER_ENTRY
    return penalty


def _better(a: Chosen, b: Chosen) -> bool:
    """A wider index must save clearly more (NARROWER_WINS) than a narrower one to be preferred:
    each column more costs space and writes the cost model does not see."""
    na, nb = a.saved - a.penalty, b.saved - b.penalty
    wa, wb = a.candidate.width, b.candidate.width
    if wa < wb:
        return na >= nb * (1 - NARROWER_WINS)
    if wa > wb:
        return na > nb * (1 + NARROWER_WINS)
    return na > nb or (na == nb and a.bytes < b.bytes)


def _index_names(plan: Any) -> Iterator[str]:
    stack = [plan]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "Index Name" in node:
                yield str(node["Index Name"])
            stack.extend(node.get("Plans") or [])


def _size(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n} B"
