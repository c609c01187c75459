"""Clusters a Kubernetes operator runs (--cnpg-cluster, --pgo-cluster, --zalando-cluster FILE): the
profile's server-wide settings are planned against the manifest's parameters and written into that
file (every other byte kept) — the operator renders them, reloads, and restarts in its own order;
pgtune never restarts a pod. Everything else in the profile runs over SQL on --dsn (the cluster's
-rw service); without --dsn only the manifest is planned, typed by the bundled description of its
PostgreSQL version.

The target itself; the package's __init__ declares its options and chooser (all a command line
needs before one is chosen)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pgtune.base.errors import ApplyRefused
from pgtune.targets import RestartReport
from pgtune.targets.store import all_to, execute_with_store, gated, not_derived

if TYPE_CHECKING:
    import psycopg

    from pgtune.plan.cluster import ClusterPlan
    from pgtune.plan.model import Change, Plan
    from pgtune.plan.report import ApplyReport, Outcome
    from pgtune.targets.executor import ExecOptions
    from pgtune.targets.workflow import Inputs

REPORT_KEY = "manifest"
"""The report key of the changes written into the manifest."""


@dataclass
class ManifestStore:
    """The manifest file as the settings' store: every edit of one apply in one write."""

    target: OperatorCluster
    report_key: str = REPORT_KEY
    per_call: int = 10_000

    def call(self, change: Change) -> Hashable | None:
        return REPORT_KEY if all_to(change, "manifest") else None

    def write(self, batch: list[Change]) -> None:
        import pgtune.targets.operators.manifest as manifest
        from pgtune.base.errors import PgtuneError
        from pgtune.plan.model import ManifestEdit
        from pgtune.targets.operators.manifest import ManifestWriteFailed

        values: dict[str, str | None] = {}
        for stmt in (s for change in batch for s in change.statements):
            if not isinstance(stmt.action, ManifestEdit) or stmt.file != str(self.target.path):
                raise ManifestWriteFailed(not_derived("a manifest"))
            values[stmt.action.key] = stmt.action.value
        try:
            manifest.read(self.target.path, self.target.operator).write(values)
        except (PgtuneError, OSError) as exc:
            raise ManifestWriteFailed(f"{self.target.path}: not written: {exc}") from None

    def wait_settled(self, plan: ClusterPlan) -> None:
        """Nothing to wait for here: the operator rolls the change out (the next plan says whether it runs)."""


@dataclass
class OperatorSession:
    target: OperatorCluster
    conn: psycopg.Connection | None

    def lock(self, wait: float) -> AbstractContextManager[None]:
        from pgtune.targets.lock import apply_lock

        return apply_lock(self.conn, wait) if self.conn is not None else nullcontext()

    def derive(self, inputs: Inputs) -> ClusterPlan:
        import pgtune.targets.operators.manifest as manifest
        from pgtune.targets.operators.derive import derive

        t = self.target
        return derive(manifest.read(t.path, t.operator), self.conn, t.dsn, inputs)

    def gated(self, plan: ClusterPlan) -> list[Plan]:
        return gated(plan)

    def execute(
        self, plan: ClusterPlan, inputs: Inputs, options: ExecOptions, on_outcome: Callable[[Outcome], None] | None
    ) -> dict[str, ApplyReport]:
        """The server's SQL changes, then the manifest's edits in one write; offline, the manifest only."""
        store = ManifestStore(self.target)
        if self.conn is not None:
            return execute_with_store(plan, self.conn, store, inputs, options, on_outcome)
        return {REPORT_KEY: _write_offline(plan, store, on_outcome)}

    def restart(self, inputs: Inputs, on_step: Callable[[str], None] | None) -> RestartReport:
        raise ApplyRefused("pgtune never restarts an operator's pods: the operator does, in its own order")

    def reread(self, inputs: Inputs) -> ClusterPlan:
        return self.derive(inputs)


def _write_offline(
    plan: ClusterPlan, store: ManifestStore, on_outcome: Callable[[Outcome], None] | None
) -> ApplyReport:
    from pgtune.plan.report import APPLIED, FAILED, ApplyReport, Outcome
    from pgtune.targets.operators.manifest import ManifestWriteFailed

    report = ApplyReport()
    changes = list(plan.dcs.changes) if plan.dcs is not None else []
    if not changes:
        return report
    try:
        store.write(changes)
        outcomes = [Outcome(c, APPLIED) for c in changes]
    except ManifestWriteFailed as exc:
        outcomes = [Outcome(c, FAILED, str(exc)) for c in changes]
    for outcome in outcomes:
        report.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return report


@dataclass(frozen=True)
class OperatorCluster:
    path: Path
    operator: str  # cnpg | pgo | zalando
    dsn: str
    name: str = "Kubernetes operator's cluster"
    restarts: bool = False  # the operator restarts its pods, never pgtune
    finish: str = "the operator rolls the change out (pgtune restarts no pod): see the plan's restart line."

    @contextmanager
    def open(self) -> Iterator[OperatorSession]:
        if not self.dsn:
            yield OperatorSession(self, None)
            return
        from pgtune.integrations.postgres import connect

        with connect(self.dsn) as conn:
            yield OperatorSession(self, conn)
