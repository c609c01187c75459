"""The workload as pgtune may plan it: the statements read from pg_stat_statements that touch this
database's own tables, each either plannable or set aside with its reason (untrusted functions, a
role pgtune may not become) — the one place `advise` and the plan's workload impact decide it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pgtune.advice.catalog import Statement, TableFacts, tables
from pgtune.advice.lab import Lab
from pgtune.advice.model import Coverage
from pgtune.advice.trust import SHOWN, judge

_CATALOGS = ("pg_catalog", "information_schema")


def ours(table: TableFacts) -> bool:
    """A relation of the database's own: not the catalog's, not an extension's (pg_stat_statements)."""
    return table.schema not in _CATALOGS and not table.extension


@dataclass
class Workload:
    statements: list[Statement]  # on this database's tables, costliest first
    coverage: Coverage
    unplanned: dict[int, tuple[str, str]] = field(default_factory=dict)  # queryid -> (reason, detail)

    @property
    def plannable(self) -> list[Statement]:
        return [s for s in self.statements if s.queryid not in self.unplanned]

    def account(self, planned: set[int], lab: Lab) -> None:
        """Every statement accounted for in the coverage: planned, or why not."""
        coverage = self.coverage
        for s in self.statements:
            if s.queryid in planned:
                coverage.planned += 1
                coverage.planned_ms += s.total_ms
            elif s.queryid in self.unplanned:
                coverage.add(s, *self.unplanned[s.queryid])
            elif s.queryid in lab.failures:
                failure = lab.failures[s.queryid]
                coverage.add(s, failure.reason, failure.message)
            elif coverage.stopped is not None and s.shape is not None and s.shape.command != "insert":
                coverage.add(s, "deadline", "not reached before the deadline")


class Trusting(Protocol):
    """What decides which statements may be planned: advise's and the impact's options alike."""

    @property
    def trust_functions(self) -> bool: ...

    @property
    def trusted_extensions(self) -> tuple[str, ...]: ...


def read_with(lab: Lab, statements: Sequence[Statement], options: Trusting, version_num: int) -> Workload:
    """`read` with the trust a command's options give."""
    return read(
        lab,
        statements,
        trust_functions=options.trust_functions,
        trusted_extensions=options.trusted_extensions,
        version_num=version_num,
    )


def read(
    lab: Lab,
    statements: Sequence[Statement],
    *,
    trust_functions: bool,
    trusted_extensions: Sequence[str],
    version_num: int,
) -> Workload:
    """The statements on this database's tables, with what they call judged (pgtune.advice.trust)
    and the roles that ran them assumed (pgtune.advice.lab): a constant number of queries."""
    readable = [s for s in statements if s.shape is not None]
    named = sorted({n for s in readable if s.shape for n in s.shape.names.relations}, key=lambda k: (k[0] or "", k[1]))
    with lab.reading() as session:
        found = {k for k, t in tables(session, named).items() if ours(t)}
        readable = [s for s in readable if s.shape and any(n in found for n in s.shape.names.relations)]
        verdicts = (
            None
            if trust_functions
            else judge(session, [s.shape.names for s in readable if s.shape], trusted_extensions, version_num)
        )
    workload = Workload(readable, Coverage(len(statements), len(readable), sum(s.total_ms for s in readable)))
    for s in readable:
        reached = verdicts.of(s.shape.names) if verdicts is not None and s.shape else []
        if reached:
            workload.unplanned[s.queryid] = ("untrusted", "; ".join(reached[:SHOWN]))
    lab.assume(sorted({s.role for s in readable if s.queryid not in workload.unplanned}))
    for s in readable:
        if s.queryid not in workload.unplanned and s.role in lab.refused:
            workload.unplanned[s.queryid] = ("role", lab.refused[s.role])
    return workload
