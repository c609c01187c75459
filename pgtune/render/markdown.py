"""A compact Markdown table fit for a pull-request comment."""

from __future__ import annotations

from pgtune.plan import MARKERS, Plan
from pgtune.render.text import describe, statement_sql, summary_line

MARKER_LINE = "<!-- pgtune-plan -->"


def _cell(value: object) -> str:
    text = "_(not set)_" if value is None else f"`{describe(value)}`"
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan) -> str:
    lines = [MARKER_LINE, f"### pgtune plan: `{plan.profile}` on PostgreSQL {plan.server.version}", ""]
    if plan.empty:
        lines.append(f"**No changes.** The server matches profile `{plan.profile}`.")
    else:
        restart = "**yes**" if plan.restart_required else "no"
        lines += [f"**{summary_line(plan)}** Restart required: {restart}", ""]
        lines += ["| | kind | object | before | after | notes |", "|---|---|---|---|---|---|"]
        for c in plan.changes:
            notes = []
            if c.restart_required:
                notes.append(":warning: restart required")
            notes += [f":warning: `{h.code}`" for h in c.hazards]
            if c.lock != "none":
                notes.append(f"lock: {c.lock}")
            cells = [
                f"`{MARKERS[c.action]}`",
                c.kind,
                f"`{c.object}`",
                _cell(c.before),
                _cell(c.after),
                "<br>".join(notes),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "<details><summary>SQL</summary>", "", "```sql"]
        lines += [statement_sql(s) for c in plan.changes for s in c.statements]
        lines += [statement_sql(s) for s in plan.epilogue]
        lines += ["```", "", "</details>"]
    if plan.notices:
        lines += ["", "**Notices**", ""]
        lines += [f"- `{n.code}` `{n.object}`: {n.message}" for n in plan.notices]
    if plan.checks:
        lines += ["", "**Checks**", ""]
        marks = {"ok": ":white_check_mark:", "warn": ":warning:"}
        lines += [f"- {marks[c.status]} `{c.code}`: {c.message}" for c in plan.checks]
    return "\n".join(lines) + "\n"
