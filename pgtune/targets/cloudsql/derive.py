"""A Cloud SQL instance's plan: the SQL kinds on the server --dsn reaches, server-wide settings
against the instance's flags (the one parameters loop), typed by the server and bounded by what
`flags.list` allows; the flags the profile does not manage are kept (said in the plan), and a patch
that carries a flag requiring a restart is gated: Cloud SQL restarts the instance at once."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from pgtune.base.errors import raise_if_any
from pgtune.plan import cluster as clusterplan
from pgtune.plan.hazards import hazard
from pgtune.plan.model import Change, Notice, ParameterEdit, Plan, Statement
from pgtune.targets.parameters import against_store, typed_settings

if TYPE_CHECKING:
    import psycopg

    from pgtune.targets.cloudsql.api import Client
    from pgtune.targets.workflow import Inputs

STORE = "cloudsql"
SERVICE = "Cloud SQL"


def statement(name: str, value: str | None) -> Statement:
    shown = f"databaseFlags {name} = {value!r}" if value is not None else f"databaseFlags {name} removed"
    return Statement(
        f"{shown} (in the one instances.patch)", False, target=STORE, action=ParameterEdit(STORE, name, value)
    )


def _restarting(change: Change) -> Change:
    if not change.restart_required:
        return change
    return replace(change, hazards=(*change.hazards, hazard("RESTARTS_NOW")))


def derive(client: Client, conn: psycopg.Connection, dsn: str, inputs: Inputs) -> clusterplan.ClusterPlan:
    from pgtune.targets.cloudsql.api import stored

    loaded = inputs.loaded
    sql_plan, typed, catalog = typed_settings(conn, inputs, dsn, SERVICE)
    instance = client.get()
    held = stored(instance, client.flags(instance.version), {k: r.setting for k, r in catalog.running.items()})
    compared = against_store(typed, held, service=SERVICE, scope=STORE, statement=statement)
    raise_if_any(compared.errors)
    changes = [_restarting(c) for c in compared.changes]
    managed = {t.desired.key for t in typed}
    kept = sorted(n for n in instance.flags if n.lower() not in managed)
    notices = []
    if changes and kept:
        notices.append(
            Notice(
                "setting",
                "databaseFlags",
                "FLAGS_KEPT",
                f"the patch carries every flag: kept as the "
                f"instance has them (the profile does not manage them): {', '.join(kept)}",
            )
        )
    name = client.instance.instance
    store_plan = Plan(loaded.profile.name, sql_plan.server, tuple(changes), tuple(notices))
    node = clusterplan.Node(name, dsn, "primary", 0)
    restarting = any(c.restart_required for c in changes)
    return clusterplan.ClusterPlan(
        clusterplan.Topology((node,)),
        (clusterplan.NodePlan(node, sql_plan),),
        (),
        "Cloud SQL restarts the instance itself when the patch carries a flag that requires it (RESTARTS_NOW)"
        if restarting
        else "",
        dcs=store_plan,
        store=STORE,
        store_name=f"{SERVICE} instance {client.instance.project}:{name}: its database flags, one patch of the whole "
        "list",
    )
