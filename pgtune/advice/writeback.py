"""`advise --into`: the advice written into the profile, every other byte as it was, each added
line commented with its evidence (what a reviewer of the pull request needs to judge it).

Names in advice come from the catalog and the workload: data, never syntax. Keys and values are
written by the YAML emitter (quoted where they must be), column names quoted as SQL identifiers
where they must be, and a `$` doubled so ${...} interpolation cannot reach into an advised value.
Then the new text is loaded in memory as the profile it would be and compared with the profile as
it was plus exactly the advised entries: a write that would change anything else — another key,
another table, a value that reads back differently — is refused and the file is left untouched.
Only a verified text replaces the file (written beside it, then renamed over it).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from pgtune.advice.model import Advice, Report
from pgtune.base.errors import PgtuneError
from pgtune.profile.edit import insert_entries
from pgtune.profile.source import PathKey


class WriteRefused(PgtuneError):
    """The advice cannot be written into the profile so that it reads back as exactly that advice."""


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


def _literal(value: Any) -> Any:
    """A value as the profile must hold it so interpolation gives it back: `$` doubled."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_literal(v) for v in value]
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    return value


def _with(data: dict[str, Any], path: PathKey, value: Any) -> None:
    node: Any = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


def _name(path: PathKey) -> str:
    return ".".join(str(p) for p in path)


def verify(path: Path, text: str, entries: list[tuple[PathKey, Any]]) -> None:
    """The profile `text` would be (beside `path`, so `extends` resolves alike) equals the profile
    `path` holds now with exactly `entries` set; WriteRefused says where it does not."""
    from pydantic import ValidationError

    from pgtune.base.errors import Location
    from pgtune.profile.edit import yaml_text
    from pgtune.profile.loader import load_profile, resolve_document
    from pgtune.profile.model import Profile
    from pgtune.profile.source import parse_value

    data, _index = resolve_document(path)
    for key, value in entries:  # as the profile's reader reads a value: its text, not its Python type
        _with(data, key, parse_value(yaml_text(value), Location(str(path), 1, 1)))
    try:
        expected = Profile.model_validate(data).model_dump()
    except ValidationError as exc:
        raise WriteRefused(f"the advice does not make a valid profile of {path}: {exc.errors()[0]['msg']}") from None
    fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".advise", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            written = load_profile(scratch).profile.model_dump()
        except PgtuneError as exc:
            raise WriteRefused(
                f"the advice written into {path} would not load back ({exc.lines()[0]}): nothing written"
            ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
    if written != expected:
        changed = sorted({_name(k) for k in _differences(expected, written)})
        raise WriteRefused(
            f"writing the advice into {path} would change more than the advised entries "
            f"({', '.join(changed[:5])}): nothing written"
        )


def _differences(a: Any, b: Any, path: PathKey = ()) -> list[PathKey]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[PathKey] = []
        for key in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(key), b.get(key), (*path, key))
        return out
    return [] if a == b else [path]


def write_into(path: Path, report: Report) -> int:
    """Insert every advised entry into the profile at `path`, verified before the file is replaced."""
    advised: list[tuple[PathKey, Any, str | None]] = [
        (key, _literal(value), comment(a)) for a in report.advice for key, value in a.entries
    ]
    text = path.read_text(encoding="utf-8")
    try:
        new = insert_entries(text, advised)
    except ValueError as exc:
        raise WriteRefused(f"cannot add the advice to {path}: {exc}") from None
    verify(path, new, [(key, value) for a in report.advice for key, value in a.entries])
    fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
        with contextlib.suppress(OSError):
            os.chmod(scratch, path.stat().st_mode & 0o7777)
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
        raise
    return len(advised)
