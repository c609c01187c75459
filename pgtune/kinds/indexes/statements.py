"""The statements of an index change, each with its lock and hazards: CREATE INDEX CONCURRENTLY,
builds per leaf, drops."""

from __future__ import annotations

from psycopg import sql

from pgtune.base.identifiers import identifier
from pgtune.kinds import Render
from pgtune.kinds.indexdef import ParsedIndex
from pgtune.kinds.indexes.model import CIC_LOCK, KIND, Catalog, Desired, LiveIndex, leaf_index_name
from pgtune.plan.hazards import hazard
from pgtune.plan.model import Address, Change, Hazard, Statement


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


class Builder:
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


def build_hazards(d: Desired, *extra: Hazard) -> tuple[Hazard, ...]:
    assert d.parsed is not None
    found = [*extra, hazard("INDEX_BUILD")]
    if d.parsed.unique:
        found.append(hazard("UNIQUE_INDEX"))
    return tuple(found)


def leaf_builds(b: Builder, d: Desired, parent_name: str, catalog: Catalog, attached_to: int | None) -> list[Statement]:
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


def index_change(
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


def drop_change(index: LiveIndex, b: Builder, note: str | None = None) -> Change:
    """Dropping an existing index: concurrently, unless it is partitioned (then ACCESS EXCLUSIVE)."""
    hazards: tuple[Hazard, ...] = (hazard("INDEX_DROPPED"),)
    if index.partitioned:
        hazards += (hazard("ACQUIRES_ACCESS_EXCLUSIVE_LOCK"),)
    statement = b.drop(index.schema, index.name, index.partitioned)
    address = Address(KIND, index.name, index.schema)
    return Change(address, "delete", index.definition, None, (statement,), hazards=hazards, note=note)
