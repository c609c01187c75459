"""Reading indexes: the declared ones from the profile and the live ones from the catalog, once per definition shape."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

import pgtune.kinds.early as early
from pgtune.base.errors import CatalogChanged, ProfileError
from pgtune.kinds import Column, PlanContext, load_sql, load_versioned_sql
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
            path = ("tables", key, "indexes", name)
            if excludes and ctx.excluded(table.schema, name):
                continue  # the engine's EXCLUDED notice covers tables; an excluded index is simply left alone
            spec_or_none = None if isinstance(entry, str) else entry  # the word absent
            desired.append(Desired(table, name, spec_or_none, ctx.loaded, path))
    return desired, pruned, errors


def parse_definitions(desired: list[Desired], catalog: Catalog) -> list[ProfileError]:
    """Parse each declared index, unless the live one is printed exactly as it is declared (then
    it is unchanged: equal text, equal index). Parse errors reject the entry."""
    errors = []
    replacing = {oid for oid, names in catalog.by_table.items() if any(n.endswith(TMP_SUFFIX) for n in names)}
    for d in desired:
        if d.spec is None:
            continue
        indexes = catalog.by_table.get(d.table.oid, {})
        live = indexes.get(d.name)
        printed = live is not None and live.shape in printed_forms(d.spec, only=live.partitioned)
        leftover = d.table.oid in replacing and d.temporary in indexes  # an interrupted replace's index
        if printed and live.valid and not leftover:  # type: ignore[union-attr]
            d.unchanged = True
            continue
        try:
            d.parsed = parse_declared(d.spec)
        except IndexDefinitionError as exc:
            d.rejected = True
            errors.append(ProfileError(d.location, f"index {d.name!r}: {exc}"))
    return errors


def indexes_read(tables: list[Table], version_num: int) -> Read:
    """The indexes of these tables and of their partitions (one query)."""
    leaf_oids = sorted({leaf.oid for t in tables if t.partitioned for leaf in t.leaves})
    query = load_versioned_sql("indexes", version_num, nulls_not_distinct=(150000, "i.indnullsnotdistinct", "false"))
    return Read("indexes", query, {"tables": sorted({t.oid for t in tables}), "leaves": leaf_oids})


def read(
    conn: psycopg.Connection,
    desired: list[Desired],
    tables: list[Table],
    columns: dict[int, list[Column]],
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
    engine asked for early), else sent now. Another index — a primary key the profile does not mention
    — is only a name: its definition is never compared, and at fleet scale it was a fifth of
    the pg_get_indexdef() calls of a catalog of unrelated tables."""
    catalog = Catalog()
    named = {(d.table.oid, d.name) for d in desired}  # and every replacement's name (TMP_SUFFIX), below
    by_oid = {t.oid: t for t in tables}
    main = indexes_read(tables, version_num)
    rows = fetch(main) if fetch is not None else early.fetch(conn, main)
    signatures: dict[tuple[Any, ...], int] = {}
    table_signature = {
        oid: signatures.setdefault(tuple((c.attnum, c.name, c.type_oid, c.typmod, c.collation) for c in cols), oid)
        for oid, cols in columns.items()
    }
    shapes: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}  # shape -> rows of the declared tables' indexes
    for row in rows:
        oid, table_oid, schema, name, partitioned, valid, constraint, parent, declared, _, raw, exprs, pred = row
        if declared and (
            described is None or table_oid in described or (table_oid, name) in named or name.endswith(TMP_SUFFIX)
        ):
            key = (raw, _positionless(exprs), _positionless(pred), table_signature.get(table_oid))
            shapes.setdefault(key, []).append(row)
        else:
            index = LiveIndex(oid, table_oid, schema, name, partitioned, valid, constraint, parent)
            if declared:
                catalog.by_table.setdefault(table_oid, {})[name] = index
            else:
                catalog.by_leaf.setdefault(table_oid, []).append(index)
    definitions = _definitions(conn, [members[0][0] for members in shapes.values()])
    texts: dict[int, str] = {}  # index -> its shape's text, where the representative's could be anonymised
    for members in shapes.values():
        oid, table_oid, *_, quoted_name, _, _, _ = members[0]
        text = anonymous(definitions[oid], quoted_name, by_oid[table_oid].server_quoted)
        if text is not None:
            texts.update((m[0], text) for m in members)
    unshared = [m[0] for members in shapes.values() for m in members if m[0] not in texts and m[0] not in definitions]
    definitions.update(_definitions(conn, unshared))
    for members in shapes.values():
        for oid, table_oid, schema, name, partitioned, valid, constraint, parent, _, quoted_name, *_ in members:
            text = texts.get(oid)
            quoted = None if text is None else (quoted_name, by_oid[table_oid].server_quoted)
            catalog.by_table.setdefault(table_oid, {})[name] = LiveIndex(
                oid, table_oid, schema, name, partitioned, valid, constraint, parent, text or definitions[oid], quoted
            )
    # A declared name that is its own table's index cannot belong to another relation.
    wanted = sorted({(d.table.schema, d.name) for d in desired if d.name not in catalog.by_table.get(d.table.oid, {})})
    if wanted:
        params = {"schemas": [w[0] for w in wanted], "names": [w[1] for w in wanted]}
        with conn.cursor(row_factory=dict_row) as cur:
            for hit in cur.execute(load_sql("index_names"), params):
                catalog.names[(hit["schema"], hit["name"])] = hit
    return catalog


_LOCATION = re.compile(r" :location -?\d+")


def _positionless(tree: str | None) -> str | None:
    """A node tree without source offsets: they differ with how CREATE INDEX was laid out, never
    change what pg_get_indexdef() prints, and would keep equal indexes from sharing a shape."""
    return _LOCATION.sub("", tree) if tree else tree


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
