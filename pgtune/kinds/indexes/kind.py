"""The index kind as the engine runs it: read, validate, probe, diff, adoption."""

from __future__ import annotations

from typing import Any

from pgtune.base.errors import raise_if_any
from pgtune.kinds import Adoption, DiffEnv, ExportOptions, KindResult, PlanContext
from pgtune.kinds.early import Read
from pgtune.kinds.indexdef import parse_live
from pgtune.kinds.indexes.diff import diff
from pgtune.kinds.indexes.model import KIND, IndexLive, Wanted
from pgtune.kinds.indexes.read import declared_indexes, in_flight, indexes_read, parse_definitions, read
from pgtune.kinds.indexes.validate import needs_probe, probe, validate
from pgtune.kinds.tables import not_owned
from pgtune.plan.model import Change, ServerInfo
from pgtune.profile.loader import LoadedProfile


class IndexKind:
    name = KIND
    runs_on = "primary"  # tables live in the replicated catalog

    def prepare(self, loaded: LoadedProfile, server: ServerInfo) -> None:
        """Each declaration's parts — what printed forms and parses are cached by — worked out from
        the profile alone (kept on the declaration), while the server resolves the tables."""
        for spec in loaded.profile.tables.values():
            for entry in spec.indexes.values():
                if not isinstance(entry, str):
                    _ = entry.parts

    def desired(self, ctx: PlanContext) -> Wanted | None:
        desired, pruned, errors = declared_indexes(ctx)
        if not desired and not pruned:
            raise_if_any(errors)
            return None
        owned = tuple((who, tuple(o.objects)) for who, o in ctx.loaded.profile.owned_by.items())
        return Wanted(desired, pruned, errors, owned)

    def early(self, ctx: PlanContext) -> list[Read]:
        """The indexes of the tables declaring indexes (or pruning), then the tables' columns (which
        `read` asks for once the indexes' rows are in), known once the tables are resolved: sent with
        the other kinds' reads, before this kind's turn (when `read` asks for other tables, its own
        read is sent then: the rows always match what the kind asks)."""
        specs = ctx.loaded.profile.tables
        tables = [t for key, t in ctx.tables.items() if (specs[key].indexes or specs[key].prune_indexes)]
        return [indexes_read(tables, ctx.server.version_num), ctx.columns_read()] if tables else []

    def read(self, ctx: PlanContext, wants: Wanted) -> IndexLive:
        tables = wants.tables
        pruned_oids = {t.oid for t in wants.pruned}
        catalog = read(
            ctx.conn,
            wants.desired,
            list(tables.values()),
            ctx.columns,
            ctx.server.version_num,
            described=pruned_oids,
            fetch=ctx.fetch,
        )
        errors = parse_definitions(wants.desired, catalog)
        # At fleet scale nearly every index is unchanged: validated and probed are only the others.
        others = [d for d in wants.desired if not d.rejected and not d.unchanged]
        errors += validate(others, catalog, ctx)
        to_probe = [d for d in others if not d.rejected and needs_probe(d, catalog)]
        for table in {d.table.oid: d.table for d in to_probe if not d.table.owned}.values():
            # A build is coming on a table the role does not own: say so, rather than the probe's
            # "permission denied" (its temporary copy needs to read the table).
            errors.append(not_owned(table, "building and dropping its indexes"))  # type: ignore[arg-type]
            for d in to_probe:
                if d.table.oid == table.oid:
                    d.rejected = True
        to_probe = [d for d in to_probe if not d.rejected]
        if to_probe:
            ctx.settle()  # the probe writes inside a savepoint: no early read may run in it
        probe_errors, probed = probe(ctx.conn, to_probe)
        errors += probe_errors
        desired = [d for d in wants.desired if not d.rejected]
        return IndexLive(catalog, desired, probed, in_flight(ctx.conn), errors)

    def diff(self, wants: Wanted, live: IndexLive, env: DiffEnv) -> KindResult:
        return diff(wants, live, env)

    def export(self, ctx: PlanContext, options: ExportOptions) -> dict[str, Any]:
        """Indexes that back no constraint and are no partition's, as declarations."""
        if not ctx.tables:
            return {}
        found = list(ctx.tables.values())
        catalog = read(ctx.conn, [], found, ctx.columns, ctx.server.version_num)
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
