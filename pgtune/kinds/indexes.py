"""Indexes: declared by definition, compared semantically, built and dropped online.

Identity is schema + name (an index lives in its table's schema). Equality is decided in two
steps. First both definitions are parsed and canonicalised (`indexdef.py`); most indexes end
there. A declared index that is new, or differs after that step, goes to the **probe**: inside
a savepoint of the (always rolled back) plan transaction, the server builds it on an empty
temporary copy of the table and prints it back with `pg_get_indexdef()`. That validates it
exactly as apply would (columns, expressions, operators, opclasses, access method, WITH
options, version support) and yields the server's own spelling (added casts, folded constants,
default opclasses dropped), so the final comparison is canonical against canonical. The probe
is one batch whatever the number of indexes.

Changes, all online:
- create:  CREATE INDEX CONCURRENTLY;
- replace: build under a temporary name, DROP INDEX CONCURRENTLY the old one, rename — the name
  backs queries at every moment; an INVALID index is dropped first, then built again;
- delete:  DROP INDEX CONCURRENTLY.
Partitioned tables: CREATE INDEX ... ON ONLY the parent, CREATE INDEX CONCURRENTLY on each leaf,
ALTER INDEX ... ATTACH PARTITION; the parent index turns valid once every leaf is attached. An
interrupted run is finished from where it stopped. Dropping a partitioned index cannot be
concurrent: it takes ACCESS EXCLUSIVE, and the plan says so.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql
from psycopg.rows import dict_row

from pgtune.base.errors import CatalogChanged, Location, ProfileError, raise_if_any
from pgtune.base.identifiers import identifier, qualified_text
from pgtune.kinds import (
    Adoption,
    Column,
    DiffEnv,
    ExportOptions,
    KindResult,
    PlanContext,
    Render,
    load_sql,
    load_versioned_sql,
)
from pgtune.kinds.indexdef import (
    IndexDefinitionError,
    ParsedIndex,
    anonymous,
    parse_declared,
    parse_live,
    printed_forms,
    restore,
)
from pgtune.kinds.tables import Leaf, Table, not_owned
from pgtune.plan.hazards import hazard
from pgtune.plan.model import Address, Change, Hazard, Notice, Statement
from pgtune.profile.loader import LoadedProfile
from pgtune.profile.model import IndexSpec
from pgtune.profile.source import PathKey

KIND = "index"
MAX_NAME_BYTES = 63
TMP_SUFFIX = "_pgtune_new"
PROBE_PREFIX = "pgtune_probe_"

CIC_LOCK = "SHARE UPDATE EXCLUSIVE"


@dataclass(slots=True)  # tens of thousands per plan: not frozen (cheaper to create), never changed
class LiveIndex:
    oid: int
    table_oid: int
    schema: str
    name: str
    partitioned: bool
    valid: bool
    constraint: str | None  # name of the PRIMARY KEY/UNIQUE/EXCLUDE constraint it backs
    parent_index: int | None  # the partitioned index it is attached to
    # Indexes of declared tables: the definition with placeholders for name and table
    # (`indexdef.anonymous`), shared by every index of that shape, and the name and table as the
    # server quotes them; or, with `quoted` None, the index's own pg_get_indexdef().
    shape: str | None = None
    quoted: tuple[str, str] | None = None

    @property
    def definition(self) -> str | None:
        """pg_get_indexdef(), for indexes of declared tables (rebuilt from the shape on demand)."""
        if self.shape is None or self.quoted is None:
            return self.shape
        return restore(self.shape, *self.quoted)

    def parsed(self) -> ParsedIndex:
        """The canonical form (parsed once per shape)."""
        assert self.shape is not None
        return parse_live(self.shape)

    @property
    def qualified(self) -> str:
        return qualified_text(self.schema, self.name)


@dataclass
class Desired:
    table: Table
    name: str
    spec: IndexSpec | None  # None: absent
    loaded: LoadedProfile = field(repr=False)
    path: PathKey  # of the entry in the profile
    parsed: ParsedIndex | None = None
    server: ParsedIndex | None = None  # the server's canonical form, when probed
    rejected: bool = False  # has a validation error: not probed, not diffed
    unchanged: bool = False  # the live index is printed as declared: not parsed, validated or diffed

    # Positions are looked up only for an error: a plan of 40,000 unchanged indexes needs none.
    @property
    def location(self) -> Location | None:
        """Of the definition."""
        return self.loaded.location(self.path)

    @property
    def key_location(self) -> Location | None:
        """Of the name."""
        return self.loaded.location(self.path, key=True)

    @property
    def qualified(self) -> str:
        return qualified_text(self.table.schema, self.name)

    @property
    def temporary(self) -> str:
        """Where a replacement is built (`tmp_name`)."""
        return tmp_name(self.name)


@dataclass
class Catalog:
    by_table: dict[int, dict[str, LiveIndex]] = field(default_factory=dict)  # declared table -> name -> index
    by_leaf: dict[int, list[LiveIndex]] = field(default_factory=dict)
    names: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)


def bounded_name(base: str, suffix: str) -> str:
    """`base + suffix` within PostgreSQL's 63-byte names; a trimmed base gets a hash to stay unique."""
    if len((base + suffix).encode()) <= MAX_NAME_BYTES:
        return base + suffix
    digest = "_" + hashlib.sha1(base.encode()).hexdigest()[:6]
    room = MAX_NAME_BYTES - len((digest + suffix).encode())
    trimmed = base.encode()[:room].decode(errors="ignore")
    return trimmed + digest + suffix


