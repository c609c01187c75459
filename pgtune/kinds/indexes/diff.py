"""What to build, replace and drop: declared against live, after both were canonicalised."""

from __future__ import annotations

from pgtune.base.errors import ProfileError
from pgtune.kinds import DiffEnv, KindResult
from pgtune.kinds.indexes.model import KIND, Catalog, Desired, IndexLive, LiveIndex, Wanted, tmp_name
from pgtune.kinds.indexes.statements import Builder, build_hazards, drop_change, index_change, leaf_builds
from pgtune.kinds.indexes.validate import constraint_error
from pgtune.kinds.tables import Table, not_owned
from pgtune.plan.hazards import hazard
from pgtune.plan.model import Change, Notice


def same_index(d: Desired, live: LiveIndex) -> bool:
    assert d.parsed is not None
    live_canon = live.parsed().canon
    return d.parsed.canon == live_canon or (d.server is not None and d.server.canon == live_canon)


def plan_index(d: Desired, catalog: Catalog, b: Builder) -> list[Change]:
    """The changes that converge one declared index (plus a leftover of an interrupted replace)."""
    if d.unchanged:
        return []
    indexes = catalog.by_table.get(d.table.oid, {})
    live = indexes.get(d.name)
    if d.spec is None:
        return [drop_change(live, b)] if live is not None else []
    tmp = indexes.get(d.temporary)
    schema, partitioned = d.table.schema, d.table.partitioned

    tmp_same = tmp is not None and same_index(d, tmp)
    tmp_ready = tmp is not None and tmp.valid and tmp_same
    # An interrupted partitioned build under the temporary name is resumed, not dropped.
    tmp_resume = tmp is not None and tmp.partitioned and not tmp.valid and tmp_same
    drop_tmp = tmp is not None and not tmp_ready and not tmp_resume
    clear_tmp = [b.drop(schema, tmp.name, tmp.partitioned)] if tmp is not None and drop_tmp else []
    tmp_hazards = (
        (hazard("ACQUIRES_ACCESS_EXCLUSIVE_LOCK"),) if tmp is not None and tmp.partitioned and drop_tmp else ()
    )

    if live is not None and live.valid and same_index(d, live):
        return [drop_change(tmp, b, "leftover of an interrupted replace")] if tmp is not None else []

    if live is not None and live.constraint:
        raise constraint_error(d, live)  # collected by plan()

    after = b.definition(d)  # rendered only for a change: unchanged indexes never pay for it

    if live is None:
        if tmp_ready:
            note = "finishes an interrupted replace: the index was already built under a temporary name"
            return [index_change(d, "create", None, after, [b.rename(schema, tmp_name(d.name), d.name)], (), note)]
        if partitioned:
            statements = [*clear_tmp, b.build_only(d, d.name), *leaf_builds(b, d, d.name, catalog, None)]
            count = len(d.table.leaves)
            note = f"partitioned: ON ONLY {d.table.qualified}, then concurrently on each of {count} partitions"
            return [index_change(d, "create", None, after, statements, build_hazards(d, *tmp_hazards), note)]
        return [index_change(d, "create", None, after, [*clear_tmp, b.build(d, d.name)], build_hazards(d))]

    if not live.valid and partitioned and same_index(d, live):
        note = "INVALID partitioned index: partitions without an attached index get one (resumes an interrupted build)"
        statements = leaf_builds(b, d, d.name, catalog, live.oid)
        hazards = build_hazards(d, hazard("INVALID_INDEX"))
        return [index_change(d, "update", live.definition, after, statements, hazards, note)]

    if not live.valid and not partitioned:
        statements = [*clear_tmp, b.drop(schema, d.name, False), b.build(d, d.name)]
        hazards = build_hazards(d, hazard("INVALID_INDEX"))
        note = "INVALID index: dropped and built again"
        return [index_change(d, "replace", live.definition, after, statements, hazards, note)]

    # A real difference (or an invalid partitioned index with another definition): build the
    # new one under a temporary name, then swap, so the name always backs queries.
    tmp_n = tmp_name(d.name)
    statements = list(clear_tmp)
    if tmp_resume:
        assert tmp is not None
        statements += leaf_builds(b, d, tmp_n, catalog, tmp.oid)
    elif not tmp_ready:
        if partitioned:
            statements += [b.build_only(d, tmp_n), *leaf_builds(b, d, tmp_n, catalog, None)]
        else:
            statements.append(b.build(d, tmp_n))
    statements += [b.drop(schema, d.name, live.partitioned), b.rename(schema, tmp_n, d.name)]
    hazards = build_hazards(d, *tmp_hazards, hazard("INDEX_DROPPED"))
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
    return [index_change(d, "replace", live.definition, after, statements, hazards, note)]


def prune(
    table: Table,
    declared: set[str],
    catalog: Catalog,
    b: Builder,
    env: DiffEnv,
    building: dict[int, int],
    wants: Wanted,
) -> tuple[list[Change], list[Notice]]:
    changes, notices = [], []
    keep = declared | {tmp_name(n) for n in declared}
    for name, live in sorted(catalog.by_table.get(table.oid, {}).items()):
        if name in keep or live.constraint or live.parent_index is not None or live.oid in building:
            continue  # declared, a constraint's, a partition's, or being built by someone right now
        if env.excluded(table.schema, name):
            continue  # never touched
        owner = wants.owner(table.schema, name)
        if owner is not None:  # another tool's: dropping it here would fight that tool's next run
            message = f"not pruned: owned by {owner} (owned_by); drop it there if it should go"
            notices.append(Notice(KIND, f"{table.schema}.{name}", "OWNED_NOT_PRUNED", message))
            continue
        changes.append(drop_change(live, b, "not in the profile (prune_indexes: true)"))
    return changes, notices


def building_now(d: Desired, catalog: Catalog, building: dict[int, int]) -> int | None:
    """The pid building this declared index, or its temporary twin, right now (None: no one)."""
    if not building:
        return None
    indexes = catalog.by_table.get(d.table.oid, {})
    for name in (d.name, d.temporary):
        index = indexes.get(name)
        if index is not None and not index.valid and index.oid in building:
            return building[index.oid]
    return None


def diff(wants: Wanted, live: IndexLive, env: DiffEnv) -> KindResult:
    """Builds, replacements and drops, per table in name order; builds before drops."""
    catalog, desired, building = live.catalog, live.desired, live.building
    tables = wants.tables
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
    b = Builder(env.render)
    builds: list[Change] = []
    drops: list[Change] = []
    by_table: dict[int, list[Desired]] = {}
    for d in desired:
        by_table.setdefault(d.table.oid, []).append(d)
    for table in sorted(tables.values(), key=lambda t: (t.schema, t.name)):
        built_before, dropped_before = len(builds), len(drops)
        mine = by_table.get(table.oid, [])
        for d in mine:
            if d.unchanged:
                continue  # valid, printed as declared, no replacement beside it: nothing to build, none under way
            owner = building_now(d, catalog, building)
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
                changes = plan_index(d, catalog, b)
            except ProfileError as exc:
                errors.append(exc)
                continue
            for change in changes:
                (drops if change.action == "delete" else builds).append(change)
        if table.oid in pruned_oids:
            pruned, owned = prune(table, {d.name for d in mine}, catalog, b, env, building, wants)
            drops += pruned
            result.notices += owned
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
