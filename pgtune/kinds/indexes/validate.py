"""Declared indexes checked before any plan: against the catalog (unique keys on partitioned
tables, constraints) and by the probe, which builds each one on an empty temporary copy of its
table inside a savepoint and prints it back."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql

from pgtune.base.errors import ProfileError
from pgtune.base.identifiers import identifier
from pgtune.kinds import PlanContext
from pgtune.kinds.indexdef import parse_live
from pgtune.kinds.indexes.model import PROBE_PREFIX, Catalog, Desired, LiveIndex
from pgtune.kinds.indexes.statements import create_sql


def validate(desired: list[Desired], catalog: Catalog, ctx: PlanContext) -> list[ProfileError]:
    errors: list[ProfileError] = []

    def reject(d: Desired, error: ProfileError) -> None:
        d.rejected = True
        errors.append(error)

    names: dict[int, set[str]] = {}  # table -> its column names
    for d in desired:
        live = catalog.by_table.get(d.table.oid, {}).get(d.name)
        other = catalog.names.get((d.table.schema, d.name))
        if live is None and other is not None:
            owner = f"an index on {other['table_name']}" if other["relkind"] in ("i", "I") else "another relation"
            reject(d, ProfileError(d.key_location, f"{d.qualified} is already {owner}; index names are per schema"))
            continue
        if d.spec is None:
            if live is not None and live.constraint:
                reject(d, constraint_error(d, live))
            continue
        assert d.parsed is not None
        columns = names.get(d.table.oid)
        if columns is None:
            columns = names[d.table.oid] = {c.name for c in ctx.columns().get(d.table.oid, [])}
        for name in sorted(d.parsed.column_names - columns):
            close = difflib.get_close_matches(name, sorted(columns), n=2)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            message = f"index {d.name!r}: table {d.table.qualified} has no column {name!r}{hint}"
            reject(d, ProfileError(d.location, message))
    unique_on_partitioned = [
        d
        for d in desired
        if not d.rejected and d.spec is not None and d.spec.unique and d.table.partitioned and not d.unchanged
    ]
    if unique_on_partitioned:
        keys = _partition_keys(ctx.conn, sorted({d.table.oid for d in unique_on_partitioned}))
        for d in unique_on_partitioned:
            problem = _unique_key_problem(d, keys.get(d.table.oid))
            if problem:
                reject(d, ProfileError(d.location, f"index {d.name!r}: {problem}"))
    return errors


def _partition_keys(conn: psycopg.Connection, oids: list[int]) -> dict[int, tuple[list[str], bool]]:
    """Partition key columns of these partitioned tables, and whether the key has an expression."""
    rows = conn.execute(
        "SELECT p.partrelid, array(SELECT a.attname FROM unnest(p.partattrs::int2[]) AS k(attnum) "
        "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = k.attnum), 0 = ANY (p.partattrs::int2[]) "
        "FROM pg_partitioned_table p WHERE p.partrelid = ANY (%s)",
        (oids,),
    ).fetchall()
    return {oid: (list(names), has_expression) for oid, names, has_expression in rows}


def _unique_key_problem(d: Desired, key: tuple[list[str], bool] | None) -> str | None:
    """A UNIQUE index on a partitioned table must have every partition key column among its key
    columns (PostgreSQL refuses it at CREATE otherwise; the probe's plain copy would not)."""
    if key is None:
        return None
    names, has_expression = key
    if has_expression:
        return f"{d.table.qualified} is partitioned by an expression: PostgreSQL refuses UNIQUE indexes on it"
    assert d.parsed is not None
    plain = {element[0][1] for element in d.parsed.canon[2] if element[0][0] == "column"}
    missing = [n for n in names if n not in plain]
    if missing:
        return (
            f"a UNIQUE index on partitioned {d.table.qualified} must include its partition key "
            f"({', '.join(names)}) among its columns; missing {', '.join(missing)}"
        )
    return None


def constraint_error(d: Desired, live: LiveIndex) -> ProfileError:
    return ProfileError(
        d.key_location,
        f"index {d.qualified} backs constraint {live.constraint!r}: pgtune never drops or replaces it "
        "(change the constraint with a migration, or declare the index as it is)",
    )


@dataclass
class _ProbeItem:
    desired: Desired
    table_alias: str
    index_alias: str


def _probe_statements(items: list[_ProbeItem]) -> list[sql.Composable]:
    statements: list[sql.Composable] = []
    made: set[str] = set()
    for item in items:
        if item.table_alias not in made:
            made.add(item.table_alias)
            t = item.desired.table
            statements.append(
                sql.SQL("CREATE TEMP TABLE {} (LIKE {})").format(
                    sql.Identifier(item.table_alias), identifier(t.schema, t.name)
                )
            )
        assert item.desired.parsed is not None
        statements.append(
            create_sql(item.desired.parsed, sql.Identifier(item.index_alias), sql.Identifier(item.table_alias))
        )
    return statements


_PROBE_READ = (
    "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c "
    "WHERE c.relnamespace = pg_my_temp_schema() AND c.relkind = 'i' AND c.relname LIKE 'pgtune\\_probe\\_%'"
)


def probe(conn: psycopg.Connection, desired: list[Desired]) -> tuple[list[ProfileError], bool]:
    """Let the server validate and canonicalise these definitions; sets `Desired.server`.

    Returns (errors, probed): `probed` is False where the server cannot create temporary tables
    (a hot standby): then only the parse-level comparison applies.
    """
    if not desired:
        return [], True
    aliases: dict[int, str] = {}
    items = []
    for i, d in enumerate(desired):
        table_alias = aliases.setdefault(d.table.oid, f"{PROBE_PREFIX}{len(aliases)}")
        items.append(_ProbeItem(d, table_alias, f"{PROBE_PREFIX}{len(aliases) - 1}_{i}"))
    batch = sql.SQL("; ").join(_probe_statements(items)).as_string(conn)
    try:
        with conn.transaction(force_rollback=True):  # a savepoint, always rolled back
            conn.execute(batch.encode())
            rows: dict[str, Any] = dict(conn.execute(_PROBE_READ).fetchall())
    except pgerrors.ReadOnlySqlTransaction:
        return [], False
    except pgerrors.LockNotAvailable:
        raise  # a table is locked (lock_timeout): the plan gives up, it is no fault of the profile
    except psycopg.Error:
        if conn.broken:
            raise  # the connection is gone: no fault of the profile either (workflow.derive says so)
        return _probe_one_by_one(conn, items), True
    for item in items:
        item.desired.server = parse_live(rows[item.index_alias])
    return [], True


def _probe_one_by_one(conn: psycopg.Connection, items: list[_ProbeItem]) -> list[ProfileError]:
    """The batch failed: find which definitions the server rejects, and why (error path only)."""
    errors = []
    for item in items:
        try:
            with conn.transaction(force_rollback=True):
                for statement in _probe_statements([item]):
                    conn.execute(sql.Composed([statement]))
                found: dict[str, Any] = dict(conn.execute(_PROBE_READ).fetchall())
            item.desired.server = parse_live(found[item.index_alias])
        except pgerrors.LockNotAvailable:
            raise
        except psycopg.Error as exc:
            if conn.broken:
                raise
            message = (exc.diag.message_primary or str(exc)).replace(item.table_alias, item.desired.table.qualified)
            item.desired.rejected = True
            errors.append(ProfileError(item.desired.location, f"index {item.desired.name!r}: {message}"))
    return errors


def needs_probe(d: Desired, catalog: Catalog) -> bool:
    if d.spec is None or d.unchanged:
        return False
    indexes = catalog.by_table.get(d.table.oid, {})
    live = indexes.get(d.name)
    if live is None:
        return True
    assert d.parsed is not None
    if d.parsed.canon != live.parsed().canon:
        return True
    tmp = indexes.get(d.temporary)
    return tmp is not None and d.parsed.canon != tmp.parsed().canon
