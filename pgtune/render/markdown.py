"""A pull-request comment: summary, a table of changes, hazards and restarts highlighted, the SQL
folded away, and a marker line a CI job finds to update its previous comment.

GitHub rejects comments over 65,536 characters; plan bots that ignored it broke on big plans.
The comment is therefore bounded: the SQL block goes first, then table rows, each replaced by a
line saying what was left out and where to find it (`pgtune show plan.json`, the CI log).
"""

from __future__ import annotations

from pgtune.base.escape import line, md_code, md_fence, md_text
from pgtune.base.escape import lines as joined
from pgtune.plan.hazards import HAZARDS, gated_codes
from pgtune.plan.model import MARKERS, Change, Parameters, Plan, Value, value_text
from pgtune.render.text import statement_sql, summary_line

MARKER_PREFIX = "<!-- pgtune-plan"
STATUS_EMOJI = {
    "ok": ":white_check_mark:",
    "warn": ":warning:",
    "critical": ":rotating_light:",
    "skipped": ":heavy_minus_sign:",
}
"""How a check's status reads in Markdown: plan cross-checks and `pgtune check` alike."""
MAX_CHARS = 60_000
"""Below GitHub's 65,536-character limit, with room for what a workflow adds around it."""


def marker(profile: str) -> str:
    """The first line of every comment, one per profile, so a PR planning several profiles keeps
    one comment each."""
    return f"{MARKER_PREFIX} profile={profile} -->"


def _code(value: Value) -> str:
    text = value_text(value)
    return "_(not set)_" if text is None else md_code(text)


def _transition(change: Change) -> str:
    before, after = change.before, change.after
    if isinstance(before, Parameters) and isinstance(after, Parameters):  # one line per parameter
        return "<br>".join(f"{k}: {_code(before.get(k))} → {_code(after.get(k))}" for k in after.names())
    if change.action == "create":
        return _code(change.after)
    if change.action == "delete" and not change.reset:
        return f"~~{_code(change.before)}~~"
    return f"{_code(change.before)} → {_code(change.after)}"


def _notes(change: Change) -> str:
    notes = []
    if change.restart_required:
        notes.append("**:warning: restart required**")
    if change.source == "workload":
        notes.append("from `workload`")
    for h in change.hazards:
        gated = HAZARDS.get(h.code)
        notes.append(f"**:no_entry: `{h.code}`**" if gated and gated.gated else f":warning: `{h.code}`")
    if change.lock != "none":
        notes.append(f"lock: {change.lock}")
    for relation, mode in change.other_locks:
        notes.append(f"lock: {mode} on {md_code(relation)}")
    if change.note and change.address.scope == "parameter-group":
        notes.append(md_text(change.note))  # the unit sent, or what a formula runs as: what a reviewer approves
    return "<br>".join(notes)


def _row(change: Change) -> str:
    cells = [f"`{MARKERS[change.action]}`", change.kind, md_code(change.object), _transition(change), _notes(change)]
    return "| " + " | ".join(cells) + " |"


def render_markdown(plan: Plan, max_chars: int = MAX_CHARS) -> str:
    head = [marker(plan.profile), f"### pgtune plan: `{plan.profile}` on PostgreSQL {plan.server.version}", ""]
    tail: list[str] = []
    if plan.notices:
        tail += ["", "**Notices**", ""]
        tail += [f"- `{n.code}` {md_code(n.object)}: {md_text(n.message)}" for n in plan.notices]
    if plan.checks:
        tail += ["", "**Checks**", ""]
        tail += [f"- {STATUS_EMOJI[c.status]} `{c.code}`: {md_text(c.message)}" for c in plan.checks]
    if plan.empty:
        head.append(f"**No changes.** The server matches profile `{plan.profile}`.")
        return joined(head + tail)
    restart = "**yes** :warning:" if plan.restart_required else "no"
    head += [f"**{summary_line(plan)}** Restart required: {restart}"]
    gated = gated_codes(plan)
    if gated:
        head += ["", f":no_entry: Applying needs `--allow-hazards {','.join(gated)}` (gated hazards below)."]
    head += ["", "| | kind | object | before → after | notes |", "|---|---|---|---|---|"]
    rows = [_row(c) for c in plan.changes]
    sql = [line(statement_sql(s)) for c in plan.changes for s in c.statements]
    sql += [line(statement_sql(s)) for s in plan.epilogue]
    fence = md_fence(sql)
    sql_block = ["", "<details><summary>SQL</summary>", "", f"{fence}sql", *sql, fence, "", "</details>"]

    def size(parts: list[list[str]]) -> int:
        return sum(len(line) + 1 for part in parts for line in part)

    if size([head, rows, sql_block, tail]) > max_chars:
        sql_block = ["", "_The SQL is too long for a comment: see `pgtune show plan.json` or the CI log._"]
    if size([head, rows, sql_block, tail]) > max_chars:
        budget = max_chars - size([head, sql_block, tail]) - 200
        kept: list[str] = []
        for row in rows:
            if size([kept]) + len(row) + 1 > budget:
                break
            kept.append(row)
        rows = [*kept, f"| | | _… {len(rows) - len(kept)} more changes: see the CI log_ | | |"]
    return joined(head + rows + sql_block + tail)
