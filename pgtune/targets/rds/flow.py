"""An RDS parameter group's plan, its settling and its reboots: the SQL kinds on the instance
`--dsn` reaches (as on any server, without ALTER SYSTEM), server-wide settings against the group,
and what each instance reports. The target is `pgtune.targets.rds.target`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace

import psycopg

import pgtune.targets.rds.group as rdsgroup
from pgtune.base.errors import raise_if_any
from pgtune.base.poll import wait_until
from pgtune.integrations.rds.api import Client, Instance, RdsError
from pgtune.kinds import settings
from pgtune.plan import cluster as clusterplan
from pgtune.plan.model import Change, Notice, Plan
from pgtune.targets import RestartReport, restart_walk
from pgtune.targets import topology as cluster
from pgtune.targets.parameters import typed_settings
from pgtune.targets.store import RUN_GRACE, grace_until_running
from pgtune.targets.workflow import Inputs

STORE = "parameter_group"
REBOOT_WAIT = 1800.0
"""Seconds one instance may take to reboot and report available and in-sync (RDS takes minutes)."""
SETTLE_WAIT = 300.0
"""Seconds RDS may take to apply `immediate` values (ParameterApplyStatus applying -> in-sync)."""
"""Seconds the instance may then take to run them (a reload on the instance)."""


@dataclass(frozen=True)
class Groups:
    """The groups the options name: a DB parameter group, an Aurora cluster parameter group, or both."""

    instance: str | None = None
    cluster: str | None = None

    def names(self) -> str:
        return "; ".join(
            [*([self.instance] if self.instance else []), *([f"cluster {self.cluster}"] if self.cluster else [])]
        )


def _here(everything: list[Instance], conn: psycopg.Connection, named: str | None) -> Instance | None:
    """The instance --dsn reaches: the one named (--rds-instance), else the one whose endpoint
    is the DSN's host and port; None when pgtune cannot tell."""
    if named is not None:
        found = next((i for i in everything if i.identifier == named), None)
        if found is None:
            raise RdsError(f"no RDS instance {named!r} (--rds-instance) in this region")
        return found
    host, port = (conn.info.host or "").lower(), conn.info.port
    for inst in everything:
        ep = inst.endpoint
        if ep is not None and (ep.address or "").lower() == host and ep.port == port:
            return inst
    return None


def family(here: Instance, everything: list[Instance]) -> frozenset[str]:
    """The instances that are one database with the one --dsn reaches: its Aurora cluster's members
    and every reader that replicates from one of them, transitively. Only these are pgtune's to
    reboot; anything else on the same group is someone else's."""
    members = {here.identifier} | (
        {i.identifier for i in everything if i.cluster == here.cluster} if here.cluster else set()
    )
    grown = True
    while grown:
        grown = False
        for inst in everything:
            if inst.identifier not in members and inst.replica_of is not None and inst.replica_of in members:
                members.add(inst.identifier)
                grown = True
    return frozenset(members)


def _shared(state: rdsgroup.GroupState, outside: list[Instance]) -> rdsgroup.GroupState:
    """The group's state with only the instances of the cluster --dsn reaches, and a notice naming the others."""
    if not outside:
        return state
    names = ", ".join(i.identifier for i in outside)
    notice = Notice(
        settings.KIND,
        state.group.name,
        "GROUP_SHARED",
        f"{state.label if state.cluster else 'parameter group ' + state.group.name} is also used by {names}, "
        "outside the cluster --dsn reaches: a change reaches them too "
        "(dynamic values at once, static ones at their next reboot); pgtune never reboots them",
    )
    kept = tuple(i for i in state.instances if i not in outside)
    return replace(state, instances=kept, notices=(*state.notices, notice))


