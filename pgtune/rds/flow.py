"""An RDS parameter group's plan, its settling and its reboots: the SQL kinds on the instance
`--dsn` reaches (as on any server, without ALTER SYSTEM), server-wide settings against the group,
and what each instance reports. The target is `pgtune.targets.rds_group`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import psycopg

from pgtune import clusterplan
from pgtune.engine import server_info
from pgtune.errors import raise_if_any
from pgtune.guc import GucSpec, InvalidValue
from pgtune.kinds import PlanContext, settings
from pgtune.plan import Notice, Plan
from pgtune.rds import group as rdsgroup
from pgtune.rds.api import Client, Instance, RdsError
from pgtune.targets import RestartReport
from pgtune.workflow import Inputs, derive

STORE = "parameter_group"
REBOOT_WAIT = 1800.0
"""Seconds one instance may take to reboot and report available and in-sync (RDS takes minutes)."""
SETTLE_WAIT = 300.0
"""Seconds RDS may take to apply `immediate` values (ParameterApplyStatus applying -> in-sync)."""


def _here(client_instances: list[Instance], conn: psycopg.Connection, named: str | None) -> Instance | None:
    """The instance --dsn reaches: the one named (--rds-instance), else the one whose endpoint
    is the DSN's host and port; None when pgtune cannot tell."""
    if named is not None:
        found = next((i for i in client_instances if i.identifier == named), None)
        if found is None:
            raise RdsError(f"no RDS instance {named!r} (--rds-instance) in this region")
        return found
    host, port = (conn.info.host or "").lower(), conn.info.port
    for inst in client_instances:
        ep = inst.endpoint
        if ep is not None and (ep.address or "").lower() == host and ep.port == port:
            return inst
    return None


def read_state(client: Client, name: str, conn: psycopg.Connection, named: str | None) -> rdsgroup.GroupState:
    group = client.group(name)
    rows = {r.name.lower(): r for r in client.parameters(name)}
    everything = client.instances()
    using = tuple(sorted((i for i in everything if i.apply_status(name) is not None), key=lambda i: i.identifier))
    here = _here(everything, conn, named)
    if here is not None and here.reader:
        raise RdsError(
            f"--dsn reaches {here.identifier}, a read replica of {here.replica_of}: give the writer's endpoint "
            "(the SQL kinds change the catalog, which a replica cannot)"
        )
    notices: tuple[Notice, ...] = ()
    if here is None:
        notices = (
            Notice(
                settings.KIND,
                name,
                "INSTANCE_UNKNOWN",
                "pgtune cannot tell which RDS instance --dsn reaches (no instance's endpoint is its host and port): "
                "name it with --rds-instance ID to compare the group with what it runs",
            ),
        )
    return rdsgroup.GroupState(group, rows, using, here, notices)


def derive_group(
    client: Client, name: str, conn: psycopg.Connection, dsn: str, inputs: Inputs, named: str | None
) -> clusterplan.ClusterPlan:
    """One plan: the SQL kinds on the instance, server-wide settings against the group (typed by
    the instance's pg_settings), the group's notices, and the reboots a static value needs."""
    loaded = inputs.loaded
    sql_plan = derive(conn, replace(inputs, server_settings=False))
    state = read_state(client, name, conn, named)
    ctx = PlanContext(conn, loaded, server_info(conn), {})
    desired = [d for d in settings.desired_settings(loaded, settings.workload_settings(ctx)) if d.scope == "system"]
    catalog = settings.read(conn, desired)
    typed = settings.validate(settings.adapt(desired, catalog), catalog, through="parameter group")
    result, errors = rdsgroup.diff(typed, state, catalog)
    raise_if_any(errors)
    notices = [*state.notices, *rdsgroup.notices(state, catalog if state.here is not None else None)]
    group_plan = Plan(sql_plan.profile, sql_plan.server, tuple(result.changes), tuple(notices))
    here_name = state.here.identifier if state.here is not None else f"{conn.info.host}:{conn.info.port}"
    nodes = [clusterplan.Node(here_name, dsn, "primary", 0)]
    nodes += [
        clusterplan.Node(i.identifier, "", "standby" if i.reader else "primary", 0, upstream=i.replica_of)
        for i in state.instances
        if i.identifier != here_name
    ]
    topology = clusterplan.Topology(tuple(nodes))
    plans = [clusterplan.NodePlan(nodes[0], sql_plan)]  # the other instances are reached through the group only
    pending = {n.object for n in notices if n.code == "RESTART_PENDING"}
    static = sorted(c.address.name for c in result.changes if c.restart_required)
    if static:
        pending |= {i.identifier for i in state.instances}
    restart, reason = _reboot_order(state, pending, static)
    return clusterplan.ClusterPlan(
        topology,
        tuple(plans),
        restart,
        reason,
        dcs=group_plan,
        store=STORE,
        store_name=f"{state.group.name} ({state.group.family})",
    )


