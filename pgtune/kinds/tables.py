"""Declared tables, resolved once per plan for every table-level kind (storage, indexes, ...).

One set-based query resolves every `tables:` key (qualified, or bare through search_path) and
lists each table's leaf relations with their reloptions. Unknown and ambiguous names are
reported here, once, with the position of the key in the profile.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from pgtune.errors import Deferred, Location, ProfileError
from pgtune.identifiers import InvalidName, parse_qualified, qualified_text
from pgtune.kinds import load_sql
from pgtune.profile.loader import LoadedProfile


@dataclass(frozen=True)
class Leaf:
    oid: int
    schema: str
    name: str
    reloptions: dict[str, str]
    toast_reloptions: dict[str, str] | None  # None: the table has no TOAST table
    owned: bool = True  # the current role owns it (or is a member of its owner): ALTER TABLE may run


@dataclass(frozen=True)
class Table:
    key: str  # as written in the profile
    location: Location | Deferred | None  # of the key
    oid: int
    schema: str
    name: str
    partitioned: bool
    multilevel: bool  # partitioned with partitioned partitions
    leaves: tuple[Leaf, ...]
    server_quoted: str  # schema.name quoted by the server's rules (quote_ident), as pg_get_indexdef prints it
    owned: bool = True  # the current role owns it: ALTER TABLE, CREATE INDEX, ATTACH/DETACH may run
    may_create: bool = True  # CREATE on its schema: new partitions may be created there

    @property
    def qualified(self) -> str:
        return qualified_text(self.schema, self.name)


def _options(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        out[name] = value
    return out


def resolve(conn: psycopg.Connection, loaded: LoadedProfile) -> tuple[dict[str, Table], list[ProfileError]]:
    """Profile key -> the one table it names; errors for bad, unknown and ambiguous names."""
    errors: list[ProfileError] = []
    wanted: list[tuple[str, str | None, str]] = []
    for key in loaded.profile.tables:
        try:
            schema, name = parse_qualified(key)
        except InvalidName as exc:
            errors.append(ProfileError(loaded.location(("tables", key), key=True), str(exc)))
            continue
        wanted.append((key, schema, name))
    if not wanted:
        return {}, errors
    params = {"keys": [w[0] for w in wanted], "schemas": [w[1] for w in wanted], "names": [w[2] for w in wanted]}
    heads: dict[str, dict[int, tuple]] = {}
    leaves: dict[tuple[str, int], list[Leaf]] = {}
    for row in conn.execute(load_sql("tables"), params).fetchall():
        key, oid, schema, name, relkind, quoted, owned, may_create, multilevel, *rest = row
        leaf_oid, leaf_schema, leaf_name, leaf_owned, *options = rest
        heads.setdefault(key, {})[oid] = (schema, name, relkind == "p", multilevel, quoted, owned, may_create)
        mine = leaves.setdefault((key, oid), [])
        if leaf_oid is not None:
            reloptions, has_toast, toast_reloptions = options
            mine.append(
                Leaf(
                    leaf_oid,
                    leaf_schema,
                    leaf_name,
                    _options(reloptions),
                    _options(toast_reloptions) if has_toast else None,
                    leaf_owned,
                )
            )
    found: dict[str, dict[int, Table]] = {}
    for key, by_oid in heads.items():
        location = loaded.where(("tables", key), key=True)
        for oid, (schema, name, partitioned, multilevel, quoted, owned, may_create) in by_oid.items():
            mine = sorted(leaves[(key, oid)], key=lambda leaf: (leaf.schema, leaf.name))
            found.setdefault(key, {})[oid] = Table(
                key, location, oid, schema, name, partitioned, multilevel, tuple(mine), quoted, owned, may_create
            )
    tables: dict[str, Table] = {}
    for key, _schema, _name in wanted:
        matches = sorted(found.get(key, {}).values(), key=lambda t: (t.schema, t.name))
        location = loaded.where(("tables", key), key=True)
        if not matches:
            errors.append(ProfileError(location, f"unknown table {key!r}"))
        elif len(matches) > 1:
            where = ", ".join(m.qualified for m in matches)
            errors.append(ProfileError(location, f"table {key!r} is ambiguous: {where}; qualify it"))
        else:
            tables[key] = matches[0]
    return tables, errors


def not_owned(table: Table, what: str, leaves: tuple[Leaf, ...] | list[Leaf] = ()) -> ProfileError | None:
    """An error when the current role does not own what a change alters: the table itself, or with
    `leaves` those relations (a partitioned table's storage changes are made per partition).

    ALTER TABLE ... SET, CREATE/DROP INDEX, ATTACH/DETACH PARTITION all need ownership (membership
    in the owning role); PostgreSQL 17's MAINTAIN privilege covers VACUUM, ANALYZE, REINDEX and
    CLUSTER, not these, so it does not count here."""
    if leaves:
        foreign = [qualified_text(leaf.schema, leaf.name) for leaf in leaves if not leaf.owned]
        if not foreign:
            return None
        names = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        return ProfileError(
            table.location,
            f"{table.qualified}: {what} needs the owner's rights on {names}: the "
            "current role does not own it (GRANT it the owning role, or apply as the owner)",
        )
    if table.owned:
        return None
    return ProfileError(
        table.location,
        f"{table.qualified}: {what} needs the owner's rights: the current role does "
        "not own the table (GRANT it the owning role, or apply as the owner)",
    )


def table_key(loaded: LoadedProfile, schema: str | None, name: str) -> str | None:
    """The profile's key for schema.name (a key without a schema matches any)."""
    for key in loaded.profile.tables:
        try:
            k_schema, k_name = parse_qualified(key)
        except InvalidName:
            continue
        if k_name == name and k_schema in (None, schema):
            return key
    return None
