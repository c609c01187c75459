#!/usr/bin/python
"""Ansible module: converge a PostgreSQL server to a pgtune profile.

Check mode is `pgtune plan` (nothing runs; `changed` says whether a plan has changes); diff mode
shows each change's before/after; otherwise it is `pgtune apply` under pgtune's apply lock.
Fleets use Ansible's inventory and parallelism; pgtune must be importable by the Python Ansible
runs the module with (set `ansible_python_interpreter` to pgtune's virtualenv).

Clusters, one module call per cluster: `nodes` (inventory name -> DSN of a primary and its
standbys) plans and applies them as one (`restart_order` names the inventory hosts to restart, in
order: see cluster.yml); `patroni` (the REST API's URL) goes through Patroni, and `restart: true`
restarts pending members through it. `wait_replicated: true` only waits until the nodes are one
cluster with every standby streaming and caught up (between two restarts).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: pgtune
short_description: Converge PostgreSQL settings, storage, indexes, partitions and pools to a pgtune profile
options:
  profile: {description: Path of the profile on the managed host., required: true, type: path}
  dsn: {description: Connection string (else PGTUNE_DSN, DATABASE_URL, libpq's PG*)., type: str, no_log: true}
  as_of: {description: Plan time partitions as if now were this date/time., type: str}
  allow_hazards: {description: Gated hazard codes to allow., type: list, elements: str, default: []}
  exclude: {description: Glob patterns of schema.name never touched., type: list, elements: str, default: []}
  lock_timeout: {description: PostgreSQL lock_timeout per statement., type: str, default: 5s}
  wait: {description: Seconds to wait for another pgtune apply of the same profile., type: float, default: 0}
  nodes:
    {description: "A cluster: inventory name -> DSN of each node (primary, standbys).", type: dict, no_log: true}
  patroni:
    {description: "A Patroni REST API URL (dsn: the members' SQL credentials).", type: str, no_log: true}
  restart:
    {description: "Patroni: restart pending members through Patroni in the safe order.", type: bool, default: false}
  wait_replicated:
    {description: "With nodes: only wait until every standby streams and has caught up.", type: bool, default: false}
"""

RETURN = r"""
changes: {description: The plan's changes (pgtune's JSON plan format)., returned: always, type: list}
restart_required: {description: A setting waits for a PostgreSQL restart., returned: always, type: bool}
outcomes: {description: applied/failed/skipped per change (not in check mode)., returned: when applied, type: list}
restart_order:
  {description: "Clusters: the hosts to restart in order (inventory names).", returned: clusters, type: list}
restart_reason: {description: Why that order., returned: clusters, type: str}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def main() -> None:
    module = AnsibleModule(
        argument_spec={
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
        },
        supports_check_mode=True,
    )
    try:
        from pgtune import workflow
        from pgtune.connection import connect, resolve_dsn, scrub
        from pgtune.errors import PgtuneError
        from pgtune.executor import APPLIED, ExecOptions
        from pgtune.plan import value_text
        from pgtune.profile.loader import load_profile
        from pgtune.render.jsonplan import change_to_dict
    except ImportError as exc:
        module.fail_json(msg=f"pgtune is not importable by this Python: {exc}")
        return
    p = module.params
    if p["nodes"] or p["patroni"]:
        _cluster(module)
        return
    dsn = resolve_dsn(p["dsn"])
    try:
        loaded = load_profile(p["profile"])
        inputs = workflow.Inputs(loaded, p["as_of"], tuple(p["exclude"]))
        allowed = workflow.parse_allowed(p["allow_hazards"])
        with connect(dsn) as conn:
            plan = workflow.derive(conn, inputs, dsn)
            result = {
                "changed": not plan.empty,
                "changes": [change_to_dict(c) for c in plan.changes],
                "restart_required": plan.restart_required,
                "diff": [
                    {
                        "before_header": f"{c.kind} {c.object}",
                        "after_header": f"{c.kind} {c.object}",
                        "before": "" if c.before is None else f"{value_text(c.before)}\n",
                        "after": "" if c.after is None else f"{value_text(c.after)}\n",
                    }
                    for c in plan.changes
                ],
            }
            if module.check_mode or plan.empty:
                module.exit_json(**result)
                return
        # The one apply sequence (pgtune.workflow.apply): re-plan under the lock, gate *that* plan, run it.
        done = workflow.apply(dsn, inputs, ExecOptions(lock_timeout=p["lock_timeout"]), wait=p["wait"], allowed=allowed)
        report = done.report
        if report is None:
            module.exit_json(**{**result, "changed": False})
            return
        result["outcomes"] = [
            {"object": o.change.object, "kind": o.change.kind, "status": o.status, "error": o.error}
            for o in report.outcomes
        ]
        result["changed"] = any(o.status == APPLIED for o in report.outcomes)
        if report.failed:
            module.fail_json(msg="pgtune apply failed; re-run to converge", **result)
            return
        module.exit_json(**result)
    except PgtuneError as exc:
        module.fail_json(msg=scrub("\n".join(exc.lines()), dsn))


def _cluster(module: AnsibleModule) -> None:
    """A primary with standbys (`nodes`), or a Patroni cluster (`patroni`): one plan, one apply."""
    from pgtune import cluster, workflow
    from pgtune.clusterplan import ClusterPlan
    from pgtune.errors import PgtuneError
    from pgtune.executor import APPLIED, ExecOptions
    from pgtune.profile.loader import load_profile
    from pgtune.render.cluster import cluster_to_dict
    from pgtune.secrets import scrub_known
    from pgtune.targets import sequence
    from pgtune.targets.patroni_cluster import PatroniCluster
    from pgtune.targets.replicas import Replicas

    p = module.params
    nodes: dict[str, str] = dict(p["nodes"] or {})
    try:
        if p["wait_replicated"]:
            cluster.wait_replicated(list(nodes.values()), timeout=max(p["wait"], 120))
            module.exit_json(changed=False)
            return
        loaded = load_profile(p["profile"])
        inputs = workflow.Inputs(loaded, p["as_of"], tuple(p["exclude"]))
        allowed = workflow.parse_allowed(p["allow_hazards"])
        base = p["dsn"] or ""

        # The target from the arguments (a cluster even of one node); the one plan and apply sequence over it.
        target = PatroniCluster(p["patroni"], base) if p["patroni"] else Replicas(tuple(nodes.values()))

        def hosts(plan: ClusterPlan) -> list[str]:
            by_dsn = {dsn: host for host, dsn in nodes.items()}
            names = {n.name: by_dsn.get(n.dsn, n.name) for n in plan.topology.nodes}
            return [names[s.node] for s in plan.restart]

        plan: ClusterPlan = sequence.preview(target, inputs)
        result = {
            "changed": not plan.empty,
            "plan": cluster_to_dict(plan),
            "restart_order": hosts(plan),
            "restart_reason": plan.restart_reason,
            "restart_required": bool(plan.restart),
        }
        if module.check_mode or (plan.empty and not (p["restart"] and plan.restart)):
            module.exit_json(**result)
            return
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
            return
        module.exit_json(**result)
    except PgtuneError as exc:
        module.fail_json(msg=scrub_known("\n".join(exc.lines())))


if __name__ == "__main__":
    main()