def _reboot_order(
    state: rdsgroup.GroupState, pending: set[str], static: list[str]
) -> tuple[tuple[clusterplan.RestartStep, ...], str]:
    """Readers first, the writer last: a reader rebooted first never runs values behind its
    source's (the hot-standby minimums), and the writer's reboot is the one outage, taken once."""
    known = {i.identifier: i for i in state.instances}
    if state.here is not None:
        known.setdefault(state.here.identifier, state.here)
    names = sorted(n for n in pending if n in known)
    if not names:
        return (), ""
    ordered = sorted(names, key=lambda n: (not known[n].reader, n))
    steps = tuple(clusterplan.RestartStep(n, "reader" if known[n].reader else "writer") for n in ordered)
    what = f"static parameters ({', '.join(static)})" if static else "values RDS reports pending-reboot"
    return steps, f"{what} run only after a reboot; readers first, the writer last"


def _poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll with a growing interval (RDS states change in seconds to minutes), boundedly."""
    deadline, interval = time.monotonic() + timeout, 0.2
    while not condition():
        if time.monotonic() >= deadline:
            raise RdsError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 1.5, 15.0)


def settled(client: Client, plan: clusterplan.ClusterPlan, dsn: str, wait: float = SETTLE_WAIT) -> None:
    """After a Modify: every instance has left `applying`, and the instance --dsn reaches runs each
    dynamic value (its pg_settings), so the re-read plan sees what RDS applied."""
    from pgtune.connection import connect

    if plan.dcs is None or plan.dcs.empty:
        return
    group = plan.dcs.changes[0].address.target or ""
    dynamic = [c for c in plan.dcs.changes if not c.restart_required and c.after is not None and c.action == "update"]

    def done() -> bool:
        if any(i.apply_status(group) == "applying" for i in client.instances()):
            return False
        if not dynamic or plan.topology.primary.dsn == "":
            return True
        with connect(dsn) as conn:
            for change in dynamic:
                row = conn.execute(
                    "SELECT setting, unit, vartype FROM pg_settings WHERE name = %s", (change.address.name,)
                ).fetchone()
                if row is None:
                    return False
                spec = GucSpec(change.address.name, row[2], row[1])
                try:
                    if not spec.equal(spec.canonical(row[0], check_range=False), spec.canonical(str(change.after))):
                        return False
                except InvalidValue:
                    return True  # a formula's text: what it runs is compared by the re-read, not here
        return True

    _poll(done, wait, f"RDS to apply the new values of {group}")


def reboot(
    client: Client,
    plan: clusterplan.ClusterPlan,
    failover: bool,
    on_step: Callable[[str], None] | None = None,
    wait: float = REBOOT_WAIT,
) -> RestartReport:
    """RebootDBInstance for each pending instance in the plan's order; after each, wait (bounded)
    until it is available with the group in-sync. Failover only when asked (--rds-failover)."""
    report = RestartReport()
    group = plan.store_name.split(" (")[0]

    def step(text: str) -> None:
        report.steps.append(text)
        if on_step is not None:
            on_step(text)

    for s in plan.restart:
        over = failover and s.role == "writer"
        step(f"rebooting {s.node} ({s.role}){' with failover' if over else ''} through RDS")
        client.reboot(s.node, over)

        def back(name: str = s.node) -> bool:
            inst = client.instance(name)
            return inst.status == "available" and inst.apply_status(group) in ("in-sync", None)

        _poll(back, wait, f"{s.node} to be available with {group} in-sync")
        report.done.append(s.node)
        step(f"{s.node} is back: available, {group} in-sync")
    return report
