#!/usr/bin/python
# Copyright: pgtune developers
# MIT License (see the collection's galaxy.yml)
"""Ansible module: converge PostgreSQL to a pgtune profile (check mode = plan, diff = before/after)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: converge
short_description: Converge PostgreSQL to a pgtune profile
version_added: 0.1.0
author: pgtune developers (@pgtune)
description:
  - Plans the changes that converge a PostgreSQL server to a pgtune profile (server settings, per-table storage
    parameters, indexes built online, partitions, pool settings) and applies them under pgtune's apply lock.
  - In check mode this is C(pgtune plan); nothing is executed and C(changed) says whether the plan has changes.
  - Otherwise this is C(pgtune apply); the plan is derived again under the lock, and gated hazards are refused
    unless O(allow_hazards) names them.
  - A server that only waits for a restart to take a written setting reports no change; a warning says so.
  - Clusters take one module call each; O(nodes) names a primary and its standbys, O(patroni) a Patroni cluster.
requirements:
  - pgtune installed in the Python that runs the module (set C(ansible_python_interpreter) to it).
options:
  profile:
    description: Path of the profile on the host that runs the module.
    required: true
    type: path
  dsn:
    description:
      - Connection string. Else E(PGTUNE_DSN), E(DATABASE_URL), then libpq's C(PG*) variables.
      - With O(patroni), the SQL credentials of the members (their host and port come from Patroni).
    type: str
  as_of:
    description: Plan time partitions as if now were this date or time, for example C(2026-11-24).
    type: str
  allow_hazards:
    description: Gated hazard codes this run may carry, for example C(DELETES_DATA).
    type: list
    elements: str
    default: []
  exclude:
    description: Glob patterns of C(schema.name) never touched, added to the profile's own C(exclude).
    type: list
    elements: str
    default: []
  lock_timeout:
    description: PostgreSQL C(lock_timeout) for each statement, so no DDL queues in front of traffic.
    type: str
    default: 5s
  wait:
    description: Seconds to wait for another pgtune apply on the same database to finish.
    type: float
    default: 0
  nodes:
    description: A cluster, as inventory name to DSN of each node (the primary and its standbys, any order).
    type: dict
  patroni:
    description: A Patroni cluster's REST API URL; members and leader come from Patroni, settings go through its DCS.
    type: str
  restart:
    description: With O(patroni), restart the pending members through Patroni in the safe order.
    type: bool
    default: false
  wait_replicated:
    description: With O(nodes), only wait until every standby streams and has caught up (between two restarts).
    type: bool
    default: false
attributes:
  check_mode:
    description: Reports the plan and executes nothing.
    support: full
  diff_mode:
    description: Each change's before and after value.
    support: full
notes:
  - O(dsn), O(nodes) and O(patroni) are not logged (they may carry credentials); pgtune masks passwords in every
    message it returns.
seealso:
  - name: pgtune documentation
    description: Profiles, plans, hazards and clusters.
    link: https://github.com/pgtune/pgtune/tree/main/docs
"""

EXAMPLES = r"""
- name: Converge to the Letta profile (with --check, a plan; with --diff, before and after)
  pgtune.postgresql.converge:
    profile: profiles/letta.yaml
    dsn: "{{ pgtune_dsn }}"
    wait: 60
  register: pgtune_result

- name: Retention that drops old partitions must be allowed by name
  pgtune.postgresql.converge:
    profile: profiles/letta-partitioned.yaml
    allow_hazards: [DELETES_DATA]

- name: A primary and its standby, planned and applied as one cluster
  pgtune.postgresql.converge:
    profile: profiles/letta.yaml
    nodes:
      pg1: postgresql://deploy@pg1/letta
      pg2: postgresql://deploy@pg2/letta
  register: pgtune_cluster

- name: A Patroni cluster, restarted through Patroni when a setting needs it
  pgtune.postgresql.converge:
    profile: profiles/letta.yaml
    patroni: http://patroni1:8008
    dsn: user=deploy dbname=letta
    restart: true
"""