@lru_cache(maxsize=65536)
def tmp_name(name: str) -> str:
    """Where a replacement is built before it takes the name over."""
    return bounded_name(name, TMP_SUFFIX)


def leaf_index_name(leaf: Leaf, desired: Desired, built_as: str) -> str:
    """A partition's index name: readable, and different for each definition (so a replacement's
    leaf indexes never collide with the ones they replace)."""
    assert desired.parsed is not None
    digest = hashlib.sha1(f"{built_as}|{desired.parsed.canon!r}".encode()).hexdigest()[:6]
    return bounded_name(f"{leaf.name}_{desired.name}", "_" + digest)


# -- reading ----------------------------------------------------------------------------------


def _desired(ctx: PlanContext) -> tuple[list[Desired], list[Table], list[ProfileError]]:
    desired: list[Desired] = []
    pruned: list[Table] = []
    errors: list[ProfileError] = []
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
            if ctx.excluded(table.schema, name):
                continue  # the engine's EXCLUDED notice covers tables; an excluded index is simply left alone
            spec_or_none = None if isinstance(entry, str) else entry  # the word absent
            desired.append(Desired(table, name, spec_or_none, ctx.loaded, path))
    return desired, pruned, errors


def _parse(desired: list[Desired], catalog: Catalog) -> list[ProfileError]:
    """Parse each declared index, unless the live one is printed exactly as it is declared (then
    it is unchanged: equal text, equal index). Parse errors reject the entry."""
    errors = []
    for d in desired:
        if d.spec is None:
            continue
        indexes = catalog.by_table.get(d.table.oid, {})
        live = indexes.get(d.name)
        printed = live is not None and live.shape in printed_forms(d.spec, only=live.partitioned)
        if printed and live.valid and d.temporary not in indexes:  # type: ignore[union-attr]
            d.unchanged = True
            continue
        try:
            d.parsed = parse_declared(d.spec)
        except IndexDefinitionError as exc:
            d.rejected = True
            errors.append(ProfileError(d.location, f"index {d.name!r}: {exc}"))
    return errors


