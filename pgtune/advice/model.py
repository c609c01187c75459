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


@dataclass
class Report:
    database: str
    advice: list[Advice] = field(default_factory=list)
    in_use: list[InUse] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was read, what was left alone and why
    missing: list[str] = field(default_factory=list)  # prerequisites absent: that advice was not given
    statements: int = 0  # SQL statements pgtune sent (bench/advise.py prints it)

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "advice": [a.to_dict() for a in self.advice],
            "in_use": [{"table": u.table, "index": u.index, "queries": list(u.queries)} for u in self.in_use],
            "notes": self.notes,
            "missing": self.missing,
        }
