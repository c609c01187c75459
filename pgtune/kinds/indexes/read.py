"""Reading indexes: the declared ones from the profile and the live ones from the catalog, once per definition shape."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

import pgtune.kinds.early as early
from pgtune.base.errors import CatalogChanged, ProfileError
from pgtune.kinds import Column, PlanContext, load_sql, load_versioned_sql, oid_array, record
from pgtune.kinds.early import Read
from pgtune.kinds.indexdef import IndexDefinitionError, anonymous, parse_declared, printed_forms
from pgtune.kinds.indexes.model import TMP_SUFFIX, Catalog, Desired, LiveIndex
from pgtune.kinds.tables import Table


def declared_indexes(ctx: PlanContext) -> tuple[list[Desired], list[Table], list[ProfileError]]:
    desired: list[Desired] = []
    pruned: list[Table] = []
    errors: list[ProfileError] = []
    excludes = bool(ctx.exclude)
    for key, spec in ctx.loaded.profile.tables.items():
        table = ctx.tables.get(key)
        if table is None or not (spec.indexes or spec.prune_indexes):
            continue
        if table.multilevel:
            errors.append(
                ProfileError(
                    table.location, f"{table.qualified}: indexes on multi-level partitioned tables are not supported"
                )
            )
            continue
        if spec.prune_indexes:
            pruned.append(table)
        for name, entry in spec.indexes.items():
            if excludes and ctx.excluded(table.schema, name):
                continue  # the engine's EXCLUDED notice covers tables; an excluded index is simply left alone
            desired.append(Desired(table, name, None if isinstance(entry, str) else entry, ctx.loaded))  # str: absent
    return desired, pruned, errors


def parse_definitions(desired: list[Desired], catalog: Catalog) -> list[ProfileError]:
    """Parse each declared index, unless the live one is printed exactly as it is declared (then
    it is unchanged: equal text, equal index). Parse errors reject the entry."""
    errors = []
    replacing, by_table = catalog.replacing, catalog.by_table
    for d in desired:
        spec = d.spec
        if spec is None:
            continue
        oid = d.table.oid
        indexes = by_table.get(oid, _NO_INDEXES)
        live = indexes.get(d.name)
        if (
            live is not None
            and live.valid
            and live.shape in printed_forms(spec, live.partitioned)
            and not (oid in replacing and d.temporary in indexes)  # an interrupted replace's index beside it
        ):
            d.unchanged = True
            continue
        try:
            d.parsed = parse_declared(spec)
        except IndexDefinitionError as exc:
            d.rejected = True
            errors.append(ProfileError(d.location, f"index {d.name!r}: {exc}"))
    return errors


def indexes_read(tables: list[Table], version_num: int) -> Read:
    """The indexes of these tables and of their partitions (one query)."""
    leaf_oids = sorted({leaf.oid for t in tables if t.partitioned for leaf in t.leaves})
    query = load_versioned_sql("indexes", version_num, nulls_not_distinct=(150000, "i.indnullsnotdistinct", "false"))
    return Read(
        "indexes", query, {"tables": oid_array(sorted({t.oid for t in tables})), "leaves": oid_array(leaf_oids)}
    )


def read(
    conn: psycopg.Connection,
    desired: list[Desired],
    tables: list[Table],
    columns: Callable[[], dict[int, list[Column]]],
    version_num: int,
    *,
    described: set[int] | None = None,
    fetch: Callable[[Read], list[Any]] | None = None,
) -> Catalog:
    """Set-based queries, whatever the number of tables and indexes: the indexes, one
    pg_get_indexdef() per shape (a third only if a definition is laid out unexpectedly), and
    the relations holding declared names that are not their table's index.

    Definitions are read for the indexes `desired` names (and their temporary names), and for
    every index of the tables in `described` (pruned ones, whose other indexes may be dropped;
    None: every table, for inspect). `fetch`: the plan's (kinds.PlanContext.fetch: the rows the
    engine asked for early), else sent now. Another index — a primary key the profile does not mention,
    on a table that does not prune — is left out: nothing compares it, and at fleet scale it was a
    fifth of the pg_get_indexdef() calls of a catalog of unrelated tables."""
    catalog = Catalog()
    names = {d.name for d in desired}  # declared names (any table's: a few more described costs nothing)
    by_oid = {t.oid: t for t in tables}
    main = indexes_read(tables, version_num)
    rows = fetch(main) if fetch is not None else early.fetch(conn, main)
    positionless = _Positionless()  # looked up inline first: a call per tree was a tenth of this loop
    alike: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}  # (shape, trees) -> rows of indexes to describe
    by_table, by_leaf = catalog.by_table, catalog.by_leaf
    for row in rows:
        table_oid, name, declared, raw, exprs, pred = row[1], row[3], row[8], row[10], row[11], row[12]
        if not declared:  # a partition's index
            by_leaf.setdefault(table_oid, []).append(record(LiveIndex, (*row[:8], None, None)))
            continue
        if name.endswith(TMP_SUFFIX):
            catalog.replacing.add(table_oid)
        if described is None or table_oid in described or name in names or name.endswith(TMP_SUFFIX):
            key = (raw, positionless.get(exprs) or positionless(exprs), positionless.get(pred) or positionless(pred))
            alike.setdefault(key, []).append(row)
        # else an index the profile does not name (a primary key) on a table that does not prune: no
        # step of a plan looks at it (the declared names, their replacements' and a pruned table's all are)
    # Only now the tables' columns (read after the indexes): alike indexes print alike on tables alike.
    signature = _Signatures(columns())
    signatures = signature.by_table
    shapes: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}  # shape -> rows of the declared tables' indexes
    for key, rows_of in alike.items():
        for row in rows_of:
            sig = signatures.get(row[1])
            shapes.setdefault((key, signature(row[1]) if sig is None else sig), []).append(row)
    definitions = _definitions(conn, [members[0][0] for members in shapes.values()])
    shared: list[tuple[list[tuple[Any, ...]], str | None]] = []  # members, and their anonymous text
    for members in shapes.values():
        oid, table_oid, *_, quoted_name, _, _, _ = members[0]
        shared.append((members, anonymous(definitions[oid], quoted_name, by_oid[table_oid].server_quoted)))
    unshared = [m[0] for members, text in shared if text is None for m in members if m[0] not in definitions]
    definitions.update(_definitions(conn, unshared))
    for members, text in shared:
        for row in members:
            oid, table_oid, name, quoted_name = row[0], row[1], row[3], row[9]
            shape, quoted = (
                (definitions[oid], None) if text is None else (text, (quoted_name, by_oid[table_oid].server_quoted))
            )
            by_table.setdefault(table_oid, {})[name] = record(LiveIndex, (*row[:8], shape, quoted))
    # A declared name that is its own table's index cannot belong to another relation.
    wanted = sorted({(d.table.schema, d.name) for d in desired if d.name not in by_table.get(d.table.oid, _NO_INDEXES)})
    if wanted:
        params = {"schemas": [w[0] for w in wanted], "names": [w[1] for w in wanted]}
        with conn.cursor(row_factory=dict_row) as cur:
            for hit in cur.execute(load_sql("index_names"), params):
                catalog.names[(hit["schema"], hit["name"])] = hit
    return catalog


_NO_INDEXES: dict[str, LiveIndex] = {}  # (never changed)
_LOCATION = re.compile(r" :location -?\d+")


class _Signatures:
    """What a table contributes to its indexes' printed text — its columns' numbers, names, types,
    typmods and collations — as a small number: tables with equal columns get the same one (worked
    out once a table, and only for tables with indexes to describe)."""

    def __init__(self, columns: dict[int, list[Column]]) -> None:
        self.columns = columns
        self.by_table: dict[int, int] = {}
        self.interned: dict[tuple[Column, ...], int] = {}

    def __call__(self, table_oid: int) -> int:
        found = self.by_table.get(table_oid)
        if found is None:
            columns = tuple(self.columns.get(table_oid, ()))
            found = self.by_table[table_oid] = self.interned.setdefault(columns, len(self.interned))
        return found


class _Positionless(dict[str | None, str | None]):
    """A node tree without source offsets: they differ with how CREATE INDEX was laid out, never
    change what pg_get_indexdef() prints, and would keep equal indexes from sharing a shape.
    Remembered by the tree's text: alike indexes send alike trees."""

    def __call__(self, tree: str | None) -> str | None:
        try:
            return self[tree]
        except KeyError:
            found = self[tree] = _LOCATION.sub("", tree) if tree else tree
            return found


def _definitions(conn: psycopg.Connection, oids: list[int]) -> dict[int, str]:
    """pg_get_indexdef() of these indexes. It reads the current catalog, not the plan's snapshot:
    an index dropped since the snapshot comes back NULL — the catalog moved under the plan."""
    if not oids:
        return {}
    found: dict[int, str | None] = dict(conn.execute(load_sql("index_definitions"), {"oids": oids}).fetchall())
    gone = sorted(oid for oid, text in found.items() if text is None)
    if gone:
        raise CatalogChanged(
            f"an index (oid {gone[0]}) was dropped by another session while pgtune was planning; plan again"
        )
    return {oid: text for oid, text in found.items() if text is not None}


def in_flight(conn: psycopg.Connection) -> dict[int, int]:
    """Indexes some session is building right now (index oid -> pid): never leftovers to drop."""
    return dict(
        conn.execute("SELECT index_relid, pid FROM pg_stat_progress_create_index WHERE index_relid <> 0").fetchall()
    )
