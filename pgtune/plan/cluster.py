"""A cluster's plan as data, and the rules for restarting it (pure: renderers import it).

See `pgtune.targets.topology` for how the nodes are found and read.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field

from pgtune.base.errors import PgtuneError
from pgtune.plan.model import Check, Notice, Plan

HOT_STANDBY_MINIMUMS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)
"""Settings a standby must hold at least as high as its primary (PostgreSQL's CheckRequiredParameterValues)."""


class ClusterError(PgtuneError):
    """The nodes given are not one cluster, or the plan cannot be restarted safely."""


@dataclass(frozen=True)
class Node:
    name: str  # host:port as pgtune reached it (or a Patroni member's name)
    dsn: str
    role: str  # primary | standby
    system_identifier: int
    upstream: str | None = None  # a standby's sender, host:port as its WAL receiver reports it
    streaming: bool = False  # a standby's WAL receiver is streaming

    @property
    def primary(self) -> bool:
        return self.role == "primary"


@dataclass(frozen=True)
class Topology:
    nodes: tuple[Node, ...]  # the primary first, then the standbys in the order given

    @property
    def primary(self) -> Node:
        return self.nodes[0]

    @property
    def standbys(self) -> tuple[Node, ...]:
        return self.nodes[1:]


# --- one plan for the cluster ------------------------------------------------------------------


@dataclass(frozen=True)
class NodePlan:
    node: Node
    plan: Plan


@dataclass(frozen=True)
class RestartStep:
    node: str
    role: str


@dataclass(frozen=True)
class ClusterPlan:
    topology: Topology
    plans: tuple[NodePlan, ...]  # the primary's first
    restart: tuple[RestartStep, ...] = ()  # nodes to restart once applied, in this order
    restart_reason: str = ""
    notices: tuple[Notice, ...] = ()
    checks: tuple[Check, ...] = ()
    values: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)  # node -> name -> (running, planned)
    dcs: Plan | None = None  # server-wide settings through the cluster's store (every member), not per node
    store: str = "patroni"  # where `dcs` goes: "patroni" (its DCS) | "parameter_group" (RDS)
    store_name: str = ""  # the parameter group's name (and family), for people

    @property
    def empty(self) -> bool:
        return all(p.plan.empty for p in self.plans) and (self.dcs is None or self.dcs.empty)

    @property
    def pending(self) -> tuple[str, ...]:
        """Nodes that run an old value of a setting written for their next restart."""
        return tuple(s.node for s in self.restart)

    @property
    def profile(self) -> str:
        return self.plans[0].plan.profile