def read_states(
    client: Client, groups: Groups, conn: psycopg.Connection, named: str | None
) -> list[rdsgroup.GroupState]:
    """Each named group with its rows, the instances that use it and their apply status (a cluster
    group's from its clusters' members), in a constant number of calls whatever the group's size."""
    everything = client.instances()
    clusters = client.clusters() if groups.cluster or any(i.cluster for i in everything) else []
    writers = {m.instance for c in clusters for m in c.members if m.writer}
    readers = frozenset(
        i.identifier for i in everything if i.replica_of is not None or (i.cluster and i.identifier not in writers)
    )
    here = _here(everything, conn, named)
    if here is not None and here.identifier in readers:
        raise RdsError(
            f"--dsn reaches {here.identifier}, a reader: give the writer's endpoint (the SQL kinds change the "
            "catalog, which a reader cannot)"
        )
    states = []
    if groups.instance is not None:
        name = groups.instance
        using = tuple(sorted((i for i in everything if i.apply_status(name) is not None), key=lambda i: i.identifier))
        statuses = {i.identifier: i.apply_status(name) or "in-sync" for i in using}
        rows = {r.name.lower(): r for r in client.parameters(name)}
        states.append(rdsgroup.GroupState(client.group(name), rows, using, statuses, readers, here))
    if groups.cluster is not None:
        name = groups.cluster
        members = {m.instance: m.status for c in clusters if c.group == name for m in c.members}
        using = tuple(sorted((i for i in everything if i.identifier in members), key=lambda i: i.identifier))
        rows = {r.name.lower(): r for r in client.cluster_parameters(name)}
        group = client.cluster_group(name)
        states.append(rdsgroup.GroupState(group, rows, using, members, readers, here, cluster=True))
    if here is None:
        notice = Notice(
            settings.KIND,
            groups.names(),
            "INSTANCE_UNKNOWN",
            "pgtune cannot tell which RDS instance --dsn reaches (no instance's endpoint is its host and port): "
            "name it with --rds-instance ID to compare the group with what it runs (and to reboot anything)",
        )
        states[0] = replace(states[0], notices=(*states[0].notices, notice))
        return states
    ours = family(here, everything)
    return [_shared(state, [i for i in state.instances if i.identifier not in ours]) for state in states]


def route(typed: list[settings.TypedSetting], states: list[rdsgroup.GroupState]) -> list[list[settings.TypedSetting]]:
    """Which group each setting goes to: the cluster group when only it offers the key (or the DB
    parameter group cannot modify it), else the DB parameter group. Without metadata (moto), the DB
    parameter group when there is one."""
    out: list[list[settings.TypedSetting]] = [[] for _ in states]
    for t in typed:
        choice = 0
        if len(states) == 2:
            key = t.desired.key
            db_row, cluster_row = states[0].rows.get(key), states[1].rows.get(key)
            if cluster_row is not None and (db_row is None or not db_row.modifiable):
                choice = 1
        out[choice].append(t)
    return out


def derive_group(
    client: Client, groups: Groups, conn: psycopg.Connection, dsn: str, inputs: Inputs, named: str | None
) -> clusterplan.ClusterPlan:
    """One plan: the SQL kinds on the instance, server-wide settings against the group(s) (typed by
    the instance's pg_settings), the groups' notices, and the reboots a static value needs."""
    sql_plan, typed, catalog = typed_settings(conn, inputs, dsn, "parameter group")
    states = read_states(client, groups, conn, named)
    declared = {t.desired.key for t in typed}
    changes, notices, errors = [], [], []
    for state, mine in zip(states, route(typed, states), strict=True):
        result, problems = rdsgroup.diff(mine, state, catalog, declared)
        changes += result.changes
        errors += problems
        notices += [*state.notices, *rdsgroup.notices(state, catalog if state.here is not None else None)]
    raise_if_any(errors)
    group_plan = Plan(sql_plan.profile, sql_plan.server, tuple(changes), tuple(notices))
    here = states[0].here
    here_name = here.identifier if here is not None else f"{conn.info.host}:{conn.info.port}"
    instances = {i.identifier: i for s in states for i in s.instances}
    readers = states[0].readers
    nodes = [clusterplan.Node(here_name, dsn, "primary", 0)]
    nodes += [
        clusterplan.Node(
            i.identifier, "", "standby" if i.identifier in readers else "primary", 0, upstream=i.replica_of
        )
        for i in sorted(instances.values(), key=lambda i: i.identifier)
        if i.identifier != here_name
    ]
    plans = [clusterplan.NodePlan(nodes[0], sql_plan)]  # the other instances are reached through the group only
    pending = {n.object for n in notices if n.code == "RESTART_PENDING"}
    static = sorted(c.address.name for c in changes if c.restart_required)
    if static:
        pending |= set(instances)
    if here is not None:
        instances.setdefault(here.identifier, here)
    values = _minimums(catalog, changes)
    if here is None:  # whose instances are these? pgtune reboots only what it can tell is the user's
        restart: tuple[clusterplan.RestartStep, ...] = ()
        reason = "no reboots: pgtune cannot tell which instance --dsn reaches (--rds-instance ID)" if pending else ""
    else:
        restart, reason = _reboot_order(instances, readers, pending, static, values)
    return clusterplan.ClusterPlan(
        clusterplan.Topology(tuple(nodes)),
        tuple(plans),
        restart,
        reason,
        dcs=group_plan,
        store=STORE,
        store_name="; ".join(f"{'cluster ' if s.cluster else ''}{s.group.name} ({s.group.family})" for s in states),
    )


def _minimums(catalog: settings.SettingsCatalog, changes: list[Change]) -> dict[str, tuple[int, int]]:
    """(running, planned) of the hot-standby minimums: what the instance --dsn reaches runs, and what
    the group will hold (a formula's number is not known here: it keeps the running value)."""
    values = {name: (running, running) for name, (running, _configured) in cluster.minimum_values(catalog).items()}
    for change in changes:
        name = change.address.name
        if name in values and change.after is not None:
            with suppress(ValueError):
                values[name] = (values[name][0], int(str(change.after)))
    return values


