"""`advise --into`: the advice written into the profile, every other byte as it was, each added
line commented with its evidence (what a reviewer of the pull request needs to judge it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgtune.advice.model import Advice, Report
from pgtune.profile.edit import insert_entries
from pgtune.profile.source import PathKey


def comment(advice: Advice) -> str:
    e = advice.evidence
    if advice.kind == "index":
        queries = ", ".join(str(q["queryid"]) for q in e["queries"][:3])
        saved, writes = e["saved_ms"], e["write_penalty_ms"]
        return f"pgtune advise: saves ~{saved:.0f} ms over queries {queries}; writes ~{writes:.1f} ms"
    if advice.kind == "storage":
        worst = max(e["triggers"].values(), key=lambda t: t["interval_hours"])
        return (
            f"pgtune advise: {e['rows']} rows, fired every ~{worst['interval_hours']:g} h, now ~"
            f"{worst['advised_interval_hours']:g} h"
        )
    return (
        f"pgtune advise: spills up to {e['largest_spill_per_call_bytes'] // 1024} kB a call; worst case "
        f"{e['worst_case_memory_mb']} MB at {e['connections']} connections"
    )


def write_into(path: Path, report: Report) -> int:
    entries: list[tuple[PathKey, Any, str | None]] = [
        (key, value, comment(a)) for a in report.advice for key, value in a.entries
    ]
    text = path.read_text(encoding="utf-8")
    path.write_text(insert_entries(text, entries), encoding="utf-8")
    return len(entries)