def read(
    conn: psycopg.Connection,
    desired: list[Desired],
    tables: list[Table],
    columns: dict[int, list[Column]],
    version_num: int,
    *,
    described: set[int] | None = None,
) -> Catalog:
    """Set-based queries, whatever the number of tables and indexes: the indexes, one
    pg_get_indexdef() per shape (a third only if a definition is laid out unexpectedly), and
    the relations holding declared names that are not their table's index.

    Definitions are read for the indexes `desired` names (and their temporary names), and for
    every index of the tables in `described` (pruned ones, whose other indexes may be dropped;
    None: every table, for inspect). Another index — a primary key the profile does not mention
    — is only a name: its definition is never compared, and at fleet scale it was a fifth of
    the pg_get_indexdef() calls of a catalog of unrelated tables."""
    catalog = Catalog()
    named = {(d.table.oid, n) for d in desired for n in (d.name, d.temporary)}
    by_oid = {t.oid: t for t in tables}
    leaf_oids = sorted({leaf.oid for t in tables if t.partitioned for leaf in t.leaves})
    query = load_versioned_sql("indexes", version_num, nulls_not_distinct=(150000, "i.indnullsnotdistinct", "false"))
    rows = conn.execute(query, {"tables": sorted(by_oid), "leaves": leaf_oids}).fetchall()
    signatures: dict[tuple[Any, ...], int] = {}
    table_signature = {
        oid: signatures.setdefault(tuple((c.attnum, c.name, c.type_oid, c.typmod, c.collation) for c in cols), oid)
        for oid, cols in columns.items()
    }
    shapes: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}  # shape -> rows of the declared tables' indexes
    for row in rows:
        oid, table_oid, schema, name, partitioned, valid, constraint, parent, declared, _, raw, exprs, pred = row
        if declared and (described is None or table_oid in described or (table_oid, name) in named):
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


# -- validation -------------------------------------------------------------------------------


def _validate(desired: list[Desired], catalog: Catalog, ctx: PlanContext) -> list[ProfileError]:
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
                reject(d, _constraint_error(d, live))
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


def _constraint_error(d: Desired, live: LiveIndex) -> ProfileError:
    return ProfileError(
        d.key_location,
        f"index {d.qualified} backs constraint {live.constraint!r}: pgtune never drops or replaces it "
        "(change the constraint with a migration, or declare the index as it is)",
    )


# -- the probe --------------------------------------------------------------------------------


def create_sql(
    parsed: ParsedIndex,
    name: sql.Composable,
    table: sql.Composable,
    *,
    concurrently: bool = False,
    only: bool = False,
) -> sql.Composed:
    """CREATE INDEX from a parsed definition: names as identifiers, the rest re-printed by pglast."""
    parts: list[sql.Composable] = [sql.SQL("CREATE UNIQUE INDEX " if parsed.unique else "CREATE INDEX ")]
    if concurrently:
        parts.append(sql.SQL("CONCURRENTLY "))
    parts.append(
        sql.SQL("{} ON {}{} USING {} (").format(
            name, sql.SQL("ONLY ") if only else sql.SQL(""), table, sql.Identifier(parsed.method)
        )
    )
    parts.append(sql.SQL(", ").join(sql.SQL(e) for e in parsed.elements_sql))
    parts.append(sql.SQL(")"))
    if parsed.include:
        parts.append(sql.SQL(" INCLUDE ({})").format(sql.SQL(", ").join(sql.Identifier(c) for c in parsed.include)))
    if parsed.nulls_not_distinct:
        parts.append(sql.SQL(" NULLS NOT DISTINCT"))
    if parsed.options:
        options = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v)) for k, v in parsed.with_sql
        )
        parts.append(sql.SQL(" WITH ({})").format(options))
    if parsed.where_sql is not None:
        parts.append(sql.SQL(" WHERE {}").format(sql.SQL(parsed.where_sql)))
    return sql.Composed(parts)


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


# -- diff -------------------------------------------------------------------------------------


def _equal(d: Desired, live: LiveIndex) -> bool:
    assert d.parsed is not None
    live_canon = live.parsed().canon
    return d.parsed.canon == live_canon or (d.server is not None and d.server.canon == live_canon)


def _needs_probe(d: Desired, catalog: Catalog) -> bool:
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