RETURN = r"""
changes:
  description: The plan's changes, in pgtune's JSON plan format (single server).
  returned: always
  type: list
  elements: dict
restart_required:
  description: A planned setting change needs a PostgreSQL restart.
  returned: always
  type: bool
restart_pending:
  description: Settings written earlier that still wait for a restart (a warning, not a change).
  returned: single server
  type: list
  elements: str
outcomes:
  description: applied, failed or skipped, per change.
  returned: when applied
  type: list
  elements: dict
plan:
  description: The cluster plan, in pgtune's JSON cluster format.
  returned: clusters
  type: dict
restart_order:
  description: Clusters, the inventory hosts to restart, in order.
  returned: clusters
  type: list
  elements: str
restart_reason:
  description: Why that order.
  returned: clusters
  type: str
"""

from collections.abc import Iterable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

ARGUMENT_SPEC = {
    "profile": {"type": "path", "required": True},
    "dsn": {"type": "str", "no_log": True},
    "as_of": {"type": "str"},
    "allow_hazards": {"type": "list", "elements": "str", "default": []},
    "exclude": {"type": "list", "elements": "str", "default": []},
    "lock_timeout": {"type": "str", "default": "5s"},
    "wait": {"type": "float", "default": 0},
    "nodes": {"type": "dict", "no_log": True},
    "patroni": {"type": "str", "no_log": True},
    "restart": {"type": "bool", "default": False},
    "wait_replicated": {"type": "bool", "default": False},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("nodes", "patroni")],
    )
    try:
        import pgtune  # noqa: F401  (only to say clearly when it is missing)
    except ImportError as exc:
        module.fail_json(msg=f"pgtune is not importable by this Python ({exc}): set ansible_python_interpreter")
    if module.params["nodes"] or module.params["patroni"]:
        _cluster(module)
    else:
        _server(module)


def _diff(changes: Iterable[Any]) -> list[dict[str, str]]:
    """Ansible's diff format, one entry per change: its address as the header, values as text."""
    from pgtune.plan.model import value_text

    return [
        {
            "before_header": f"{c.kind} {c.object}",
            "after_header": f"{c.kind} {c.object}",
            "before": "" if c.before is None else f"{value_text(c.before)}\n",
            "after": "" if c.after is None else f"{value_text(c.after)}\n",
        }
        for c in changes
    ]


def _server(module: AnsibleModule) -> None:
    """One server: the plan (check mode), else the one apply sequence (pgtune.targets.sequence.apply)."""
    from pgtune.base.errors import PgtuneError
    from pgtune.integrations.postgres import connect, resolve_dsn, scrub
    from pgtune.plan.codec import change_to_dict
    from pgtune.profile.loader import load_profile
    from pgtune.targets import Where, choose, sequence, workflow
    from pgtune.targets.executor import APPLIED, ExecOptions

    p = module.params
    dsn = resolve_dsn(p["dsn"])
    try:
        loaded = load_profile(p["profile"])
        inputs = workflow.Inputs(loaded, p["as_of"], tuple(p["exclude"]))
        allowed = workflow.parse_allowed(p["allow_hazards"])
        with connect(dsn) as conn:
            plan = workflow.derive(conn, inputs, dsn)
        pending = [n.message for n in plan.notices if n.code == "RESTART_PENDING"]
        for message in pending:
            module.warn(message)
        result = {
            "changed": not plan.empty,
            "changes": [change_to_dict(c) for c in plan.changes],
            "restart_required": plan.restart_required,
            "restart_pending": pending,
        }
        if module._diff:
            result["diff"] = _diff(plan.changes)
        if module.check_mode or plan.empty:
            module.exit_json(**result)
        # Re-planned under the lock; that plan is gated and run, not the one above.
        options = ExecOptions(lock_timeout=p["lock_timeout"])
        done = sequence.apply(choose(Where((dsn,))), inputs, options, wait=p["wait"], allowed=allowed)
        report = next(iter(done.reports.values()), None)
        if report is None:  # converged by someone else meanwhile
            module.exit_json(**{**result, "changed": False})
        result["outcomes"] = [
            {"object": o.change.object, "kind": o.change.kind, "status": o.status, "error": o.error}
            for o in report.outcomes
        ]
        result["changed"] = any(o.status == APPLIED for o in report.outcomes)
        if report.failed:
            module.fail_json(msg="pgtune apply failed; re-run to converge", **result)
        module.exit_json(**result)
    except PgtuneError as exc:
        module.fail_json(msg=scrub("\n".join(exc.lines()), dsn))


