"""Declared tables, resolved once per plan for every table-level kind (storage, indexes, ...).

One set-based query resolves every `tables:` key (qualified, or bare through search_path) and
lists each table's leaf relations with their reloptions. Unknown and ambiguous names are
reported here, once, with the position of the key in the profile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import psycopg

import pgtune.kinds.early as early
from pgtune.base.errors import Deferred, Location, ProfileError
from pgtune.base.identifiers import InvalidName, parse_qualified, qualified_text, quoted
from pgtune.kinds import load_sql, record
from pgtune.kinds.early import Read
from pgtune.profile.loader import LoadedProfile


class Leaf(NamedTuple):  # one per leaf relation of every declared table: tuples are the cheapest records to make
    oid: int
    schema: str
    name: str
    reloptions: dict[str, str]
    toast_reloptions: dict[str, str] | None  # None: the table has no TOAST table
    owned: bool = True  # the current role owns it (or is a member of its owner): ALTER TABLE may run
    owner: str = ""  # its owner's name, read only when it is not owned (for the GRANT that fixes it)


class Table(NamedTuple):  # one per declared table
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
    owner: str = ""  # its owner's name, read only when it is not owned
    applier: str = ""  # the role whose rights were judged (--privileges-of, else the connected one)

    @property
    def qualified(self) -> str:
        return qualified_text(self.schema, self.name)

    def may_not_create(self, what: str) -> str:
        return (
            f"{self.qualified}: {what} in schema {self.schema!r}, where role {self.applier!r} may not CREATE "
            f"(GRANT CREATE ON SCHEMA {quoted(self.schema)} TO {quoted(self.applier)})"
        )


def _options(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        out[name] = value
    return out


@dataclass(frozen=True)
class Request:
    """The profile's table keys as the one catalog read that resolves them (None: no key is a
    name), and the errors of the keys that are not."""

    read: Read | None
    errors: tuple[ProfileError, ...]


def request(loaded: LoadedProfile) -> Request:
    errors: list[ProfileError] = []
    keys, schemas, names = [], [], []
    for key in loaded.profile.tables:
        try:
            schema, name = parse_qualified(key)
        except InvalidName as exc:
            errors.append(ProfileError(loaded.location(("tables", key), key=True), str(exc)))
            continue
        keys.append(key)
        schemas.append(schema)
        names.append(name)
    read = Read("tables", load_sql("tables"), {"keys": keys, "schemas": schemas, "names": names}) if keys else None
    return Request(read, tuple(errors))


def resolve(
    conn: psycopg.Connection,
    loaded: LoadedProfile,
    applier: str = "",
    *,
    asked: Request | None = None,
    fetch: Callable[[Read], list[Any]] | None = None,
    found: Callable[[dict[str, Table]], None] | None = None,
) -> tuple[dict[str, Table], list[ProfileError]]:
    """Profile key -> the one table it names; errors for bad, unknown and ambiguous names.
    `applier`: the role whose ownership was judged, named in the errors with the GRANT that fixes them.
    `asked`, `fetch`: the request, and the rows of its read, when the plan sent it early (else both
    here). `found`: told the tables in outline — oids, names, partitioned, their leaves' oids and
    names; no storage options, owners or positions — as soon as the server answers, so that the
    reads that depend only on those are sent while the rows are turned into tables."""
    asked = asked or request(loaded)
    errors = list(asked.errors)
    if asked.read is None:
        return {}, errors
    # key -> oid -> the rows of its leaves (one without a leaf for a partitioned table without partitions)
    by_key: dict[str, dict[int, list[tuple[Any, ...]]]] = {}
    for row in fetch(asked.read) if fetch is not None else early.fetch(conn, asked.read):
        by_oid = by_key.get(row[0])
        if by_oid is None:
            by_oid = by_key[row[0]] = {}
        found_rows = by_oid.get(row[1])
        if found_rows is None:
            by_oid[row[1]] = [row]
        else:
            found_rows.append(row)
    keys: list[str] = asked.read.params["keys"]
    if found is not None:
        found({k: _table(k, None, rows, applier, _outline) for k in keys for rows in _one(by_key.get(k))})
    tables: dict[str, Table] = {}
    for key in keys:
        location = loaded.where(("tables", key), key=True)
        matches = [_table(key, location, rows, applier, _leaf) for rows in by_key.get(key, {}).values()]
        if len(matches) == 1:
            tables[key] = matches[0]
        elif not matches:
            errors.append(ProfileError(location, f"unknown table {key!r}"))
        else:
            where = ", ".join(m.qualified for m in sorted(matches, key=lambda t: (t.schema, t.name)))
            errors.append(ProfileError(location, f"table {key!r} is ambiguous: {where}; qualify it"))
    return _with_owners(conn, tables), errors


def _one(by_oid: dict[int, list[tuple[Any, ...]]] | None) -> list[list[tuple[Any, ...]]]:
    """The rows of the one relation a key names; none when it names none, or several."""
    return list(by_oid.values()) if by_oid is not None and len(by_oid) == 1 else []


_NONE: dict[str, str] = {}  # (never changed)


def _leaf(row: tuple[Any, ...]) -> Leaf:
    leaf_oid, leaf_schema, leaf_name, leaf_owned, reloptions, has_toast, toast_reloptions = row[9:]
    options = _options(reloptions) if reloptions else {}
    toast = (_options(toast_reloptions) if toast_reloptions else {}) if has_toast else None
    return record(Leaf, (leaf_oid, leaf_schema, leaf_name, options, toast, leaf_owned, ""))


def _outline(row: tuple[Any, ...]) -> Leaf:
    """A leaf in outline: its oid and name, without options or owner (`resolve`'s `found`)."""
    return record(Leaf, (row[9], row[10], row[11], _NONE, None, True, ""))


def _table(
    key: str,
    location: Deferred | None,
    rows: list[tuple[Any, ...]],
    applier: str,
    leaf: Callable[[tuple[Any, ...]], Leaf],
) -> Table:
    _, oid, schema, name, relkind, quoted, owned, may_create, multilevel = rows[0][:9]
    leaves = [leaf(row) for row in rows if row[9] is not None]
    if len(leaves) > 1:
        leaves.sort(key=lambda one: (one.schema, one.name))
    fields = (key, location, oid, schema, name, relkind == "p", multilevel, tuple(leaves), quoted, owned, may_create)
    return record(Table, (*fields, "", applier))  # owner: filled in by _with_owners where needed


def _with_owners(conn: psycopg.Connection, tables: dict[str, Table]) -> dict[str, Table]:
    """Owners' names of what the role does not own: one query, and only when there is such a relation."""
    strangers = {t.oid for t in tables.values() if not t.owned} | {
        leaf.oid for t in tables.values() for leaf in t.leaves if not leaf.owned
    }
    if not strangers:
        return tables
    rows = conn.execute(
        "SELECT oid::int8, pg_get_userbyid(relowner) FROM pg_class WHERE oid = ANY(%s::oid[])", (sorted(strangers),)
    ).fetchall()
    owners = {int(oid): str(owner) for oid, owner in rows}
    out = {}
    for key, t in tables.items():
        leaves = tuple(leaf if leaf.owned else leaf._replace(owner=owners.get(leaf.oid, "")) for leaf in t.leaves)
        out[key] = t._replace(leaves=leaves, owner=owners.get(t.oid, ""))
    return out


def not_owned(table: Table, what: str, leaves: tuple[Leaf, ...] | list[Leaf] = ()) -> ProfileError | None:
    """An error when the current role does not own what a change alters: the table itself, or with
    `leaves` those relations (a partitioned table's storage changes are made per partition).

    ALTER TABLE ... SET, CREATE/DROP INDEX, ATTACH/DETACH PARTITION all need ownership (membership
    in the owning role); PostgreSQL 17's MAINTAIN privilege covers VACUUM, ANALYZE, REINDEX and
    CLUSTER, not these, so it does not count here."""
    if leaves:
        strangers = [leaf for leaf in leaves if not leaf.owned]
        if not strangers:
            return None
        foreign = [qualified_text(leaf.schema, leaf.name) for leaf in strangers]
        names = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        return ProfileError(
            table.location,
            f"{table.qualified}: {what} needs the owner's rights on {names}: {_role(table)} does "
            f"not own it ({_grant_owners(sorted({leaf.owner for leaf in strangers}), table.applier)}, or apply as "
            "the owner)",
        )
    if table.owned:
        return None
    return ProfileError(
        table.location,
        f"{table.qualified}: {what} needs the owner's rights: {_role(table)} does "
        f"not own the table ({_grant_owners([table.owner], table.applier)}, or apply as the owner)",
    )


def _role(table: Table) -> str:
    return f"role {table.applier!r}" if table.applier else "the current role"


def _grant_owners(owners: list[str], applier: str) -> str:
    known = [o for o in owners if o]
    if not known or not applier:
        return "GRANT it the owning role"
    return "; ".join(f"GRANT {quoted(o)} TO {quoted(applier)}" for o in known)


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