class _Builder:
    """Renders the statements of index changes."""

    def __init__(self, render: Render) -> None:
        self.render = render

    def _stmt(
        self,
        composed: sql.Composable,
        transactional: bool,
        lock: str,
        retryable: bool = True,
        progress: str | None = None,
    ) -> Statement:
        return Statement(self.render(composed), transactional, lock, retryable, progress)

    def build(self, d: Desired, name: str, *, table: tuple[str, str] | None = None) -> Statement:
        assert d.parsed is not None
        target = table or (d.table.schema, d.table.name)
        # The new index's name is given unqualified: CREATE INDEX puts it in the table's schema.
        composed = create_sql(d.parsed, sql.Identifier(name), identifier(*target), concurrently=True)
        return self._stmt(composed, False, CIC_LOCK, retryable=False, progress="create_index")

    def build_only(self, d: Desired, name: str) -> Statement:
        assert d.parsed is not None
        composed = create_sql(d.parsed, sql.Identifier(name), identifier(d.table.schema, d.table.name), only=True)
        return self._stmt(composed, True, "SHARE")

    def attach(self, schema: str, parent: str, leaf_schema: str, leaf_index: str) -> Statement:
        composed = sql.SQL("ALTER INDEX {} ATTACH PARTITION {}").format(
            identifier(schema, parent), identifier(leaf_schema, leaf_index)
        )
        return self._stmt(composed, True, "ACCESS SHARE")

    def drop(self, schema: str, name: str, partitioned: bool) -> Statement:
        if partitioned:
            return self._stmt(sql.SQL("DROP INDEX {}").format(identifier(schema, name)), True, "ACCESS EXCLUSIVE")
        composed = sql.SQL("DROP INDEX CONCURRENTLY {}").format(identifier(schema, name))
        return self._stmt(composed, False, CIC_LOCK)

    def rename(self, schema: str, old: str, new: str) -> Statement:
        composed = sql.SQL("ALTER INDEX {} RENAME TO {}").format(identifier(schema, old), sql.Identifier(new))
        return self._stmt(composed, True, CIC_LOCK)

    def definition(self, d: Desired) -> str:
        assert d.parsed is not None
        return self.render(create_sql(d.parsed, sql.Identifier(d.name), identifier(d.table.schema, d.table.name)))


def _build_hazards(d: Desired, *extra: Hazard) -> tuple[Hazard, ...]:
    assert d.parsed is not None
    found = [*extra, hazard("INDEX_BUILD")]
    if d.parsed.unique:
        found.append(hazard("UNIQUE_INDEX"))
    return tuple(found)


def _leaf_builds(
    b: _Builder, d: Desired, parent_name: str, catalog: Catalog, attached_to: int | None
) -> list[Statement]:
    """Build and attach an index on every leaf that has none attached to `attached_to` yet."""
    statements = []
    for leaf in d.table.leaves:
        leaf_indexes = catalog.by_leaf.get(leaf.oid, [])
        if attached_to is not None and any(i.parent_index == attached_to for i in leaf_indexes):
            continue
        name = leaf_index_name(leaf, d, parent_name)
        existing = next((i for i in leaf_indexes if i.name == name and i.schema == leaf.schema), None)
        if existing is not None and not existing.valid:
            statements.append(b.drop(leaf.schema, name, partitioned=False))
        if existing is None or not existing.valid:
            statements.append(b.build(d, name, table=(leaf.schema, leaf.name)))
        statements.append(b.attach(d.table.schema, parent_name, leaf.schema, name))
    return statements


def _change(
    d: Desired,
    action: str,
    before: str | None,
    after: str | None,
    statements: list[Statement],
    hazards: tuple[Hazard, ...],
    note: str | None = None,
) -> Change:
    return Change(
        Address(KIND, d.name, d.table.schema), action, before, after, tuple(statements), hazards=hazards, note=note
    )


def _drop_change(index: LiveIndex, b: _Builder, note: str | None = None) -> Change:
    """Dropping an existing index: concurrently, unless it is partitioned (then ACCESS EXCLUSIVE)."""
    hazards: tuple[Hazard, ...] = (hazard("INDEX_DROPPED"),)
    if index.partitioned:
        hazards += (hazard("ACQUIRES_ACCESS_EXCLUSIVE_LOCK"),)
    statement = b.drop(index.schema, index.name, index.partitioned)
    address = Address(KIND, index.name, index.schema)
    return Change(address, "delete", index.definition, None, (statement,), hazards=hazards, note=note)


