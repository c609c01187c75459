"""Health check results as text, Markdown or JSON (`{"checks": [...]}`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pgtune.base.escape import line, md_code, md_text
from pgtune.base.escape import lines as joined
from pgtune.render.markdown import STATUS_EMOJI
from pgtune.render.text import STATUS_MARKS

if TYPE_CHECKING:  # the results are data: rendering them needs no database driver
    from pgtune.checks.health import Result


def _value(r: Result) -> str:
    if r.value is None:
        return "-"
    return f"{r.value:g}" if isinstance(r.value, float) else str(r.value)


def _summary(results: list[Result]) -> str:
    counts = {s: sum(1 for r in results if r.status == s) for s in ("ok", "warn", "critical", "skipped")}
    return (
        f"Checks: {counts['ok']} ok, {counts['warn']} warn, {counts['critical']} critical, {counts['skipped']} skipped."
    )


def _object(o: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in o.items() if v is not None)


def render_text(results: list[Result], database: str) -> str:
    lines = [f"Health of {database}", ""]
    for r in results:
        lines.append(f"  {STATUS_MARKS[r.status]:<4} {r.name}: {_value(r)} — {r.detail}")
        for o in r.objects[:5]:
            lines.append(f"         · {_object(o)}")
        if len(r.objects) > 5:
            lines.append(f"         · … {len(r.objects) - 5} more")
        if r.suggestion:
            lines.append(f"         → {r.suggestion}")
    lines += ["", _summary(results)]
    return joined(lines)


def render_markdown(results: list[Result], database: str) -> str:
    lines = [f"### pgtune check: {md_text(database)}", "", f"**{_summary(results)}**", ""]
    lines += ["| | check | value | detail | suggestion |", "|---|---|---|---|---|"]
    for r in results:
        texts = [_value(r), r.detail, r.suggestion or ""]
        cells = [STATUS_EMOJI[r.status], md_code(r.name), *(md_text(t) for t in texts)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(line(item) for item in lines) + "\n"


def render_json(results: list[Result], database: str) -> str:
    checks = [asdict(r) for r in results]
    return json.dumps({"database": database, "checks": checks}, indent=2, default=str) + "\n"


FORMATS = {"text": render_text, "markdown": render_markdown, "json": render_json}
