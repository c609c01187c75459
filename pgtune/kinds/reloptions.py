"""Table storage parameters PostgreSQL knows (heap reloptions, reloptions.c), as typed specs.

There is no catalog view of reloption definitions, so they live here, per version. Values parse
with the same `GucSpec` machinery as settings; reloptions take no units (reloptions.c passes no
unit flags to parse_int/parse_real). Names are checked against this table before they reach SQL.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from pgtune.base.guc import GucSpec

INT_MAX = "2147483647"


@dataclass(frozen=True)
class Reloption:
    spec: GucSpec
    toast: bool  # also valid as toast.<name>
    since: int = 0  # server_version_num it appeared in
    lock: str = "SHARE UPDATE EXCLUSIVE"


def _opt(
    name: str,
    vartype: str,
    lo: str | None = None,
    hi: str | None = None,
    *,
    toast: bool = True,
    since: int = 0,
    enum: tuple[str, ...] = (),
    lock: str = "SHARE UPDATE EXCLUSIVE",
) -> Reloption:
    return Reloption(GucSpec(name, vartype, None, "reloption", lo, hi, enum), toast, since, lock)


HEAP_RELOPTIONS: dict[str, Reloption] = {
    o.spec.name: o
    for o in (
        _opt("fillfactor", "integer", "10", "100", toast=False),
        _opt("toast_tuple_target", "integer", "128", "8160", toast=False),
        _opt("parallel_workers", "integer", "0", "1024", toast=False),
        _opt("autovacuum_enabled", "bool"),
        _opt("vacuum_index_cleanup", "enum", enum=("auto", "on", "off"), since=140000),
        _opt("vacuum_truncate", "bool"),
        _opt("autovacuum_vacuum_threshold", "integer", "0", INT_MAX),
        _opt("autovacuum_vacuum_insert_threshold", "integer", "-1", INT_MAX, since=130000),
        _opt("autovacuum_analyze_threshold", "integer", "0", INT_MAX, toast=False),
        _opt("autovacuum_vacuum_cost_delay", "real", "0", "100"),
        _opt("autovacuum_vacuum_cost_limit", "integer", "1", "10000"),
        _opt("autovacuum_freeze_min_age", "integer", "0", "1000000000"),
        _opt("autovacuum_freeze_max_age", "integer", "100000", "2000000000"),
        _opt("autovacuum_freeze_table_age", "integer", "0", "2000000000"),
        _opt("autovacuum_multixact_freeze_min_age", "integer", "0", "1000000000"),
        _opt("autovacuum_multixact_freeze_max_age", "integer", "10000", "2000000000"),
        _opt("autovacuum_multixact_freeze_table_age", "integer", "0", "2000000000"),
        _opt("log_autovacuum_min_duration", "integer", "-1", INT_MAX),
        _opt("autovacuum_vacuum_scale_factor", "real", "0", "100"),
        _opt("autovacuum_vacuum_insert_scale_factor", "real", "0", "100", since=130000),
        _opt("autovacuum_analyze_scale_factor", "real", "0", "100", toast=False),
        _opt("user_catalog_table", "bool", toast=False, lock="ACCESS EXCLUSIVE"),
        _opt("autovacuum_vacuum_max_threshold", "integer", "-1", INT_MAX, since=180000),
        _opt("vacuum_max_eager_freeze_failure_rate", "real", "0", "1", since=180000),
    )
}


def known_names(version_num: int) -> list[str]:
    """Every parameter name valid on this server version, toast.* included."""
    names = [n for n, o in HEAP_RELOPTIONS.items() if version_num >= o.since]
    return names + [f"toast.{n}" for n in names if HEAP_RELOPTIONS[n].toast]


def since(name: str) -> int | None:
    """The server version a storage parameter appeared in (None: not one PostgreSQL has)."""
    option = HEAP_RELOPTIONS.get(name.removeprefix("toast."))
    return option.since if option is not None else None


def lookup(name: str, version_num: int) -> Reloption | None:
    """The reloption for `name` (or `toast.name`) on this version, or None."""
    toast = name.startswith("toast.")
    option = HEAP_RELOPTIONS.get(name.removeprefix("toast."))
    if option is None or version_num < option.since or (toast and not option.toast):
        return None
    return option


def unknown_message(name: str, version_num: int) -> str:
    """Why `name` is no storage parameter of this version: one that came later, or a misspelling."""
    first = since(name)
    if first is not None and version_num < first:
        return f"storage parameter {name!r} needs PostgreSQL {first // 10000}"
    close = difflib.get_close_matches(name, known_names(version_num), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown storage parameter {name!r}{hint}"
