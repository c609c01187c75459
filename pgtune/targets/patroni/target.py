"""A Patroni cluster (--patroni URL): members and leader from Patroni's REST API; the SQL kinds run
on the leader; server-wide settings go to the DCS through PATCH /config (never ALTER SYSTEM on a
member) and apply waits until every member has them; restarts go through POST /restart in the safe
order, each waited for.

The target itself; the package's __init__ declares its option and chooser."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pgtune.targets import DCS, RestartReport
from pgtune.targets.store import all_to, execute_with_store, gated, not_derived

if TYPE_CHECKING:
    import psycopg

    from pgtune.integrations.patroni import Client, Member
    from pgtune.plan.cluster import ClusterPlan, Topology
    from pgtune.plan.model import Change, Plan
    from pgtune.plan.report import ApplyReport, Outcome
    from pgtune.targets.executor import ExecOptions
    from pgtune.targets.workflow import Inputs


@dataclass(frozen=True)
class DcsStore:
    """Patroni's DCS as the settings' store: one PATCH /config per key."""

    client: Client
    report_key: str = DCS
    per_call: int = 1

    def call(self, change: Change) -> Hashable | None:
        return DCS if all_to(change, "patroni") else None

    def write(self, batch: list[Change]) -> None:
        from pgtune.integrations.patroni import PatroniError
        from pgtune.plan.model import PatroniPatch

        for stmt in (s for change in batch for s in change.statements):
            if not isinstance(stmt.action, PatroniPatch):
                raise PatroniError(not_derived("a Patroni"))
            self.client.patch_parameters({stmt.action.key: stmt.action.value})

    def wait_settled(self, plan: ClusterPlan) -> None:
        from pgtune.integrations import patroni
        from pgtune.targets.clusterflow import SETTLE_WAIT, settled

        patroni.wait_for(lambda: settled(self.client, plan), SETTLE_WAIT, "Patroni to apply the new values")


@dataclass
class PatroniSession:
    client: Client
    topology: Topology
    members: dict[str, Member]
    conns: dict[str, psycopg.Connection]

    def lock(self, wait: float) -> AbstractContextManager[None]:
        from pgtune.targets.lock import apply_lock

        return apply_lock(self.conns[self.topology.primary.name], wait)

    def derive(self, inputs: Inputs) -> ClusterPlan:
        from pgtune.targets.clusterflow import derive_patroni

        return derive_patroni(self.client, self.topology, self.members, self.conns, inputs)

    def gated(self, plan: ClusterPlan) -> list[Plan]:
        return gated(plan)

    def execute(
        self, plan: ClusterPlan, inputs: Inputs, options: ExecOptions, on_outcome: Callable[[Outcome], None] | None
    ) -> dict[str, ApplyReport]:
        """The leader's SQL changes, then the DCS key by key, then wait until every member has them."""
        conn = self.conns[self.topology.primary.name]
        return execute_with_store(plan, conn, DcsStore(self.client), inputs, options, on_outcome)

    def restart(self, inputs: Inputs, on_step: Callable[[str], None] | None) -> RestartReport:
        from pgtune.targets import topology as cluster
        from pgtune.targets.clusterflow import derive_patroni, restart_members

        members = {m.name: m for m in self.client.members()}
        with cluster.connections(self.topology) as conns:
            now = derive_patroni(self.client, self.topology, members, conns, inputs)
        return restart_members(self.client, now, members, on_step)

    def reread(self, inputs: Inputs) -> ClusterPlan:
        from pgtune.targets import topology as cluster
        from pgtune.targets.clusterflow import derive_patroni

        with cluster.connections(self.topology) as conns:
            members = {m.name: m for m in self.client.members()}
            return derive_patroni(self.client, self.topology, members, conns, inputs)


@dataclass(frozen=True)
class PatroniCluster:
    url: str
    base_dsn: str
    name: str = "Patroni cluster"
    restarts: bool = True
    # what the CLI says when restarts remain
    finish: str = "pgtune apply ... --patroni URL --restart (restarts through Patroni in this order)."

    @contextmanager
    def open(self) -> Iterator[PatroniSession]:
        from pgtune.integrations import patroni
        from pgtune.targets import topology as cluster
        from pgtune.targets.clusterflow import patroni_topology

        client = patroni.Client(self.url)
        topology, members = patroni_topology(client, self.base_dsn)
        with cluster.connections(topology) as conns:
            yield PatroniSession(client, topology, members, conns)
