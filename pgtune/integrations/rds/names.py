"""RDS-only parameter names (`rds.*`) per engine family, for offline validation: a typo in
`rds.force_ssl` is caught in a pull request, not by ModifyDBParameterGroup in a deploy."""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources

FAMILIES = ("postgres", "aurora-postgresql")


@lru_cache(maxsize=1)
def _bundled() -> dict[str, frozenset[str]]:
    text = resources.files("pgtune").joinpath("data", "rds-parameters.json").read_text(encoding="utf-8")
    return {family: frozenset(names) for family, names in json.loads(text)["families"].items()}


def family_of(group_family: str) -> str:
    """`postgres16` -> `postgres`, `aurora-postgresql15` -> `aurora-postgresql`."""
    return group_family.rstrip("0123456789.")


def problem(name: str, family: str | None) -> str | None:
    """Why `name` is not an RDS parameter of `family` (any family when None), or None."""
    known = _bundled()
    names = known[family] if family is not None else frozenset().union(*known.values())
    if name.lower() in names:
        return None
    where = f"RDS family {family}" if family is not None else "RDS for PostgreSQL or Aurora PostgreSQL"
    if family is not None and any(name.lower() in other for other in known.values()):
        return f"{name} is not a parameter of {where} (another family has it)"
    close = difflib.get_close_matches(name.lower(), sorted(names), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown RDS parameter {name!r} in {where}{hint}"
