"""What an apply did, change by change: data the executor produces and renderers print.

Kept apart from the executor so that rendering a report needs neither psycopg nor the executor."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgtune.plan.model import Address, Change, Plan

APPLIED, FAILED, SKIPPED = "applied", "failed", "skipped"


@dataclass
class Outcome:
    change: Change
    status: str
    error: str | None = None


@dataclass
class ApplyReport:
    outcomes: list[Outcome] = field(default_factory=list)
    reloaded: bool = False
    pgbouncer_reloaded: bool = False
    reload_error: str | None = None  # the configuration reload after the changes failed (server gone?)

    @property
    def failed(self) -> bool:
        return self.reload_error is not None or any(o.status == FAILED for o in self.outcomes)


def statuses(report: ApplyReport, after: Plan) -> dict[Address, str]:
    """Applied changes classified by what the server shows afterwards."""
    pending = {n.address for n in after.notices if n.code == "RESTART_PENDING" and n.address is not None}
    remaining = {c.address for c in after.changes}
    out = {}
    for outcome in report.outcomes:
        if outcome.status != APPLIED:
            continue
        obj = outcome.change.address
        if obj in pending:
            out[obj] = "applied-restart-pending"
        elif obj in remaining:
            out[obj] = "unconverged"
    return out
