"""Per-table storage parameters (reloptions), toast.* included.

The table resolution (`tables.py`) already read every leaf and its (TOAST) reloptions. A
partitioned parent takes no storage parameters, so what a profile declares for it is applied to
every leaf partition, one change per leaf. Values compare typed ("0.050" equals 0.05); each
change is one transaction of `ALTER TABLE ... SET (...)` / `RESET (...)` under lock_timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from pgtune.base.errors import ProfileError, raise_if_any
from pgtune.base.guc import Canonical, GucSpec, InvalidValue
from pgtune.base.identifiers import identifier, qualified_text
from pgtune.kinds import Adoption, DiffEnv, ExportOptions, KindResult, PlanContext, Render
from pgtune.kinds.reloptions import lookup, unknown_message
from pgtune.kinds.tables import Leaf, Table, not_owned, table_key
from pgtune.plan.hazards import hazard
from pgtune.plan.model import Address, Change, Hazard, Notice, Parameters, ServerInfo, Statement
from pgtune.profile.loader import LoadedProfile

KIND = "storage"


@dataclass(frozen=True)
class TypedParam:
    name: str
    value: Canonical | None  # None: RESET
    lock: str
    spec: GucSpec  # how values of this parameter are typed, compared and displayed

    @property
    def display(self) -> str | None:
        return None if self.value is None else self.spec.display(self.value)


Typed = tuple[list[TypedParam], list[ProfileError]]


def typed_params(ctx: PlanContext, key: str) -> Typed:
    """One table's declared parameters, typed for the server's version, and what is wrong with them
    (worked out while the server resolves the tables: `StorageKind.prepare`)."""
    prepared: dict[str, Typed] | None = ctx.prepared.get(KIND)
    found = prepared.get(key) if prepared is not None else None
    return found if found is not None else _typed(ctx.loaded, ctx.server.version_num, key)


def _typed(loaded: LoadedProfile, version_num: int, key: str) -> Typed:
    typed, errors = [], []
    for name, raw in loaded.profile.tables[key].storage.items():
        path = ("tables", key, "storage", name)
        option = lookup(name, version_num)
        if option is None:
            errors.append(ProfileError(loaded.location(path, key=True), unknown_message(name, version_num)))
            continue
        try:
            value = None if raw is None else option.spec.canonical(raw)
        except InvalidValue as exc:
            errors.append(ProfileError(loaded.location(path), str(exc).replace(option.spec.name, name, 1)))
            continue
        typed.append(TypedParam(name, value, option.lock, option.spec))
    return typed, errors


@dataclass(frozen=True)
class Wanted:
    """One declared table's storage parameters, typed for the server's version."""

    key: str  # the profile's table key
    params: list[TypedParam]
    partitioned_by_profile: bool  # the profile manages its partitions (a parent without any is expected)


def validate(ctx: PlanContext) -> list[Wanted]:
    """Type every declared parameter for the server's version; all problems at once."""
    errors: list[ProfileError] = []
    out = []
    for key, spec in ctx.loaded.profile.tables.items():
        if not spec.storage or key not in ctx.tables:
            continue
        typed, problems = typed_params(ctx, key)
        errors += problems
        out.append(Wanted(key, typed, spec.partitioning is not None))
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
    leaf: Leaf, parent: Table, params: list[TypedParam], render: Render
) -> tuple[Change | None, list[str]]:
    sets: list[tuple[TypedParam, str | None]] = []
    resets: list[tuple[TypedParam, str]] = []
    skipped: list[str] = []
    for p in params:
        exists, raw = _current(leaf, p.name)
        if not exists:
            skipped.append(p.name)
            continue
        if p.value is None:
            if raw is not None:
                resets.append((p, raw))
            continue
        try:
            same = raw is not None and p.spec.equal(p.spec.canonical(raw, check_range=False), p.value)
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
            sql.SQL("{} = {}").format(sql.SQL(p.name), sql.Literal(p.display)) for p, _ in sets
        )
        statements.append(sql.SQL("ALTER TABLE {} SET ({})").format(target, assignments))
    if resets:
        statements.append(
            sql.SQL("ALTER TABLE {} RESET ({})").format(target, sql.SQL(", ").join(sql.SQL(p.name) for p, _ in resets))
        )
    before = Parameters.of({p.name: raw for p, raw in sets + resets})
    after = Parameters.of({p.name: p.display for p, _ in sets + resets})
    hazards: tuple[Hazard, ...] = ()
    if lock == "ACCESS EXCLUSIVE":
        hazards = (hazard("ACQUIRES_ACCESS_EXCLUSIVE_LOCK"),)
    note = None
    if parent.partitioned:
        parent_name = qualified_text(parent.schema, parent.name)
        note = f"partition of {parent_name} (a partitioned parent takes no storage parameters)"
    change = Change(
        Address(KIND, leaf.name, leaf.schema),
        "update" if sets else "delete",
        before,
        after,
        tuple(Statement(render(s), True, lock) for s in statements),
        hazards=hazards,
        note=note,
    )
    return change, skipped