def _plan_index(d: Desired, catalog: Catalog, b: _Builder) -> list[Change]:
    """The changes that converge one declared index (plus a leftover of an interrupted replace)."""
    indexes = catalog.by_table.get(d.table.oid, {})
    live = indexes.get(d.name)
    tmp = indexes.get(d.temporary)
    schema, partitioned = d.table.schema, d.table.partitioned

    if d.spec is None:
        return [_drop_change(live, b)] if live is not None else []
    if d.unchanged:
        return []

    tmp_same = tmp is not None and _equal(d, tmp)
    tmp_ready = tmp is not None and tmp.valid and tmp_same
    # An interrupted partitioned build under the temporary name is resumed, not dropped.
    tmp_resume = tmp is not None and tmp.partitioned and not tmp.valid and tmp_same
    drop_tmp = tmp is not None and not tmp_ready and not tmp_resume
    clear_tmp = [b.drop(schema, tmp.name, tmp.partitioned)] if tmp is not None and drop_tmp else []
    tmp_hazards = (
        (hazard("ACQUIRES_ACCESS_EXCLUSIVE_LOCK"),) if tmp is not None and tmp.partitioned and drop_tmp else ()
    )

    if live is not None and live.valid and _equal(d, live):
        return [_drop_change(tmp, b, "leftover of an interrupted replace")] if tmp is not None else []

    if live is not None and live.constraint:
        raise _constraint_error(d, live)  # collected by plan()

    after = b.definition(d)  # rendered only for a change: unchanged indexes never pay for it

    if live is None:
        if tmp_ready:
            note = "finishes an interrupted replace: the index was already built under a temporary name"
            return [_change(d, "create", None, after, [b.rename(schema, tmp_name(d.name), d.name)], (), note)]
        if partitioned:
            statements = [*clear_tmp, b.build_only(d, d.name), *_leaf_builds(b, d, d.name, catalog, None)]
            count = len(d.table.leaves)
            note = f"partitioned: ON ONLY {d.table.qualified}, then concurrently on each of {count} partitions"
            return [_change(d, "create", None, after, statements, _build_hazards(d, *tmp_hazards), note)]
        return [_change(d, "create", None, after, [*clear_tmp, b.build(d, d.name)], _build_hazards(d))]

    if not live.valid and partitioned and _equal(d, live):
        note = "INVALID partitioned index: partitions without an attached index get one (resumes an interrupted build)"
        statements = _leaf_builds(b, d, d.name, catalog, live.oid)
        return [
            _change(d, "update", live.definition, after, statements, _build_hazards(d, hazard("INVALID_INDEX")), note)
        ]

    if not live.valid and not partitioned:
        statements = [*clear_tmp, b.drop(schema, d.name, False), b.build(d, d.name)]
        hazards = _build_hazards(d, hazard("INVALID_INDEX"))
        return [
            _change(d, "replace", live.definition, after, statements, hazards, "INVALID index: dropped and built again")
        ]

    # A real difference (or an invalid partitioned index with another definition): build the
    # new one under a temporary name, then swap, so the name always backs queries.
    tmp_n = tmp_name(d.name)
    statements = list(clear_tmp)
    if tmp_resume:
        assert tmp is not None
        statements += _leaf_builds(b, d, tmp_n, catalog, tmp.oid)
    elif not tmp_ready:
        if partitioned:
            statements += [b.build_only(d, tmp_n), *_leaf_builds(b, d, tmp_n, catalog, None)]
        else:
            statements.append(b.build(d, tmp_n))
    statements += [b.drop(schema, d.name, live.partitioned), b.rename(schema, tmp_n, d.name)]
    hazards = _build_hazards(d, *tmp_hazards, hazard("INDEX_DROPPED"))
    if live.partitioned:
        hazards += (
            hazard(
                "ACQUIRES_ACCESS_EXCLUSIVE_LOCK",
                "Dropping the old partitioned index cannot be concurrent: "
                "ACCESS EXCLUSIVE on the table and its partitions.",
            ),
        )
    if not live.valid:
        hazards = (hazard("INVALID_INDEX"), *hazards)
    note = "built under a temporary name, then swapped in"
    return [_change(d, "replace", live.definition, after, statements, hazards, note)]


