"""`pgtune advise` output: each piece of advice with its evidence and the profile lines it adds
(text, Markdown for a pull request, JSON for machines)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pgtune.base.escape import lines as joined
from pgtune.base.escape import md_code, md_text

if TYPE_CHECKING:
    from pgtune.advice.model import Advice, Report


def _path(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


def _profile_line(path: tuple[Any, ...], value: Any) -> str:
    from pgtune.profile.edit import yaml_text

    return f"{_path(path)}: {yaml_text(value)}"


def _evidence_lines(a: Advice) -> list[str]:
    e = a.evidence
    out = []
    if a.kind == "index":
        for q in e["queries"]:
            out.append(
                f"query {q['queryid']}: {q['calls']} calls, {q['total_ms']:g} ms, cost {q['cost_before']:g} → "
                f"{q['cost_after']:g}"
            )
        t = e["table"]
        out.append(
            f"table: {t['rows']} rows, {t['inserted']} inserted, {t['updated']} updated ({t['hot_updated']} HOT), "
            f"{t['deleted']} deleted, {t['indexes']} indexes"
        )
    elif a.kind == "storage":
        out.append(f"{e['rows']} rows, observed over {e['hours_observed']:g} h")
        for what, t in e["triggers"].items():
            rate = next(v for k, v in t.items() if k.endswith("_per_hour"))
            out.append(
                f"{what}: {rate} rows/h; fires at {t['trigger_rows']} rows = every {t['interval_hours']:g} h; "
                f"advised at {t['advised_trigger_rows']} rows = every {t['advised_interval_hours']:g} h"
            )
    else:
        out.append(
            f"role {e['role']}: work_mem {e['current_work_mem_kb']} kB now; largest spill "
            f"{e['largest_spill_per_call_bytes']} bytes a call; database temp_bytes {e['database_temp_bytes']}"
        )
        out += [f"query {q['queryid']}: {q['calls']} calls, {q['temp_blks_written']} temp blocks" for q in e["queries"]]
    return out


def render_text(report: Report) -> str:
    lines = [f'Advice for database "{report.database}"', ""]
    if not report.advice:
        lines.append("No advice: the workload read gives no evidence for a change.")
    for a in report.advice:
        lines.append(f"  + {a.summary}")
        lines += [f"      {line}" for line in _evidence_lines(a)]
        lines += [f"      profile: {_profile_line(p, v)}" for p, v in a.entries]
    if report.in_use:
        lines += ["", "Declared indexes and the queries whose generic plans use them:"]
        for u in report.in_use:
            users = ", ".join(map(str, u.queries)) if u.queries else "none of the queries read"
            lines.append(f"  {u.table} {u.index}: {users}")
    if report.missing:
        lines += ["", "Not advised:"] + [f"  ! {m}" for m in report.missing]
    if report.notes:
        lines += ["", "Notes:"] + [f"  {n}" for n in report.notes]
    return joined(lines)


def render_markdown(report: Report) -> str:
    lines = [f"### pgtune advise: `{report.database}`", ""]
    if not report.advice:
        lines.append("**No advice.** The workload read gives no evidence for a change.")
    else:
        lines += ["| kind | object | advice | profile |", "|---|---|---|---|"]
        for a in report.advice:
            profile = "<br>".join(md_code(_profile_line(p, v)) for p, v in a.entries)
            lines.append(f"| {a.kind} | {md_code(a.object)} | {md_text(a.summary)} | {profile} |")
        lines += ["", "<details><summary>Evidence</summary>", ""]
        for a in report.advice:
            lines.append(f"- {md_text(a.summary)}")
            lines += [f"  - {md_text(line)}" for line in _evidence_lines(a)]
        lines += ["", "</details>"]
    if report.in_use:
        lines += ["", "**Declared indexes in use**", ""]
        for u in report.in_use:
            users = ", ".join(f"`{q}`" for q in u.queries) if u.queries else "none of the queries read"
            lines.append(f"- {md_code(u.table)} {md_code(u.index)}: {users}")
    if report.missing:
        lines += ["", "**Not advised**", ""] + [f"- :warning: {md_text(m)}" for m in report.missing]
    if report.notes:
        lines += ["", "**Notes**", ""] + [f"- {md_text(n)}" for n in report.notes]
    return joined(lines)


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str) + "\n"


FORMATS = {"text": render_text, "markdown": render_markdown, "json": render_json}
