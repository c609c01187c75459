"""The workload impact after a plan: text, Markdown (a pull-request comment's section, long lists
folded) and JSON (the plan's `impact` key). Statement texts are the workload's own — untrusted —
and pass through the escapes like every name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgtune.base.escape import lines as joined
from pgtune.base.escape import md_code, md_text

if TYPE_CHECKING:
    from pgtune.advice.impact.model import Impact, StatementImpact

SHOWN_TEXT = 20
"""Movers listed in text; JSON lists every statement."""
SHOWN_MARKDOWN = 10
"""Movers in the comment's table; the rest folded below it."""
QUERY_WIDTH = 100


def impact_to_dict(impact: Impact) -> dict[str, Any]:
    return impact.to_dict()


def _query(s: StatementImpact) -> str:
    text = " ".join(s.query.split())
    return text if len(text) <= QUERY_WIDTH else text[: QUERY_WIDTH - 1] + "…"


def _cost(s: StatementImpact) -> str:
    if s.verdict is None:
        return f"cost {s.before.cost:g} → {s.after.cost:g}, not comparable (the cost model changes)"
    assert s.ratio is not None
    return f"cost {s.before.cost:g} → {s.after.cost:g} ({s.ratio:+.0%}): {s.verdict}"


def summary(impact: Impact) -> str:
    planned = len(impact.statements)
    covered = impact.coverage.to_dict()["time_share_planned"] if impact.coverage else 0.0
    return (
        f"{planned} statements planned ({covered:.0%} of the workload's statements' time); "
        f"{len(impact.changed)} change plan; {len(impact.improved)} improve "
        f"({impact.share('improves'):.1%} of the time), {len(impact.regressed)} regress "
        f"({impact.share('regresses'):.1%})"
    )


def _gate_lines(impact: Impact, limit: float | None) -> list[str]:
    if limit is None:
        return []
    found = impact.regressions(limit)
    if not found:
        return [f"No statement regresses by more than {limit:.0%} (--max-regression)."]
    return [f"{len(found)} statements regress by more than {limit:.0%} (--max-regression):"] + [
        f"  queryid {s.queryid} ({s.role}): {_query(s)} ({s.ratio:+.0%}, {s.time_share:.1%} of the time)"
        for s in found
        if s.ratio is not None
    ]


def render_impact_text(impact: Impact, limit: float | None = None) -> str:
    out = ["", f'Workload impact (database "{impact.database}")']
    out += [f"  missing: {m}" for m in impact.missing]
    if not impact.missing:
        out.append("  " + summary(impact))
    out += [f"  modelled: {m}" for m in impact.modelled]
    out += [f"  not modelled: {n.change}: {n.reason}" for n in impact.not_modelled]
    movers = impact.movers()
    for s in movers[:SHOWN_TEXT]:
        out.append(f"  {s.time_share:6.1%} {s.calls:>9} calls  queryid {s.queryid} ({s.role}): {_query(s)}")
        out.append(f"      {s.movement}; {_cost(s)}")
    if len(movers) > SHOWN_TEXT:
        out.append(f"  ... {len(movers) - SHOWN_TEXT} more statements moved (--format json lists every one)")
    out += ["  " + line for line in _gate_lines(impact, limit)]
    notes = impact.coverage.notes() if impact.coverage else []
    out += [f"  note: {n}" for n in [*notes, *impact.notes]]
    return joined(out)


def _row(s: StatementImpact) -> str:
    verdict = s.verdict or "plan changed, cost not comparable"
    cost = f"{s.before.cost:g} → {s.after.cost:g}" + (f" ({s.ratio:+.0%})" if s.ratio is not None else "")
    return (
        f"| {s.time_share:.1%} | {s.calls} | {md_code(s.role)} | {md_code(_query(s))} | {md_text(s.movement)} | "
        f"{md_text(cost)} | {verdict} |"
    )


def render_impact_markdown(impact: Impact, limit: float | None = None) -> str:
    out = ["", "### Workload impact", ""]
    out += [f"- missing: {md_text(m)}" for m in impact.missing]
    if not impact.missing:
        out.append(md_text(summary(impact)) + ".")
    if impact.modelled:
        out += ["", "Modelled: " + ", ".join(md_code(m) for m in impact.modelled)]
    if impact.not_modelled:
        out += ["", "Not modelled:"] + [f"- {md_code(n.change)}: {md_text(n.reason)}" for n in impact.not_modelled]
    movers = impact.movers()
    header = ["| time | calls | role | statement | plan change | cost | verdict |", "|---:|---:|---|---|---|---|---|"]
    if movers:
        out += ["", *header, *(_row(s) for s in movers[:SHOWN_MARKDOWN])]
    if len(movers) > SHOWN_MARKDOWN:
        rest = movers[SHOWN_MARKDOWN:]
        out += ["", f"<details><summary>{len(rest)} more statements moved</summary>", "", *header]
        out += [_row(s) for s in rest] + ["", "</details>"]
    gate = _gate_lines(impact, limit)
    if gate:
        out += ["", "**" + md_text(gate[0].strip()) + "**", *(f"- {md_text(g.strip())}" for g in gate[1:])]
    notes = impact.coverage.notes() if impact.coverage else []
    if notes or impact.notes:
        out += ["", *(f"- {md_text(n)}" for n in [*notes, *impact.notes])]
    return joined(out)
