"""Resource kinds: each module reads its slice of the catalog, validates, and diffs.

A kind module exposes `plan(conn, loaded, server) -> KindResult`. Adding a kind means adding a
module and listing it in `KINDS`; the engine, renderers and executor stay unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from pgtune.plan import Change, Notice


@dataclass
class KindResult:
    changes: list[Change] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


@cache
def load_sql(name: str) -> str:
    """A catalog query kept as a .sql file beside the code (read once)."""
    return resources.files("pgtune.kinds").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")
