"""An Azure flexible server's plan: the SQL kinds on the server --dsn reaches, server-wide settings
against the server's configurations (the one parameters loop, pgtune.targets.parameters), what the
service reports pending a restart, and the restart order: read replicas first, the server last."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgtune.base.errors import raise_if_any
from pgtune.plan import cluster as clusterplan
from pgtune.plan.model import Notice, ParameterEdit, Plan, Statement
from pgtune.targets.parameters import against_store, typed_settings

if TYPE_CHECKING:
    import psycopg

    from pgtune.targets.azure.api import Client
    from pgtune.targets.workflow import Inputs

STORE = "azure"
SERVICE = "Azure Database for PostgreSQL"


def statement(name: str, value: str | None) -> Statement:
    return Statement(
        f"configurations/{name} = {value!r} (PATCH)", False, target=STORE, action=ParameterEdit(STORE, name, value)
    )


def derive(client: Client, conn: psycopg.Connection, dsn: str, inputs: Inputs) -> clusterplan.ClusterPlan:
    loaded = inputs.loaded
    sql_plan, typed, _ = typed_settings(conn, inputs, dsn, SERVICE)
    stored = client.configurations()
    compared = against_store(typed, stored, service=SERVICE, scope=STORE, statement=statement)
    raise_if_any(compared.errors)
    pending = sorted(s.name for s in stored.values() if s.pending_restart)
    notices = [
        Notice(
            "setting", name, "RESTART_PENDING", f"{name}: written, waiting for the server's restart (apply --restart)"
        )
        for name in pending
    ]
    server = client.resource.server
    store_plan = Plan(loaded.profile.name, sql_plan.server, tuple(compared.changes), tuple(notices))
    replicas = client.replicas()
    nodes = [clusterplan.Node(server, dsn, "primary", 0)]
    nodes += [clusterplan.Node(name, "", "standby", 0, upstream=server) for name in replicas]
    restart: tuple[clusterplan.RestartStep, ...] = ()
    reason = ""
    if pending or any(c.restart_required for c in compared.changes):
        restart = (
            *(clusterplan.RestartStep(n, "standby") for n in replicas),
            clusterplan.RestartStep(server, "primary"),
        )
        reason = "static configurations take effect at a restart; read replicas first, the server last"
    return clusterplan.ClusterPlan(
        clusterplan.Topology(tuple(nodes)),
        (clusterplan.NodePlan(nodes[0], sql_plan),),
        restart,
        reason,
        dcs=store_plan,
        store=STORE,
        store_name=f"{SERVICE} server {server}: its configurations, one PATCH at a time",
    )
