"""Accept drift in a reviewed commit: `pgtune inspect --into PROFILE`.

"The live values of what the profile declares" are exactly the before-values of the plan that
profile produces. So the plan is computed, and each change that maps to a value written in this
file is turned back into an edit of that value (profile/edit.py keeps every other byte). Values
set through ${VAR}, inherited from an `extends` base, and partitions (whose declaration is a
policy, not a value) are left alone and reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from pgtune.kinds import engine
from pgtune.profile.edit import replace_values, value_spans
from pgtune.profile.loader import LoadedProfile
from pgtune.profile.source import PathKey, read_document


def pull_live_values(conn: psycopg.Connection, loaded: LoadedProfile, path: Path) -> tuple[list[str], int]:
    """Rewrite `path` in place so it declares what runs; a line per value changed or left, and
    how many were changed."""
    plan = engine.build_plan(conn, loaded)
    kinds = {kind.name: kind for kind in engine.all_kinds()}
    text = path.read_text(encoding="utf-8")
    own = read_document(path, loaded.path)
    spans = value_spans(text)
    edits: dict[PathKey, Any] = {}
    report: list[str] = []
    for change in plan.changes:
        wanted, reason = kinds[change.kind].adopt(change, loaded)
        if reason:
            report.append(f"{change.kind} {change.object}: left as is ({reason})")
        for key, value in wanted.items():
            where = ".".join(map(str, key))
            if key not in spans:
                report.append(f"{where}: left as is (set in a file this profile extends)")
            elif "${" in text[spans[key].start : spans[key].end]:
                report.append(f"{where}: left as is (set through ${{...}} interpolation)")
            else:
                edits[key] = value
                report.append(f"{where}: {_short(own, key)} -> {value!r}")
    if edits:
        path.write_text(replace_values(text, edits), encoding="utf-8")
    return report, len(edits)


def _short(doc: Any, key: PathKey) -> str:
    data = doc.data
    for part in key:
        data = data.get(part) if isinstance(data, dict) else None
    return repr(data)
