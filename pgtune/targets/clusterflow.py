"""Deriving a cluster's plan — a primary with standbys (ALTER SYSTEM on each node), or a Patroni
cluster (the DCS through Patroni's REST API) — and Patroni's restarts. The apply sequence over them
is `pgtune.targets.sequence.apply` (targets `replicas` and `patroni`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgtune.base.errors import raise_if_any
from pgtune.integrations import patroni
from pgtune.kinds import PlanContext, settings
from pgtune.kinds.engine import server_info
from pgtune.plan import cluster as clusterplan
from pgtune.plan.model import Change, Notice, Plan
from pgtune.targets import RestartReport, restart_walk
from pgtune.targets import topology as cluster
from pgtune.targets.workflow import Inputs, derive


def standby_inputs(inputs: Inputs) -> Inputs:
    """What a standby is planned for: the kinds whose state each node holds (`runs_on`); the rest
    live in the replicated catalog (the primary's), and the pools are checked against the primary."""
    return replace(inputs, standby=True, privileges_of=None)


def derive_cluster(
    topology: clusterplan.Topology, conns: dict[str, psycopg.Connection], inputs: Inputs
) -> clusterplan.ClusterPlan:
    """One plan for the cluster: every kind on the primary, server-wide settings on every node, and
    the order the nodes must be restarted in (refused when no order is safe)."""
    plans = []
    for node in topology.nodes:
        node_inputs = inputs if node.primary else standby_inputs(inputs)
        plans.append(clusterplan.NodePlan(node, derive(conns[node.name], node_inputs, node.dsn)))
    values = {
        p.node.name: clusterplan.planned_values(
            p.plan, cluster.minimum_values(settings.read(conns[p.node.name], [], with_files=True))
        )
        for p in plans
    }
    pending = {
        p.node.name
        for p in plans
        if p.plan.restart_required or any(n.code == "RESTART_PENDING" and n.kind == "setting" for n in p.plan.notices)
    }
    return clusterplan.assemble(topology, plans, values, pending, clusterplan.drift(plans))


# --- Patroni ---------------------------------------------------------------------------------

RESTART_WAIT = 180.0
"""Seconds one member may take to restart and, a replica, to stream and catch up again."""
SETTLE_WAIT = 60.0
"""Seconds Patroni may take to bring a PATCH to every member (a reload, or pending_restart)."""


def _member_dsn(base: str, member: patroni.Member) -> str:
    """SQL to a member: its host and port from Patroni, the rest (user, password, dbname, sslmode)
    from the DSN given (or libpq's environment)."""
    parts = conninfo_to_dict(base) if base else {}
    parts.update(host=member.host, port=str(member.port))
    return make_conninfo("", **parts)


def patroni_topology(client: patroni.Client, base_dsn: str) -> tuple[clusterplan.Topology, dict[str, patroni.Member]]:
    """The members Patroni reports, checked over SQL to be one cluster led by Patroni's leader."""
    members = client.members()
    leaders = [m for m in members if m.leader]
    if len(leaders) != 1:
        raise patroni.PatroniError(
            f"Patroni reports {len(leaders)} leaders ({', '.join(m.name for m in leaders) or 'none'}): "
            "plan again once the cluster has one"
        )
    topology = cluster.discover([_member_dsn(base_dsn, m) for m in members])
    by_address = {f"{m.host}:{m.port}": m.name for m in members}
    nodes = tuple(
        replace(n, name=by_address.get(n.name, n.name), upstream=by_address.get(n.upstream or "", n.upstream))
        for n in topology.nodes
    )
    if nodes[0].name != leaders[0].name:
        raise patroni.PatroniError(
            f"Patroni's leader is {leaders[0].name}, but the member not in recovery is {nodes[0].name}"
        )
    return clusterplan.Topology(nodes), {m.name: m for m in members}


def derive_patroni(
    client: patroni.Client,
    topology: clusterplan.Topology,
    members: dict[str, patroni.Member],
    conns: dict[str, psycopg.Connection],
    inputs: Inputs,
) -> clusterplan.ClusterPlan:
    """One plan for a Patroni cluster: the SQL kinds (tables, per-database and per-role settings)
    on the leader; server-wide settings typed by the leader's pg_settings, compared with the DCS and
    what each member runs, changed through PATCH /config; the restart order."""
    leader = topology.primary
    loaded = inputs.loaded
    # Everything but ALTER SYSTEM on the leader; its pool checks still see the profile's settings as planned.
    primary_plan = derive(conns[leader.name], replace(inputs, server_settings=False))
    plans = [clusterplan.NodePlan(leader, primary_plan)] + [
        clusterplan.NodePlan(n, Plan(primary_plan.profile, primary_plan.server)) for n in topology.standbys
    ]
    conn = conns[leader.name]
    ctx = PlanContext(conn, loaded, server_info(conn), {})
    desired = [d for d in settings.desired_settings(loaded, settings.workload_settings(ctx)) if d.scope == "system"]
    catalogs = {n.name: settings.read(conns[n.name], desired, with_files=True) for n in topology.nodes}
    typed = settings.validate(settings.adapt(desired, catalogs[leader.name]), catalogs[leader.name], through="patroni")
    dcs = client.parameters()
    result = settings.patroni_diff(typed, dcs, catalogs)
    raise_if_any(result.errors)
    notices: list[Notice] = []
    for n in topology.nodes:
        notices += settings.behind_patroni(n.name, catalogs[n.name])
        member = members.get(n.name)
        if member is not None and member.pending_restart:
            reasons = ", ".join(sorted(member.pending_reason)) or "settings"
            notices.append(
                Notice("setting", n.name, "RESTART_PENDING", f"Patroni reports a pending restart ({reasons})")
            )
    dcs_plan = Plan(primary_plan.profile, primary_plan.server, tuple(result.changes), tuple(notices))
    values = _patroni_values(topology, catalogs, dcs, result.changes)
    pending = {n.name for n in topology.nodes if members.get(n.name) and members[n.name].pending_restart}
    for change in result.changes:
        if change.restart_required:
            pending |= {n.name for n in topology.nodes}
    return clusterplan.assemble(topology, plans, values, pending, dcs=dcs_plan)


def _patroni_values(
    topology: clusterplan.Topology,
    catalogs: dict[str, settings.SettingsCatalog],
    dcs: dict[str, object],
    changes: Sequence[Change],
) -> dict[str, dict[str, tuple[int, int]]]:
    """(running, planned) of the hot-standby minimums per member: planned is what the DCS will hold."""
    planned_dcs = {k.lower(): v for k, v in dcs.items()}
    for change in changes:
        planned_dcs[change.address.name] = change.after
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for n in topology.nodes:
        values = {}
        for name, (running, _configured) in cluster.minimum_values(catalogs[n.name]).items():
            planned = planned_dcs.get(name)
            try:
                values[name] = (running, running if planned is None else int(str(planned)))
            except ValueError:
                values[name] = (running, running)
        out[n.name] = values
    return out


def restart_members(
    client: patroni.Client,
    plan: clusterplan.ClusterPlan,
    members: dict[str, patroni.Member],
    on_step: Callable[[str], None] | None = None,
    wait: float = RESTART_WAIT,
) -> RestartReport:
    """POST /restart to each pending member in the plan's order; after each, wait (bounded) until
    it runs with nothing pending and every replica streams and has replayed the leader's position."""

    def begin(s: clusterplan.RestartStep) -> tuple[str, Callable[[], object]]:
        return f"restarting {s.node} ({s.role}) through Patroni", lambda: client.restart(members[s.node])

    def back(s: clusterplan.RestartStep) -> str:
        def up() -> bool:
            now = {m.name: m for m in client.members()}
            me = now.get(s.node)
            if me is None or me.pending_restart or me.state not in ("running", "streaming"):
                return False
            return all(m.state == "streaming" for m in now.values() if not m.leader)

        patroni.wait_for(up, wait, f"{s.node} to be back with nothing pending and every replica streaming")
        patroni.wait_for(
            lambda: cluster.caught_up(plan.topology), wait, "every replica to replay the leader's position"
        )
        return "nothing pending, replicas streaming and caught up"

    return restart_walk(plan.restart, begin, back, on_step)


def settled(client: patroni.Client, plan: clusterplan.ClusterPlan) -> bool:
    """Every PATCHed value reached every member: running it now, or pending a restart there."""
    if plan.dcs is None:
        return True
    from pgtune.integrations.postgres import connect

    now = {m.name: m for m in client.members()}
    for change in plan.dcs.changes:
        name, value = change.address.name, change.after
        for n in plan.topology.nodes:
            if change.restart_required:
                member = now.get(n.name)
                if member is None or not member.pending_restart:
                    return False
                continue
            if value is None:
                continue
            with connect(n.dsn) as conn:
                if settings.runs(conn, name, value) is not True:  # cannot tell: not settled
                    return False
    return True