def planned_values(plan: Plan, values: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """(running, planned) per hot-standby minimum on one node once its plan is applied and it restarted."""
    out = {name: (running, configured) for name, (running, configured) in values.items()}
    for change in plan.changes:
        name = change.address.name
        if change.kind == "setting" and change.address.scope is None and name in out:
            with suppress(ValueError):  # a value pgtune cannot read as an integer: the configured one stands
                out[name] = (out[name][0], int(str(change.after)))
    return out


def _depths(topology: Topology) -> dict[str, int]:
    """Hops from the primary: 1 for a standby of the primary, 2 for a standby of that standby ..."""
    upstream = {n.name: n.upstream for n in topology.standbys}
    out = {topology.primary.name: 0}

    def depth(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name in out:
            return out[name]
        parent = upstream.get(name)
        found = 1 if parent is None or parent in seen else depth(parent, seen | {name}) + 1
        out[name] = found
        return found

    for n in topology.standbys:
        depth(n.name)
    return out


def _violations(state: dict[str, dict[str, int]], topology: Topology) -> list[str]:
    primary = state[topology.primary.name]
    out = []
    for standby in topology.standbys:
        for name in HOT_STANDBY_MINIMUMS:
            if name in primary and name in state[standby.name] and state[standby.name][name] < primary[name]:
                out.append(f"{standby.name} {name} {state[standby.name][name]} < primary {primary[name]}")
    return out


def restart_order(
    topology: Topology, values: dict[str, dict[str, tuple[int, int]]], pending: set[str]
) -> tuple[tuple[RestartStep, ...], str]:
    """The nodes to restart (`pending`) in a safe order, and why; ClusterError when none is safe.

    Raises of a hot-standby minimum go to the standbys first, cuts to the primary first; every
    state the cluster passes through, restart by restart, is checked against the rule."""
    if not pending:
        return (), ""
    raised = sorted({n for v in values.values() for n, (r, p) in v.items() if p > r})
    cut = sorted({n for v in values.values() for n, (r, p) in v.items() if p < r})
    depth = _depths(topology)
    # A cascade (a standby streaming from a standby): the rule compares every standby with the
    # primary's values (they travel in the WAL), so any standby order is safe; pgtune restarts the
    # farthest first on a raise and the nearest first on a cut, so each restarted standby finds
    # the one it streams from already running the value it will see next.
    waiting = [n for n in topology.standbys if n.name in pending]
    primary = [topology.primary] if topology.primary.name in pending else []
    if cut and raised:
        raise ClusterError(
            f"this plan raises {', '.join(raised)} and cuts {', '.join(cut)}: a raise must restart the standbys "
            "first and a cut the primary first, so no order of restarts is safe. Apply the raise, restart, then "
            "the cut (two profile changes)"
        )
    nearest_first = sorted(waiting, key=lambda n: depth[n.name])
    farthest_first = sorted(waiting, key=lambda n: -depth[n.name])
    order = primary + nearest_first if cut else farthest_first + primary
    if cut:
        reason = f"{', '.join(cut)} decreases: the primary first (a standby may never run less than its primary)"
    elif raised:
        reason = f"{', '.join(raised)} increases: the standbys first (a standby may never run less than its primary)"
    else:
        reason = "the standbys first, then the primary (no hot-standby minimum changes: the primary restarts last)"
    state = {node: {n: r for n, (r, _p) in v.items()} for node, v in values.items()}
    for step in order:
        state[step.name] = {n: p for n, (_r, p) in values[step.name].items()}
        broken = _violations(state, topology)
        if broken:
            raise ClusterError(
                f"restarting {step.name} ({step.role}) in the order {' → '.join(n.name for n in order)} would leave "
                f"{'; '.join(broken)}: replay would pause on that standby and it would not start again. "
                "Set these settings alike on every node"
            )
    return tuple(RestartStep(n.name, n.role) for n in order), reason


def assemble(
    topology: Topology,
    plans: Sequence[NodePlan],
    values: dict[str, dict[str, tuple[int, int]]],
    pending: set[str],
    notices: Sequence[Notice] = (),
    dcs: Plan | None = None,
) -> ClusterPlan:
    """The cluster's plan from its nodes' plans: the restart order (refused when none is safe) and
    the checks of what runs now, from each node's (running, planned) hot-standby minimums."""
    restart, reason = restart_order(topology, values, pending)
    return ClusterPlan(
        topology, tuple(plans), restart, reason, tuple(notices), tuple(check_running(topology, values)), values, dcs
    )


def check_running(topology: Topology, values: dict[str, dict[str, tuple[int, int]]]) -> list[Check]:
    """Is the cluster breaking the hot-standby rule right now (replay paused on a standby)? Is
    every standby streaming?"""
    state = {node: {n: r for n, (r, _p) in v.items()} for node, v in values.items()}
    broken = _violations(state, topology)
    idle = [n.name for n in topology.standbys if not n.streaming]
    streams = (
        [Check("STANDBY_STREAMING", "warn", f"not streaming right now (reconnecting?): {', '.join(idle)}")]
        if idle
        else []
    )
    if broken:
        return [
            Check(
                "HOT_STANDBY_MINIMUMS",
                "warn",
                "running now: " + "; ".join(broken) + " — replay is paused there until it runs at least as much",
            ),
            *streams,
        ]
    return [
        Check("HOT_STANDBY_MINIMUMS", "ok", "every standby runs the hot-standby minimums at least as high"),
        *streams,
    ]


def drift(plans: Sequence[NodePlan]) -> list[Notice]:
    """Server-wide settings that differ between nodes before the plan (each node's change shows it)."""
    by_name: dict[str, dict[str, str]] = {}
    for p in plans:
        for c in p.plan.changes:
            if c.kind == "setting" and c.address.scope is None:
                by_name.setdefault(c.address.name, {})[p.node.name] = "(not set)" if c.before is None else str(c.before)
    out = []
    for name, found in sorted(by_name.items()):
        if 0 < len(found) < len(plans) or len(set(found.values())) > 1:
            seen = ", ".join(f"{node} {value}" for node, value in found.items())
            others = [p.node.name for p in plans if p.node.name not in found]
            tail = f"; {', '.join(others)} already as the profile says" if others else ""
            out.append(Notice("setting", name, "NODE_DRIFT", f"the nodes differ: {seen}{tail}"))
    return out
