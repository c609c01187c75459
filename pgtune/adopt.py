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

from pgtune.engine import build_plan
from pgtune.identifiers import InvalidName, parse_qualified
from pgtune.inspect import index_spec
from pgtune.plan import Change
from pgtune.profile.edit import replace_values, value_spans
from pgtune.profile.loader import LoadedProfile
from pgtune.profile.source import PathKey, read_document


def _table_key(loaded: LoadedProfile, qualified: str) -> str | None:
    schema, _, name = qualified.rpartition(".")
    for key in loaded.profile.tables:
        try:
            k_schema, k_name = parse_qualified(key)
        except InvalidName:
            continue
        if k_name == name and k_schema in (None, schema):
            return key
    return None


def _edits_for(change: Change, loaded: LoadedProfile) -> tuple[dict[PathKey, Any], str | None]:
    """Profile path -> live value for one change, or a reason it is not pulled."""
    if change.kind == "setting":
        scope, _, rest = change.object.partition(":")
        if not rest:
            return {("settings", change.object): change.before}, None
        target, _, name = rest.partition("/")
        section = "databases" if scope == "database" else "roles"
        return {(section, target, "settings", name): change.before}, None
    if change.kind == "storage":
        key = _table_key(loaded, change.object)
        if key is None or not isinstance(change.before, dict):
            return {}, "not found in the profile"
        return {("tables", key, "storage", p): v for p, v in change.before.items()}, None
    if change.kind == "index":
        name = change.object.rpartition(".")[2]
        key = next((k for k, spec in loaded.profile.tables.items() if name in spec.indexes), None)
        if key is None:
            return {}, "not declared (pruned indexes are not pulled in)"
        live = None if change.action == "create" else change.before
        return {("tables", key, "indexes", name): "absent" if live is None else index_spec(str(live))}, None
    if change.kind == "pool" and change.object.startswith("pgbouncer/"):
        name = change.object.split("/", 1)[1]
        return {("pool", "pgbouncer", "settings", name): change.before}, None
    return {}, f"{change.kind} changes are not pulled into a profile"


def pull_live_values(conn: psycopg.Connection, loaded: LoadedProfile, path: Path) -> tuple[list[str], int]:
    """Rewrite `path` in place so it declares what runs; a line per value changed or left, and
    how many were changed."""
    plan = build_plan(conn, loaded)
    text = path.read_text(encoding="utf-8")
    own = read_document(path, loaded.path)
    spans = value_spans(text)
    edits: dict[PathKey, Any] = {}
    report: list[str] = []
    for change in plan.changes:
        wanted, reason = _edits_for(change, loaded)
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