def _cluster_changes(plan: Any, by_dsn: dict[str, str]) -> Iterator[tuple[str, Any]]:
    """Each node's changes under its inventory name, and the DCS's (or parameter group's) under its own."""
    for node_plan in plan.plans:
        node = node_plan.node
        yield by_dsn.get(node.dsn, node.name), node_plan.plan.changes
    if plan.dcs is not None:
        yield plan.store_name or plan.store, plan.dcs.changes


def _cluster(module: AnsibleModule) -> None:
    """A primary with standbys (`nodes`), or a Patroni cluster (`patroni`): one plan, one apply."""
    from pgtune.base.errors import PgtuneError
    from pgtune.base.redact import scrub_known
    from pgtune.plan.codec import cluster_to_dict
    from pgtune.profile.loader import load_profile
    from pgtune.targets import sequence, workflow
    from pgtune.targets import topology as cluster
    from pgtune.targets.executor import APPLIED, ExecOptions
    from pgtune.targets.patroni.target import PatroniCluster
    from pgtune.targets.replicas import Replicas

    p = module.params
    nodes = dict(p["nodes"] or {})
    try:
        if p["wait_replicated"]:
            cluster.wait_replicated(list(nodes.values()), timeout=max(p["wait"], 120))
            module.exit_json(changed=False)
        loaded = load_profile(p["profile"])
        inputs = workflow.Inputs(loaded, p["as_of"], tuple(p["exclude"]))
        allowed = workflow.parse_allowed(p["allow_hazards"])
        target = PatroniCluster(p["patroni"], p["dsn"] or "") if p["patroni"] else Replicas(tuple(nodes.values()))

        def hosts(plan: Any) -> list[str]:
            by_dsn = {dsn: host for host, dsn in nodes.items()}
            names = {n.name: by_dsn.get(n.dsn, n.name) for n in plan.topology.nodes}
            return [names[s.node] for s in plan.restart]

        plan = sequence.preview(target, inputs)
        result = {
            "changed": not plan.empty,
            "plan": cluster_to_dict(plan),
            "restart_order": hosts(plan),
            "restart_reason": plan.restart_reason,
            "restart_required": bool(plan.restart),
        }
        if module._diff:
            by_dsn = {dsn: host for host, dsn in nodes.items()}
            result["diff"] = [
                {
                    **entry,
                    "before_header": f"{where}: {entry['before_header']}",
                    "after_header": f"{where}: {entry['after_header']}",
                }
                for where, changes in _cluster_changes(plan, by_dsn)
                for entry in _diff(changes)
            ]
        if module.check_mode or (plan.empty and not (p["restart"] and plan.restart)):
            module.exit_json(**result)
        options = ExecOptions(lock_timeout=p["lock_timeout"])
        done = sequence.apply(
            target, inputs, options, wait=p["wait"], allowed=allowed, restart=bool(p["patroni"] and p["restart"])
        )
        result["outcomes"] = [
            {"node": node, "object": o.change.object, "kind": o.change.kind, "status": o.status, "error": o.error}
            for node, report in done.reports.items()
            for o in report.outcomes
        ]
        result["changed"] = any(o["status"] == APPLIED for o in result["outcomes"]) or bool(
            done.restarts and done.restarts.done
        )
        if done.after is not None:
            result["restart_order"] = hosts(done.after)
            result["restart_reason"] = done.after.restart_reason
            result["restart_required"] = bool(done.after.restart)
        if done.failed:
            module.fail_json(msg="pgtune apply failed; re-run to converge", **result)
        module.exit_json(**result)
    except PgtuneError as exc:
        module.fail_json(msg=scrub_known("\n".join(exc.lines())))


if __name__ == "__main__":
    main()