def _prune(
    table: Table, declared: set[str], catalog: Catalog, b: _Builder, env: DiffEnv, building: dict[int, int]
) -> list[Change]:
    changes = []
    keep = declared | {tmp_name(n) for n in declared}
    for name, live in sorted(catalog.by_table.get(table.oid, {}).items()):
        if name in keep or live.constraint or live.parent_index is not None or live.oid in building:
            continue  # declared, a constraint's, a partition's, or being built by someone right now
        if env.excluded(table.schema, name):
            continue  # never touched
        changes.append(_drop_change(live, b, "not in the profile (prune_indexes: true)"))
    return changes


def _in_flight(conn: psycopg.Connection) -> dict[int, int]:
    """Indexes some session is building right now (index oid -> pid): never leftovers to drop."""
    return dict(
        conn.execute("SELECT index_relid, pid FROM pg_stat_progress_create_index WHERE index_relid <> 0").fetchall()
    )


def _building(d: Desired, catalog: Catalog, building: dict[int, int]) -> int | None:
    """The pid building this declared index, or its temporary twin, right now (None: no one)."""
    if not building:
        return None
    indexes = catalog.by_table.get(d.table.oid, {})
    for name in (d.name, d.temporary):
        index = indexes.get(name)
        if index is not None and not index.valid and index.oid in building:
            return building[index.oid]
    return None


@dataclass
class Wanted:
    desired: list[Desired]  # declared indexes (spec None: absent)
    pruned: list[Table]  # tables with prune_indexes: true
    errors: list[ProfileError]


@dataclass
class IndexLive:
    """The catalog's indexes of the tables concerned, and what reading them taught about the wants:
    declarations the server rejected are left out (their errors kept), the rest are canonical."""

    catalog: Catalog
    desired: list[Desired]
    probed: bool  # False: a read-only server, definitions compared as parsed
    building: dict[int, int]  # index oid -> pid of a build in progress
    errors: list[ProfileError]


def _tables_of(wants: Wanted) -> dict[int, Table]:
    return {d.table.oid: d.table for d in wants.desired} | {t.oid: t for t in wants.pruned}


class IndexKind:
    name = KIND
    runs_on = "primary"  # tables live in the replicated catalog

    def desired(self, ctx: PlanContext) -> Wanted | None:
        desired, pruned, errors = _desired(ctx)
        if not desired and not pruned:
            raise_if_any(errors)
            return None
        return Wanted(desired, pruned, errors)

    def read(self, ctx: PlanContext, wants: Wanted) -> IndexLive:
        tables = _tables_of(wants)
        pruned_oids = {t.oid for t in wants.pruned}
        catalog = read(
            ctx.conn, wants.desired, list(tables.values()), ctx.columns(), ctx.server.version_num, described=pruned_oids
        )
        errors = _parse(wants.desired, catalog)
        desired = [d for d in wants.desired if not d.rejected]
        errors += _validate([d for d in desired if not d.unchanged], catalog, ctx)
        desired = [d for d in desired if not d.rejected]
        to_probe = [d for d in desired if _needs_probe(d, catalog)]
        for table in {d.table.oid: d.table for d in to_probe if not d.table.owned}.values():
            # A build is coming on a table the role does not own: say so, rather than the probe's
            # "permission denied" (its temporary copy needs to read the table).
            errors.append(not_owned(table, "building and dropping its indexes"))  # type: ignore[arg-type]
            for d in to_probe:
                if d.table.oid == table.oid:
                    d.rejected = True
        to_probe = [d for d in to_probe if not d.rejected]
        probe_errors, probed = probe(ctx.conn, to_probe)
        errors += probe_errors
        desired = [d for d in desired if not d.rejected]
        return IndexLive(catalog, desired, probed, _in_flight(ctx.conn), errors)

    def diff(self, wants: Wanted, live: IndexLive, env: DiffEnv) -> KindResult:
        return diff(wants, live, env)

    def export(self, ctx: PlanContext, options: ExportOptions) -> dict[str, Any]:
        """Indexes that back no constraint and are no partition's, as declarations."""
        if not ctx.tables:
            return {}
        found = list(ctx.tables.values())
        catalog = read(ctx.conn, [], found, ctx.columns(), ctx.server.version_num)
        out: dict[str, Any] = {}
        for table in found:
            indexes: dict[str, Any] = {}
            for name, index in sorted(catalog.by_table.get(table.oid, {}).items()):
                if index.constraint or index.parent_index is not None or index.definition is None:
                    continue
                if not index.valid:
                    options.warnings.append(f"{index.qualified}: invalid index (an interrupted build?) not adopted")
                    continue
                indexes[name] = index_spec(index.shape or index.definition)
            if indexes:
                out[table.qualified] = {"indexes": indexes}
        return {"tables": out} if out else {}

    def adopt(self, change: Change, loaded: LoadedProfile) -> Adoption:
        name = change.address.name
        key = next((k for k, spec in loaded.profile.tables.items() if name in spec.indexes), None)
        if key is None:
            return {}, "not declared (pruned indexes are not pulled in)"
        before = None if change.action == "create" else change.before
        return {("tables", key, "indexes", name): "absent" if before is None else index_spec(str(before))}, None


