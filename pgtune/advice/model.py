"""Advice as data: what to add to the profile, the evidence for it, and where it goes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pgtune.profile.source import PathKey


@dataclass(frozen=True)
class Advice:
    kind: str  # index | storage | setting
    object: str  # schema.table, or the setting's name
    summary: str  # one line for people
    evidence: dict[str, Any]
    entries: tuple[tuple[PathKey, Any], ...]  # profile path -> value, what --into writes
    columns: tuple[str, ...] = ()  # index
    name: str | None = None  # index
    values: dict[str, str] = field(default_factory=dict)  # storage parameters / the setting and its scope

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "object": self.object, "summary": self.summary}
        if self.kind == "index":
            out |= {"name": self.name, "columns": list(self.columns)}
        else:
            out["values"] = dict(self.values)
        out["evidence"] = self.evidence
        out["profile"] = [{"path": list(path), "value": value} for path, value in self.entries]
        return out


@dataclass(frozen=True)
class InUse:
    """A declared index and the queries whose generic plans use it now (the loop closing)."""

    table: str
    index: str
    queries: tuple[int, ...]  # queryids


REASONS = {
    "untrusted": "call functions pgtune does not trust (--trust-functions, or trusted_extensions in the profile)",
    "role": "ran as roles pgtune may not plan as",
    "timeout": "took too long to plan",
    "lock": "waited for a lock",
    "privilege": "were refused by the server",
    "error": "could not be planned",
    "deadline": "were not reached before the deadline",
}
"""Why statements were not planned, as a note says it."""


@dataclass
class Coverage:
    """How much of the workload the advice rests on: statements planned, and why the others were not."""

    read: int = 0  # statements read from pg_stat_statements
    workload: int = 0  # of them, on this database's tables
    workload_ms: float = 0.0
    planned: int = 0
    planned_ms: float = 0.0
    not_planned: list[dict[str, Any]] = field(default_factory=list)  # queryid, reason, detail, total_ms
    stopped: str | None = None  # why planning stopped early (the deadline)

    def add(self, statement: Any, reason: str, detail: str) -> None:
        self.not_planned.append(
            {"queryid": statement.queryid, "reason": reason, "detail": detail, "total_ms": round(statement.total_ms, 3)}
        )

    def notes(self) -> list[str]:
        share = self.planned_ms / self.workload_ms if self.workload_ms else 1.0
        out = [f"planned {self.planned} of {self.workload} statements ({share:.0%} of the workload's time)"]
        if self.stopped:
            out.append(self.stopped)
        by_reason: dict[str, list[dict[str, Any]]] = {}
        for entry in self.not_planned:
            by_reason.setdefault(entry["reason"], []).append(entry)
        for reason, entries in by_reason.items():
            examples = "; ".join(f"{e['queryid']}: {e['detail']}" for e in entries[:3])
            out.append(f"not planned: {len(entries)} statements {REASONS.get(reason, reason)} ({examples})")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "statements_read": self.read,
            "workload_statements": self.workload,
            "planned": self.planned,
            "time_share_planned": round(self.planned_ms / self.workload_ms, 4) if self.workload_ms else 1.0,
            "not_planned": self.not_planned,
            "stopped": self.stopped,
        }


@dataclass
class Report:
    database: str
    advice: list[Advice] = field(default_factory=list)
    in_use: list[InUse] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was read, what was left alone and why
    missing: list[str] = field(default_factory=list)  # prerequisites absent: that advice was not given
    statements: int = 0  # SQL statements pgtune sent (bench/advise.py prints it)
    coverage: Coverage | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "advice": [a.to_dict() for a in self.advice],
            "in_use": [{"table": u.table, "index": u.index, "queries": list(u.queries)} for u in self.in_use],
            "notes": self.notes,
            "missing": self.missing,
            "coverage": self.coverage.to_dict() if self.coverage else None,
        }
