"""Plans as data: the documented JSON contract (format_version 1; add keys, never rename), which the
JSON renderer prints and a saved plan records. Kept beside the plan model, below every renderer, so a
saved plan is built from the plan, never by a renderer."""

from __future__ import annotations

from typing import Any

from pgtune.plan.cluster import ClusterPlan
from pgtune.plan.model import Change, Plan, value_data

FORMAT_VERSION = 1


def change_to_dict(change: Change) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "object": change.object,
        "address": change.address.data(),
        "action": change.action,
        "before": value_data(change.before),
        "after": value_data(change.after),
        "sql": [s.sql for s in change.statements],
        "transactional": change.transactional,
        "lock": change.lock,
        "other_locks": [{"relation": r, "mode": m} for r, m in change.other_locks],
        "restart_required": change.restart_required,
        "reload_required": change.reload_required,
        "hazards": [{"code": h.code, "message": h.message} for h in change.hazards],
        "note": change.note,
        "source": change.source,
        "reset": change.reset,
        "statements": [
            {
                "sql": s.sql,
                "transactional": s.transactional,
                "lock": s.lock,
                "retryable": s.retryable,
                "progress": s.progress,
                "target": s.target,
                "file": s.file,
                "locks": [{"relation": r, "mode": m} for r, m in s.locks],
            }
            for s in change.statements
        ],
    }


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "profile": plan.profile,
        "server": {"version": plan.server.version, "version_num": plan.server.version_num},
        "changes": [change_to_dict(c) for c in plan.changes],
        "epilogue": [s.sql for s in plan.epilogue],
        "epilogue_statements": [{"sql": s.sql, "target": s.target} for s in plan.epilogue],
        "notices": [{"kind": n.kind, "object": n.object, "code": n.code, "message": n.message} for n in plan.notices],
        "checks": [
            {"code": c.code, "status": c.status, "message": c.message, "numbers": c.numbers} for c in plan.checks
        ],
        "summary": plan.summary(),
    }


def cluster_to_dict(plan: ClusterPlan) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "profile": plan.profile,
        "cluster": {
            "nodes": [{"name": n.name, "role": n.role, "upstream": n.upstream} for n in plan.topology.nodes],
            "restart_order": [{"node": s.node, "role": s.role} for s in plan.restart],
            "restart_reason": plan.restart_reason or None,
            "notices": [
                {"kind": n.kind, "object": n.object, "code": n.code, "message": n.message} for n in plan.notices
            ],
            "checks": [{"code": c.code, "status": c.status, "message": c.message} for c in plan.checks],
            "hot_standby_minimums": {
                node: {name: {"running": r, "planned": p} for name, (r, p) in values.items()}
                for node, values in plan.values.items()
            },
        },
        "nodes": [{"node": p.node.name, "role": p.node.role, **plan_to_dict(p.plan)} for p in plan.plans],
        plan.store: None if plan.dcs is None else plan_to_dict(plan.dcs),
    }
