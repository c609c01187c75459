"""What of a plan's changes a planning session can model (pure): planner settings set for the
transaction (server-wide, per database, per role — resolved per statement with PostgreSQL's
precedence), indexes to create as hypothetical indexes, indexes to drop hidden; everything else
listed with the reason it is not modelled, never dropped silently."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pgtune.plan.model import Change

PLANNER_NAMES = frozenset({"work_mem", "hash_mem_multiplier", "max_parallel_workers_per_gather"})
"""Settings outside the "Query Tuning" categories that the planner reads."""
SESSION_CONTEXTS = frozenset({"user", "superuser"})
AFTER_ANALYZE = frozenset({"default_statistics_target"})
"""Planner settings that act through the statistics: only the next ANALYZE makes them matter."""
GENERIC_ONLY = frozenset({"plan_cache_mode"})
"""Settings that choose between generic and custom plans when a statement runs: the impact compares
generic plans, so it cannot show them."""
SERVER_WIDE = None  # a SessionSetting's scope for postgresql.auto.conf (or Patroni's DCS, a parameter group)


@dataclass(frozen=True)
class Meta:
    """What pg_settings says of a setting: who may set it, and its category."""

    context: str
    category: str

    @property
    def planner(self) -> bool:
        return self.category.startswith("Query Tuning")


@dataclass(frozen=True)
class NotModelled:
    change: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"change": self.change, "reason": self.reason}


@dataclass(frozen=True)
class SessionSetting:
    """A planner setting as the plan leaves it at one level: server-wide (scope None), for a
    database, or for a role; `value` None removes the level (the next one applies)."""

    name: str
    value: str | None
    scope: str | None
    target: str | None = None


@dataclass(frozen=True)
class Hypothetical:
    name: str  # the declared name (plans show it instead of HypoPG's)
    definition: str  # CREATE INDEX ... as the plan would run it, without CONCURRENTLY


@dataclass
class Modelled:
    settings: list[SessionSetting] = field(default_factory=list)
    create: list[Hypothetical] = field(default_factory=list)
    hide: list[tuple[str, str]] = field(default_factory=list)  # (schema, name) of indexes the plan drops
    not_modelled: list[NotModelled] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.settings and not self.create and not self.hide


def setting_names(changes: Iterable[Change]) -> list[str]:
    return sorted({c.address.name for c in changes if c.address.kind == "setting"})


def classify(changes: Sequence[Change], meta: Mapping[str, Meta], database: str, can_hide: bool) -> Modelled:
    """Sort the plan's changes into what the session models and what it cannot, with reasons."""
    out = Modelled()
    for change in changes:
        kind, address = change.address.kind, change.address
        if kind == "setting":
            _setting(change, meta.get(address.name), database, out)
        elif kind == "index":
            _index(change, can_hide, out)
        else:
            out.not_modelled.append(NotModelled(str(address), _OTHER.get(kind, f"{kind} changes are not modelled")))
    return out


_OTHER = {
    "storage": "storage parameters act on the table's pages and statistics, not on a session's planner",
    "partition": "partitions are created and retired by DDL: the plans before it are the plans there are",
    "pool": "connection pools do not change query plans",
}


def _setting(change: Change, meta: Meta | None, database: str, out: Modelled) -> None:
    address = change.address
    name = address.name
    scope = address.scope if address.scope in ("database", "role") else SERVER_WIDE

    def skip(reason: str) -> None:
        out.not_modelled.append(NotModelled(str(address), reason))

    if meta is None:
        return skip("not a setting this server knows: no plan reads it")
    if name in GENERIC_ONLY:
        return skip("chooses generic or custom plans at execution: the impact compares generic plans")
    if name in AFTER_ANALYZE:
        return skip("acts through the statistics: plans change only after the next ANALYZE")
    if meta.context not in SESSION_CONTEXTS:
        return skip(f"a {meta.context} setting: a session cannot plan with it")
    if not (meta.planner or name in PLANNER_NAMES):
        return skip("does not enter planning")
    if scope == "database" and address.target != database:
        return skip(f"database {address.target}: its statements are not in this workload ({database}'s)")
    value = change.after if isinstance(change.after, str) else None
    if scope is SERVER_WIDE and value is None:
        return skip("reset to the configuration files' value, which a session cannot read")
    out.settings.append(SessionSetting(name, value, scope, address.target))


def _index(change: Change, can_hide: bool, out: Modelled) -> None:
    address = change.address
    if change.action in ("delete", "replace"):
        schema = address.schema or "public"
        if can_hide:
            out.hide.append((schema, address.name))
        else:
            out.not_modelled.append(
                NotModelled(
                    str(address),
                    "dropping an index is modelled by hiding it (HypoPG 1.4+); this HypoPG cannot: plans still use it",
                )
            )
    if change.action in ("create", "replace", "update") and isinstance(change.after, str):
        out.create.append(Hypothetical(address.name, change.after))


def resolve(
    role: str,
    database: str,
    live: Mapping[tuple[str | None, str | None, str], str],
    modelled: Sequence[SessionSetting],
) -> dict[str, str | None]:
    """What the plan changes for a statement of `role` in `database`: name -> the value its session
    gets after the plan (None: the level it came from is gone, the session's default applies).
    PostgreSQL's precedence: role in database, then role, then database, then server-wide.
    `live` holds the levels now: (role or None, database or None, name) -> value."""
    after = dict(live)
    server: dict[str, str | None] = {}
    for s in modelled:
        if s.scope is SERVER_WIDE:
            server[s.name] = s.value
            continue
        key = (s.target, None, s.name) if s.scope == "role" else (None, s.target, s.name)
        if s.value is None:
            after.pop(key, None)
        else:
            after[key] = s.value
    out: dict[str, str | None] = {}
    for name in sorted({s.name for s in modelled}):
        was = _level(live, role, database, name)
        now = _level(after, role, database, name)
        if now is None:
            now = server.get(name)
        if now != was:
            out[name] = now
    return out


def _level(levels: Mapping[tuple[str | None, str | None, str], str], role: str, database: str, name: str) -> str | None:
    """The most specific level's value; None: no level holds one (the server-wide value applies)."""
    for key in ((role, database, name), (role, None, name), (None, database, name)):
        if key in levels:
            return levels[key]
    return None
