"""The workload impact as data: each statement's plan before and after the plan's changes, what was
modelled and what was not, and how much of the workload it covers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pgtune.advice.impact.changes import NotModelled
from pgtune.advice.impact.plans import IMPROVES, REGRESSES, Shape, movement
from pgtune.advice.model import Coverage

MIN_SHARE = 0.01
"""A regression gates a deploy (--max-regression) only for statements with at least this share of
the workload's time: a statement nobody waits for does not stop a change."""
MAX_QUERY = 2000
"""Characters of a statement's text kept: the text is the workload's (untrusted), bounded."""


@dataclass(frozen=True)
class StatementImpact:
    queryid: int
    query: str  # normalised by pg_stat_statements, re-printed by pglast
    role: str
    calls: int
    total_ms: float
    time_share: float  # of the database's statement time in pg_stat_statements
    before: Shape
    after: Shape
    applied: tuple[str, ...]  # the plan's changes that reach this statement
    comparable: bool  # the cost model is the same before and after
    verdict: str | None  # improves | regresses | same; None: not comparable
    ratio: float | None  # (after - before) / before, when comparable

    @property
    def plan_changed(self) -> bool:
        return self.before.nodes != self.after.nodes

    @property
    def movement(self) -> str:
        """The plan change in one line (nodes that left → nodes that came)."""
        return movement(self.before, self.after)

    @property
    def moved(self) -> bool:
        return self.plan_changed or self.verdict in (IMPROVES, REGRESSES)

    def to_dict(self) -> dict[str, Any]:
        return {
            "queryid": self.queryid,
            "query": self.query,
            "role": self.role,
            "calls": self.calls,
            "time_share": round(self.time_share, 4),
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "applied": list(self.applied),
            "plan_changed": self.plan_changed,
            "comparable": self.comparable,
            "verdict": self.verdict,
            "cost_change": round(self.ratio, 4) if self.ratio is not None else None,
        }


@dataclass
class Impact:
    database: str
    statements: list[StatementImpact] = field(default_factory=list)
    not_modelled: list[NotModelled] = field(default_factory=list)
    modelled: list[str] = field(default_factory=list)  # the changes the session modelled
    coverage: Coverage | None = None
    missing: list[str] = field(default_factory=list)  # prerequisites absent (pg_stat_statements)
    notes: list[str] = field(default_factory=list)

    def share(self, verdict: str) -> float:
        return sum(s.time_share for s in self.statements if s.verdict == verdict)

    @property
    def improved(self) -> list[StatementImpact]:
        return [s for s in self.statements if s.verdict == IMPROVES]

    @property
    def regressed(self) -> list[StatementImpact]:
        return [s for s in self.statements if s.verdict == REGRESSES]

    @property
    def changed(self) -> list[StatementImpact]:
        return [s for s in self.statements if s.plan_changed]

    def regressions(self, limit: float) -> list[StatementImpact]:
        """Comparable statements whose cost grows by more than `limit` (a fraction) and that carry
        at least MIN_SHARE of the workload's time: what --max-regression refuses."""
        return [
            s
            for s in self.statements
            if s.verdict == REGRESSES and s.ratio is not None and s.ratio > limit and s.time_share >= MIN_SHARE
        ]

    def movers(self) -> list[StatementImpact]:
        """Statements whose plan or cost moved, the largest share of the workload's time first."""
        return sorted((s for s in self.statements if s.moved), key=lambda s: (-s.time_share, s.queryid))

    def to_dict(self) -> dict[str, Any]:
        coverage = self.coverage.to_dict() if self.coverage else None
        return {
            "database": self.database,
            "coverage": coverage,
            "modelled": self.modelled,
            "not_modelled": [n.to_dict() for n in self.not_modelled],
            "missing": self.missing,
            "summary": {
                "planned": len(self.statements),
                "plan_changed": len(self.changed),
                "improved": len(self.improved),
                "regressed": len(self.regressed),
                "time_share_improved": round(self.share(IMPROVES), 4),
                "time_share_regressed": round(self.share(REGRESSES), 4),
            },
            "statements": [s.to_dict() for s in self.statements],
            "notes": self.notes,
        }