def diff(wanted: list[Wanted], tables: dict[str, Table], render: Render) -> KindResult:
    """One change per leaf that differs. (Partitions the profile creates get the parameters at creation.)"""
    result = KindResult()
    for want in sorted(wanted, key=lambda w: (tables[w.key].schema, tables[w.key].name)):
        observed = tables[want.key]
        if observed.partitioned and not observed.leaves and not want.partitioned_by_profile:
            result.notices.append(
                Notice(
                    KIND,
                    observed.qualified,
                    "NO_PARTITIONS",
                    "partitioned table without partitions: nothing to apply yet",
                )
            )
        changed: list[Leaf] = []
        for leaf in observed.leaves:
            change, skipped = _leaf_change(leaf, observed, want.params, render)
            if change:
                result.changes.append(change)
                changed.append(leaf)
            if skipped:
                result.notices.append(
                    Notice(
                        KIND,
                        qualified_text(leaf.schema, leaf.name),
                        "NO_TOAST_TABLE",
                        f"no TOAST table, so {', '.join(skipped)} cannot apply",
                    )
                )
        problem = not_owned(observed, "changing storage parameters", changed)
        if problem is not None:
            result.errors.append(problem)
    return result


class StorageKind:
    """Storage parameters have no query of their own: `tables.resolve` read every leaf's reloptions."""

    name = KIND
    runs_on = "primary"  # tables live in the replicated catalog

    def prepare(self, loaded: LoadedProfile, server: ServerInfo) -> dict[str, Typed]:
        """Every declared table's parameters typed for the server's version: the profile alone."""
        tables = loaded.profile.tables
        return {key: _typed(loaded, server.version_num, key) for key, spec in tables.items() if spec.storage}

    def desired(self, ctx: PlanContext) -> list[Wanted] | None:
        return validate(ctx) or None

    def read(self, ctx: PlanContext, wants: list[Wanted]) -> dict[str, Table]:
        return {w.key: ctx.tables[w.key] for w in wants}

    def diff(self, wants: list[Wanted], live: dict[str, Table], env: DiffEnv) -> KindResult:
        return diff(wants, live, env.render)

    def export(self, ctx: PlanContext, options: ExportOptions) -> dict[str, Any]:
        """The parameters every leaf shares (a partitioned parent has none of its own)."""
        out: dict[str, Any] = {}
        for table in ctx.tables.values():
            per_leaf = [
                dict(leaf.reloptions) | {f"toast.{k}": v for k, v in (leaf.toast_reloptions or {}).items()}
                for leaf in table.leaves
            ]
            if not per_leaf:
                continue
            common = {k: v for k, v in per_leaf[0].items() if all(o.get(k) == v for o in per_leaf[1:])}
            if common:
                out[table.qualified] = {"storage": dict(sorted(common.items()))}
        return {"tables": out} if out else {}

    def adopt(self, change: Change, loaded: LoadedProfile) -> Adoption:
        key = table_key(loaded, change.address.schema, change.address.name)
        if key is None or not isinstance(change.before, Parameters):
            return {}, "not found in the profile"
        return {("tables", key, "storage", p): v for p, v in change.before.items}, None


resource = StorageKind()


def leaf_name(leaf: Leaf) -> str:
    return qualified_text(leaf.schema, leaf.name)


def creation_options(ctx: PlanContext, key: str) -> list[tuple[str, str]]:
    """The declared storage parameters as `CREATE TABLE ... WITH (...)` options, for partitions
    created by pgtune (PostgreSQL does not propagate them from the parent). Invalid ones are
    left out here: `validate` reports them."""
    spec = ctx.loaded.profile.tables.get(key)
    if spec is None or not spec.storage:
        return []
    typed, _problems = typed_params(ctx, key)
    return [(p.name, p.display) for p in typed if p.display is not None]