def _reboot_order(
    instances: dict[str, Instance],
    readers: frozenset[str],
    pending: set[str],
    static: list[str],
    values: dict[str, tuple[int, int]],
) -> tuple[tuple[clusterplan.RestartStep, ...], str]:
    """The cluster restart-order rules, per replication family (a writer and the readers that
    replicate from it): a raise of a hot-standby minimum reboots the readers first, a cut the
    writer first, both at once is refused (clusterplan.restart_order). Every instance using the
    group gets its values, so each one's running values are taken to be the --dsn instance's."""
    wanted = {n for n in pending if n in instances}
    if not wanted:
        return (), ""
    writers = sorted(n for n in instances if n not in readers)
    source = {
        r: instances[r].replica_of
        or next((w for w in writers if instances[w].cluster and instances[w].cluster == instances[r].cluster), None)
        for r in readers
        if r in instances
    }
    steps: list[clusterplan.RestartStep] = []
    reasons: list[str] = []
    orphans = sorted(r for r, w in source.items() if (w is None or w not in instances) and r in wanted)
    steps += [clusterplan.RestartStep(r, "standby") for r in orphans]
    for w in writers:
        family = [w, *sorted(r for r, src in source.items() if src == w)]
        if not wanted & set(family):
            continue
        nodes = tuple(
            clusterplan.Node(n, "", "primary" if n == w else "standby", 0, upstream=None if n == w else w)
            for n in family
        )
        order, why = clusterplan.restart_order(
            clusterplan.Topology(nodes), {n: values for n in family}, wanted & set(family)
        )
        steps += order
        reasons.append(why)
    named = tuple(clusterplan.RestartStep(s.node, "writer" if s.role == "primary" else "reader") for s in steps)
    what = f"static parameters ({', '.join(static)})" if static else "values RDS reports pending-reboot"
    why = "; ".join(dict.fromkeys(r.replace("primary", "writer").replace("standby", "reader") for r in reasons))
    return named, f"{what} run only after a reboot; {why or 'readers first'}"


def _poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll with a growing interval (RDS states change in seconds to minutes), boundedly."""
    wait_until(condition, timeout, what, RdsError)


def settled(
    client: Client,
    groups: Groups,
    plan: clusterplan.ClusterPlan,
    dsn: str,
    named: str | None,
    wait: float = SETTLE_WAIT,
) -> None:
    """After a Modify: wait (bounded) until no instance reports `applying`; then give the instance
    --dsn reaches a short grace to run each dynamic value (pg_settings). What still differs after it
    is the re-read's GROUP_DISAGREES notice, not a failure: a per-database or per-role value, or a
    backend that stores values and runs nothing (moto), keeps it apart for good."""
    from pgtune.integrations.postgres import connect

    if plan.dcs is None or plan.dcs.empty:
        return

    def applied() -> bool:
        with connect(dsn) as conn:
            states = read_states(client, groups, conn, named)
        return not any(status == "applying" for s in states for status in s.statuses.values())

    _poll(applied, wait, f"RDS to apply the new values of {groups.names()}")
    grace_until_running(dsn, plan, RUN_GRACE)


def reboot(
    client: Client,
    groups: Groups,
    plan: clusterplan.ClusterPlan,
    failover: bool,
    on_step: Callable[[str], None] | None = None,
    wait: float = REBOOT_WAIT,
) -> RestartReport:
    """RebootDBInstance for each pending instance in the plan's order; after each, wait (bounded)
    until it is available with its groups in-sync. Failover only when asked (--rds-failover) and only
    for a Multi-AZ writer (an Aurora writer fails over with FailoverDBCluster, which pgtune never calls)."""

    def begin(s: clusterplan.RestartStep) -> tuple[str, Callable[[], object]]:
        over = failover and s.role == "writer" and client.instance(s.node).multi_az
        text = f"rebooting {s.node} ({s.role}){' with failover' if over else ''} through RDS"
        return text, lambda: client.reboot(s.node, over)

    def back(s: clusterplan.RestartStep) -> str:
        def up() -> bool:
            now = client.instance(s.node)
            if now.status != "available":
                return False
            if groups.instance is not None and now.apply_status(groups.instance) not in ("in-sync", None):
                return False
            if groups.cluster is not None:
                members = {
                    m.instance: m.status for c in client.clusters() if c.group == groups.cluster for m in c.members
                }
                return members.get(s.node, "in-sync") == "in-sync"
            return True

        _poll(up, wait, f"{s.node} to be available with {groups.names()} in-sync")
        return f"available, {groups.names()} in-sync"

    return restart_walk(plan.restart, begin, back, on_step)
