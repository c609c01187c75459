"""A cluster's plan in text, Markdown and JSON: each node's plan, then the restart order and why."""

from __future__ import annotations

import json

from pgtune.base.escape import line, md_code, md_text
from pgtune.plan.cluster import ClusterPlan
from pgtune.plan.codec import cluster_to_dict
from pgtune.render.markdown import render_markdown
from pgtune.render.text import STATUS_MARKS, render_text

STORE_TITLES = {
    "patroni": (
        "Patroni: the cluster's configuration (every member), through PATCH /config",
        "Patroni: the cluster's configuration (`PATCH /config`)",
    ),
    "parameter_group": (
        "RDS parameter group {name}: every instance that uses it, through ModifyDBParameterGroup",
        "RDS parameter group {name} (`ModifyDBParameterGroup`)",
    ),
}
"""How each store's plan is headed, in text and in Markdown."""


def _store_title(plan: ClusterPlan, markdown: bool = False) -> str:
    """A store this module does not know is headed by the name its target gives it."""
    text, md = STORE_TITLES.get(plan.store, ("{name}", "{name}"))
    return md.format(name=md_code(plan.store_name)) if markdown else text.format(name=plan.store_name)


def _role(plan: ClusterPlan, role: str) -> str:
    """A node's role as its store names it: RDS has writers and readers."""
    if plan.store == "parameter_group":
        return {"primary": "writer", "standby": "reader"}.get(role, role)
    return role


def _nodes_line(plan: ClusterPlan) -> str:
    if plan.store == "parameter_group":
        parts = [f"{_role(plan, n.role)} {n.name}" for n in plan.topology.nodes]
        return f'RDS parameter group {plan.store_name} for profile "{plan.profile}": instances ' + "; ".join(parts)
    parts = []
    for node in plan.topology.nodes:
        follows = f", streams from {node.upstream}" if node.upstream else ""
        parts.append(f"{node.role} {node.name}{follows}")
    return f'Cluster of {len(plan.topology.nodes)} nodes for profile "{plan.profile}": ' + "; ".join(parts)


def restart_lines(plan: ClusterPlan) -> list[str]:
    if not plan.restart:
        return [f"Restart: {plan.restart_reason}." if plan.restart_reason else "Restart: none needed."]
    steps = ", then ".join(f"{s.node} ({s.role})" for s in plan.restart)
    if plan.store == "parameter_group":
        return [
            f"Reboot order: {steps}.",
            f"  Why: {plan.restart_reason}.",
            "  Reboot one instance at a time, readers first and the writer last, each back to available and "
            "in-sync before the next: pgtune apply --restart does (RebootDBInstance, no failover unless "
            "--rds-failover).",
        ]
    return [
        f"Restart order: {steps}.",
        f"  Why: {plan.restart_reason}.",
        "  Restart one node at a time; before the next, wait until it is back and every standby streams and has "
        "replayed the primary's current WAL position (a standby restarted before it replayed the primary's "
        "parameter change fails to start).",
    ]


def render_cluster_text(plan: ClusterPlan) -> str:
    lines = [_nodes_line(plan), ""]
    for p in plan.plans:
        lines.append(f"== {_role(plan, p.node.role)} {p.node.name} ==")
        lines += render_text(p.plan).rstrip("\n").split("\n")  # its lines, escaped already
        lines.append("")
    if plan.dcs is not None:
        lines.append(f"== {_store_title(plan)} ==")
        lines += render_text(plan.dcs).rstrip("\n").split("\n")
        lines.append("")
    if plan.notices:
        lines += ["Across nodes:"] + [f"  ! {n.code} {n.object}: {n.message}" for n in plan.notices] + [""]
    if plan.checks:
        lines += ["Cluster checks:"] + [f"  {STATUS_MARKS[c.status]} {c.code}: {c.message}" for c in plan.checks]
        lines.append("")
    lines += restart_lines(plan)
    return "\n".join(line(item) for item in lines) + "\n"  # one line each: escaping twice changes nothing


def render_cluster_markdown(plan: ClusterPlan) -> str:
    out = [
        f"<!-- pgtune-plan profile={plan.profile} cluster -->",
        f"### pgtune plan: `{plan.profile}` on a cluster",
        "",
    ]
    out.append(md_text(_nodes_line(plan)).replace(f'"{plan.profile}"', md_code(plan.profile)))
    out.append("")
    for p in plan.plans:
        body = render_markdown(p.plan).split("\n", 2)[2]  # without the comment marker and the heading
        out += [f"#### {_role(plan, p.node.role)} {md_code(p.node.name)}", *body.strip().split("\n"), ""]
    if plan.dcs is not None:
        body = render_markdown(plan.dcs).split("\n", 2)[2]
        out += [f"#### {_store_title(plan, markdown=True)}", *body.strip().split("\n"), ""]
    for n in plan.notices:
        out.append(f"- :warning: `{n.code}` {md_code(n.object)}: {md_text(n.message)}")
    for c in plan.checks:
        out.append(f"- {STATUS_MARKS[c.status]} `{c.code}`: {md_text(c.message)}")
    restart = restart_lines(plan)
    out += ["", "**" + md_text(restart[0]) + "**", *[md_text(item.strip()) for item in restart[1:]]]
    return "\n".join(line(item) for item in out) + "\n"


def render_cluster_json(plan: ClusterPlan) -> str:
    return json.dumps(cluster_to_dict(plan), indent=2) + "\n"
