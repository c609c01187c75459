"""A primary with its standbys (--dsn once per node): every kind on the primary, server-wide
settings by ALTER SYSTEM on every node (standbys first), the restart order in the plan — the
restarts themselves are the operator's (or the Ansible example's, in that order)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pgtune.base.errors import ApplyRefused
from pgtune.targets import RestartReport, Where, register

if TYPE_CHECKING:
    import psycopg

    from pgtune.plan.cluster import ClusterPlan, Topology
    from pgtune.plan.model import Plan
    from pgtune.plan.report import ApplyReport, Outcome
    from pgtune.targets.executor import ExecOptions
    from pgtune.targets.workflow import Inputs


@dataclass
class ReplicasSession:
    topology: Topology
    conns: dict[str, psycopg.Connection]

    def lock(self, wait: float) -> AbstractContextManager[None]:
        from pgtune.targets.lock import apply_lock

        return apply_lock(self.conns[self.topology.primary.name], wait)

    def derive(self, inputs: Inputs) -> ClusterPlan:
        from pgtune.targets.clusterflow import derive_cluster

        return derive_cluster(self.topology, self.conns, inputs)

    def gated(self, plan: ClusterPlan) -> list[Plan]:
        return [p.plan for p in plan.plans]

    def execute(
        self, plan: ClusterPlan, inputs: Inputs, options: ExecOptions, on_outcome: Callable[[Outcome], None] | None
    ) -> dict[str, ApplyReport]:
        """Standbys' settings first (a raise must reach them before the primary), then the primary."""
        from pgtune.plan.model import Plan
        from pgtune.targets.executor import execute
        from pgtune.targets.workflow import bouncer_for

        reports: dict[str, ApplyReport] = {}
        for p in sorted(plan.plans, key=lambda p: p.node.primary):
            if p.plan.empty:
                continue
            bouncer_plan = p.plan if p.node.primary else Plan(p.plan.profile, p.plan.server)
            with bouncer_for(bouncer_plan, inputs.loaded) as bouncer:
                report = execute(p.plan, self.conns[p.node.name], options, on_outcome=on_outcome, bouncer=bouncer)
            reports[p.node.name] = report
            if report.failed:
                break
        return reports

    def restart(self, inputs: Inputs, on_step: Callable[[str], None] | None) -> RestartReport:
        raise ApplyRefused("pgtune does not restart plain replication: restart the nodes in the plan's order")

    def reread(self, inputs: Inputs) -> ClusterPlan:
        from pgtune.targets import topology as cluster
        from pgtune.targets.clusterflow import derive_cluster

        with cluster.connections(self.topology) as conns:
            return derive_cluster(self.topology, conns, inputs)


@dataclass(frozen=True)
class Replicas:
    dsns: tuple[str, ...]
    name: str = "primary with standbys"
    restarts: bool = False

    @contextmanager
    def open(self) -> Iterator[ReplicasSession]:
        from pgtune.targets import topology as cluster

        topology = cluster.discover(self.dsns)
        with cluster.connections(topology) as conns:
            yield ReplicasSession(topology, conns)


def _choose(where: Where) -> Replicas | None:
    return Replicas(where.dsns) if len(where.dsns) > 1 and where.option("patroni") is None else None


register(_choose)