resource = IndexKind()


def index_spec(definition: str) -> dict[str, Any]:
    """A live definition as a profile's index declaration."""
    parsed = parse_live(definition)
    spec: dict[str, Any] = {"columns": list(parsed.elements_sql)}
    if parsed.include:
        spec["include"] = list(parsed.include)
    if parsed.where_sql:
        spec["where"] = parsed.where_sql
    if parsed.unique:
        spec["unique"] = True
    if parsed.method != "btree":
        spec["method"] = parsed.method
    if parsed.options:
        spec["with"] = dict(parsed.options)
    if parsed.nulls_not_distinct:
        spec["nulls_not_distinct"] = True
    return spec


def diff(wants: Wanted, live: IndexLive, env: DiffEnv) -> KindResult:
    """Builds, replacements and drops, per table in name order; builds before drops."""
    catalog, desired, building = live.catalog, live.desired, live.building
    tables = _tables_of(wants)
    pruned_oids = {t.oid for t in wants.pruned}
    errors = [*wants.errors, *live.errors]
    result = KindResult()
    if not live.probed:
        result.notices.append(
            Notice(
                KIND,
                "*",
                "NOT_PROBED",
                "read-only server: index definitions were compared as parsed, not checked by the server",
            )
        )
    b = _Builder(env.render)
    builds: list[Change] = []
    drops: list[Change] = []
    by_table: dict[int, list[Desired]] = {}
    for d in desired:
        by_table.setdefault(d.table.oid, []).append(d)
    for table in sorted(tables.values(), key=lambda t: (t.schema, t.name)):
        built_before, dropped_before = len(builds), len(drops)
        mine = by_table.get(table.oid, [])
        for d in mine:
            owner = _building(d, catalog, building)
            if owner is not None:
                result.notices.append(
                    Notice(
                        KIND,
                        d.qualified,
                        "BUILD_IN_PROGRESS",
                        f"an index of this name is being built right now by pid {owner}: left alone (not taken for "
                        "a leftover); plan again once that build has finished",
                    )
                )
                continue
            try:
                changes = _plan_index(d, catalog, b)
            except ProfileError as exc:
                errors.append(exc)
                continue
            for change in changes:
                (drops if change.action == "delete" else builds).append(change)
        if table.oid in pruned_oids:
            drops += _prune(table, {d.name for d in mine}, catalog, b, env, building)
        if len(builds) > built_before or len(drops) > dropped_before:
            problem = not_owned(table, "building and dropping its indexes")
            if problem is None and table.partitioned:
                problem = not_owned(table, "building its indexes", table.leaves)
            if problem is None and len(builds) > built_before and not table.may_create:
                problem = ProfileError(table.location, table.may_not_create("an index is a new relation"))
            if problem is not None:
                errors.append(problem)
        if table.partitioned and not table.leaves and any(d.spec is not None for d in mine):
            result.notices.append(
                Notice(
                    KIND,
                    table.qualified,
                    "NO_PARTITIONS",
                    "partitioned table without partitions: its indexes are created on the parent only",
                )
            )
    result.errors = errors
    result.changes = builds + drops
    return result
