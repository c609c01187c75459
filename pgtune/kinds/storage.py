"""Per-table storage parameters (reloptions), toast.* included.

One query reads every declared table, its leaf relations and their (TOAST) reloptions. A
partitioned parent takes no storage parameters, so what a profile declares for it is applied to
every leaf partition, one change per leaf. Values compare typed ("0.050" equals 0.05); each
change is one transaction of `ALTER TABLE ... SET (...)` / `RESET (...)` under lock_timeout.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pgtune.errors import Location, ProfileError, raise_if_any
from pgtune.guc import Canonical, InvalidValue
from pgtune.hazards import hazard
from pgtune.identifiers import InvalidName, identifier, parse_qualified, qualified_text
from pgtune.kinds import KindResult, load_sql
from pgtune.plan import Change, Hazard, Notice, Statement
from pgtune.profile.loader import LoadedProfile
from pgtune.reloptions import known_names, lookup

KIND = "storage"


@dataclass(frozen=True)
class DesiredParam:
    name: str  # e.g. autovacuum_vacuum_scale_factor, toast.autovacuum_enabled
    raw: str | list[str] | None
    location: Location | None
    key_location: Location | None


@dataclass
class DesiredTable:
    key: str  # as written in the profile
    schema: str | None
    name: str
    location: Location | None
    params: list[DesiredParam] = field(default_factory=list)


@dataclass(frozen=True)
class Leaf:
    schema: str
    name: str
    reloptions: dict[str, str]
    toast_reloptions: dict[str, str] | None  # None: the table has no TOAST table


@dataclass(frozen=True)
class ObservedTable:
    schema: str
    name: str
    partitioned: bool
    leaves: tuple[Leaf, ...]


def _options(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        out[name] = value
    return out


def desired_tables(loaded: LoadedProfile) -> tuple[list[DesiredTable], list[ProfileError]]:
    tables, errors = [], []
    for key, spec in loaded.profile.tables.items():
        if not spec.storage:
            continue
        try:
            schema, name = parse_qualified(key)
        except InvalidName as exc:
            errors.append(ProfileError(loaded.location(("tables", key), key=True), str(exc)))
            continue
        table = DesiredTable(key, schema, name, loaded.location(("tables", key), key=True))
        for param, raw in spec.storage.items():
            path = ("tables", key, "storage", param)
            table.params.append(DesiredParam(param, raw, loaded.location(path), loaded.location(path, key=True)))
        tables.append(table)
    return tables, errors


def read(conn: psycopg.Connection, tables: list[DesiredTable]) -> dict[str, list[ObservedTable]]:
    """Declared key -> every matching table (more than one only for an ambiguous bare name)."""
    params = {
        "keys": [t.key for t in tables],
        "schemas": [t.schema for t in tables],
        "names": [t.name for t in tables],
    }
    found: dict[str, dict[tuple[str, str], ObservedTable]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(load_sql("tables"), params):
            by_name = found.setdefault(row["key"], {})
            ident = (row["nspname"], row["relname"])
            table = by_name.get(ident) or ObservedTable(ident[0], ident[1], row["relkind"] == "p", ())
            if row["leaf_name"] is not None:
                leaf = Leaf(
                    row["leaf_schema"],
                    row["leaf_name"],
                    _options(row["reloptions"]),
                    _options(row["toast_reloptions"]) if row["has_toast"] else None,
                )
                table = ObservedTable(table.schema, table.name, table.partitioned, (*table.leaves, leaf))
            by_name[ident] = table
    return {key: list(v.values()) for key, v in found.items()}


@dataclass(frozen=True)
class TypedParam:
    name: str
    value: Canonical | None
    lock: str


def validate(
    tables: list[DesiredTable], observed: dict[str, list[ObservedTable]], version_num: int
) -> list[tuple[DesiredTable, ObservedTable, list[TypedParam]]]:
    errors: list[ProfileError] = []
    out = []
    names = known_names(version_num)
    for table in tables:
        matches = observed.get(table.key, [])
        if not matches:
            errors.append(ProfileError(table.location, f"unknown table {table.key!r}"))
            continue
        if len(matches) > 1:
            where = ", ".join(qualified_text(m.schema, m.name) for m in matches)
            errors.append(ProfileError(table.location, f"table {table.key!r} is ambiguous: {where}; qualify it"))
            continue
        typed = []
        for param in table.params:
            option = lookup(param.name, version_num)
            if option is None:
                close = difflib.get_close_matches(param.name, names, n=3)
                hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                errors.append(ProfileError(param.key_location, f"unknown storage parameter {param.name!r}{hint}"))
                continue
            if param.raw is None:
                typed.append(TypedParam(param.name, None, option.lock))
                continue
            try:
                value = option.spec.canonical(param.raw)
            except InvalidValue as exc:
                errors.append(ProfileError(param.location, str(exc).replace(option.spec.name, param.name, 1)))
                continue
            typed.append(TypedParam(param.name, value, option.lock))
        out.append((table, matches[0], typed))
    raise_if_any(errors)
    return out


def _current(leaf: Leaf, name: str) -> tuple[bool, str | None]:
    """(relation exists for this parameter, raw stored value)."""
    if name.startswith("toast."):
        if leaf.toast_reloptions is None:
            return False, None
        return True, leaf.toast_reloptions.get(name.removeprefix("toast."))
    return True, leaf.reloptions.get(name)


def _leaf_change(
    leaf: Leaf, parent: ObservedTable, params: list[TypedParam], version_num: int, conn: psycopg.Connection
) -> tuple[Change | None, list[str]]:
    sets: list[tuple[TypedParam, str | None]] = []
    resets: list[tuple[TypedParam, str]] = []
    skipped: list[str] = []
    for p in params:
        exists, raw = _current(leaf, p.name)
        if not exists:
            skipped.append(p.name)
            continue
        option = lookup(p.name, version_num)
        assert option is not None
        if p.value is None:
            if raw is not None:
                resets.append((p, raw))
            continue
        try:
            same = raw is not None and option.spec.equal(option.spec.canonical(raw, check_range=False), p.value)
        except InvalidValue:
            same = False
        if not same:
            sets.append((p, raw))
    if not sets and not resets:
        return None, skipped
    target = identifier(leaf.schema, leaf.name)
    statements = []
    lock = (
        "ACCESS EXCLUSIVE" if any(p.lock == "ACCESS EXCLUSIVE" for p, _ in sets + resets) else "SHARE UPDATE EXCLUSIVE"
    )
    if sets:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.SQL(p.name), sql.Literal(_spec(p, version_num).display(p.value)))
            for p, _ in sets
        )
        statements.append(sql.SQL("ALTER TABLE {} SET ({})").format(target, assignments))
    if resets:
        statements.append(
            sql.SQL("ALTER TABLE {} RESET ({})").format(target, sql.SQL(", ").join(sql.SQL(p.name) for p, _ in resets))
        )
    before = {p.name: raw for p, raw in sets + resets}
    after = {
        p.name: (_spec(p, version_num).display(p.value) if p.value is not None else None) for p, _ in sets + resets
    }
    hazards: tuple[Hazard, ...] = ()
    if lock == "ACCESS EXCLUSIVE":
        hazards = (hazard("ACQUIRES_ACCESS_EXCLUSIVE_LOCK"),)
    note = None
    if parent.partitioned:
        parent_name = qualified_text(parent.schema, parent.name)
        note = f"partition of {parent_name} (a partitioned parent takes no storage parameters)"
    change = Change(
        KIND,
        qualified_text(leaf.schema, leaf.name),
        "update" if sets else "delete",
        before,
        after,
        tuple(Statement(s.as_string(conn), True, lock) for s in statements),
        hazards=hazards,
        note=note,
    )
    return change, skipped


def _spec(p: TypedParam, version_num: int):  # type: ignore[no-untyped-def]
    option = lookup(p.name, version_num)
    assert option is not None
    return option.spec


def diff(
    validated: list[tuple[DesiredTable, ObservedTable, list[TypedParam]]], version_num: int, conn: psycopg.Connection
) -> KindResult:
    result = KindResult()
    for _table, observed, params in sorted(validated, key=lambda v: (v[1].schema, v[1].name)):
        name = qualified_text(observed.schema, observed.name)
        if observed.partitioned and not observed.leaves:
            result.notices.append(
                Notice(KIND, name, "NO_PARTITIONS", "partitioned table without partitions: nothing to apply yet")
            )
        for leaf in observed.leaves:
            change, skipped = _leaf_change(leaf, observed, params, version_num, conn)
            if change:
                result.changes.append(change)
            if skipped:
                result.notices.append(
                    Notice(
                        KIND,
                        qualified_text(leaf.schema, leaf.name),
                        "NO_TOAST_TABLE",
                        f"no TOAST table, so {', '.join(skipped)} cannot apply",
                    )
                )
    return result


def plan(conn: psycopg.Connection, loaded: LoadedProfile) -> KindResult:
    tables, errors = desired_tables(loaded)
    raise_if_any(errors)
    if not tables:
        return KindResult()
    version_num = conn.info.server_version
    observed = read(conn, tables)
    return diff(validate(tables, observed, version_num), version_num, conn)
