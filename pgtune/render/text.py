"""Terraform-like text: a line per change with + ~ - -/+ markers, then a summary line.

Every composed line passes through `escape.lines`: a name or value holding a newline or another
control character prints escaped, so catalog content cannot add a line of its own."""

from __future__ import annotations

from pgtune.base.escape import lines as joined
from pgtune.plan.hazards import gated_codes
from pgtune.plan.model import MARKERS, Address, Change, Parameters, Plan, Statement, Value, value_text
from pgtune.plan.report import ApplyReport


def _value(value: Value) -> str:
    text = value_text(value)
    return "(not set)" if text is None else text


def _flags(change: Change) -> str:
    flags = []
    if change.restart_required:
        flags.append("restart required")
    if change.reset:
        flags.append("reset")
    if change.source == "workload":
        flags.append("from workload")
    return f"  [{', '.join(flags)}]" if flags else ""


def change_line(change: Change) -> str:
    marker = MARKERS[change.action]
    before, after = change.before, change.after
    if isinstance(before, Parameters) and isinstance(after, Parameters):
        detail = "; ".join(f"{k} {_value(before.get(k))} -> {_value(after.get(k))}" for k in after.names())
    elif change.action == "create":
        detail = _value(change.after)
    elif change.action == "delete" and not change.reset:
        detail = _value(change.before)
    else:
        detail = f"{_value(change.before)} -> {_value(change.after)}"
    return f"  {marker:>3} {change.kind} {change.object}: {detail}{_flags(change)}"


def summary_line(plan: Plan) -> str:
    s = plan.summary()
    return (
        f"Plan: {s['create']} to create, {s['update']} to update, {s['delete']} to delete, {s['replace']} to replace."
    )


def render_text(plan: Plan) -> str:
    head = f'Profile "{plan.profile}" on PostgreSQL {plan.server.version}'
    lines = [head, ""]
    if plan.empty:
        lines = [f'No changes. The server matches profile "{plan.profile}" (PostgreSQL {plan.server.version}).']
    for change in plan.changes:
        lines.append(change_line(change))
        for h in change.hazards:
            lines.append(f"        ! {h.code}: {h.message}")
        if change.note:
            lines.append(f"        note: {change.note}")
        for stmt in change.statements:
            if stmt.target != "postgres":
                lines.append(f"        {statement_sql(stmt)}")
                continue
            where = (
                "in transaction"
                if change.transactional
                else ("own transaction" if stmt.transactional else "outside any transaction")
            )
            others = "".join(f"; {mode} on {relation}" for relation, mode in stmt.locks)
            lines.append(f"        {stmt.sql};  -- {where}, lock: {stmt.lock}{others}")
    if plan.notices:
        lines += ["", "Notices:"]
        lines += [f"  ! {n.code} {n.object}: {n.message}" for n in plan.notices]
    if plan.checks:
        lines += ["", "Checks:"]
        lines += [f"  {STATUS_MARKS[c.status]} {c.code}: {c.message}" for c in plan.checks]
    if not plan.empty:
        if plan.epilogue:
            lines += ["", "Then, once: " + " ".join(statement_sql(s) for s in plan.epilogue)]
        lines += ["", summary_line(plan), f"Restart required: {'yes' if plan.restart_required else 'no'}"]
        gated = gated_codes(plan)
        if gated:
            lines.append(f"Apply needs: --allow-hazards {','.join(gated)}")
    return joined(lines)


STATUS_MARKS = {"ok": "ok", "warn": "WARN", "critical": "CRIT", "skipped": "skip"}
"""How a check's status reads in text: plan cross-checks and `pgtune check` alike."""


def statement_sql(stmt: Statement) -> str:
    """A statement as a line of SQL; PgBouncer's are marked with where they go."""
    if stmt.target == "pgbouncer.ini":
        return f"-- pgbouncer.ini ({stmt.file}) [pgbouncer]: {stmt.sql}"
    if stmt.target == "pgbouncer":
        return f"{stmt.sql};  -- PgBouncer admin console"
    if stmt.target == "patroni":
        return f"-- Patroni REST API: PATCH /config {stmt.sql}"
    if stmt.target == "rds":
        return f"-- RDS API: {stmt.sql}"
    if stmt.target != "postgres":  # another target's store: the statement says what it does there
        return f"-- {stmt.target} {stmt.file}: {stmt.sql}" if stmt.file else f"-- {stmt.target}: {stmt.sql}"
    return f"{stmt.sql};"


def render_sql(plan: Plan) -> str:
    """The exact SQL apply would run, in order (for --dry-run)."""
    lines = [f"-- pgtune apply --dry-run: profile {plan.profile}, PostgreSQL {plan.server.version}"]
    for change in plan.changes:
        lines.append(f"-- {MARKERS[change.action]} {change.kind} {change.object}")
        transaction = change.transactional and len(change.statements) > 1
        if transaction:
            lines.append("BEGIN;")
        lines += [statement_sql(s) for s in change.statements]
        if transaction:
            lines.append("COMMIT;")
    lines += [statement_sql(s) for s in plan.epilogue]
    return joined(lines)


STATUS_WORDS = {
    "applied": "applied",
    "applied-restart-pending": "applied (restart pending)",
    "failed": "FAILED",
    "skipped": "skipped",
    "unconverged": "applied, but the server still differs",
}


def render_apply_report(report: ApplyReport, statuses: dict[Address, str]) -> str:
    lines = [""]
    for outcome in report.outcomes:
        status = statuses.get(outcome.change.address, outcome.status)
        line = f"  {STATUS_WORDS.get(status, status)}: {outcome.change.kind} {outcome.change.object}"
        if outcome.error:
            line += f" — {outcome.error}"
        lines.append(line)
    counts: dict[str, int] = {}
    for outcome in report.outcomes:
        status = statuses.get(outcome.change.address, outcome.status)
        counts[status] = counts.get(status, 0) + 1
    lines += ["", "Apply: " + ", ".join(f"{n} {STATUS_WORDS.get(k, k)}" for k, n in counts.items()) + "."]
    if report.reload_error:
        lines.append(f"Configuration reload FAILED: {report.reload_error} (re-run apply: it converges)")
    elif report.reloaded:
        lines.append("Configuration reloaded (pg_reload_conf).")
    if report.pgbouncer_reloaded:
        lines.append("PgBouncer reloaded (RELOAD) and its settings confirmed with SHOW CONFIG.")
    if "applied-restart-pending" in counts:
        lines.append("Restart PostgreSQL to apply the settings marked restart pending.")
    return joined(lines)
