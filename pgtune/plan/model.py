"""The plan model every kind speaks: changes with their statements, locks, hazards and flags.

A plan is data — rendered SQL, not callbacks — so it can be printed, saved, reviewed and executed
by one executor. Plain frozen dataclasses: the engine's inside, not a boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pgtune.base.names import qualified_text

ACTIONS = ("create", "update", "delete", "replace")
LOCK_MODES = (
    "none",
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)
"""PostgreSQL's table lock modes, weakest first."""
MARKERS = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}


@dataclass(frozen=True)
class IniEdit:
    """What a pgbouncer.ini statement does: set `key = value` in its file (`Statement.file`)."""

    key: str
    value: str


@dataclass(frozen=True)
class PatroniPatch:
    """What a Patroni statement does: PATCH /config of one key of postgresql.parameters (None removes it)."""

    key: str
    value: str | None


@dataclass(frozen=True)
class GroupEdit:
    """What an RDS statement does: one parameter of a ModifyDBParameterGroup (value) or a
    ResetDBParameterGroup (None) call on `group`; the executor sends up to 20 of them a call."""

    group: str
    key: str
    value: str | None
    apply_method: str  # immediate | pending-reboot
    cluster: bool = False  # an Aurora cluster parameter group (ModifyDBClusterParameterGroup)


@dataclass(frozen=True)
class ManifestEdit:
    """What a manifest statement does: set one key of an operator's parameters map in the manifest
    file (`Statement.file`) to `value` (None removes it)."""

    key: str
    value: str | None


@dataclass(frozen=True)
class ParameterEdit:
    """What a managed service's statement does: set one of its parameters (Azure's configurations,
    Cloud SQL's flags) to `value` in the store named `store`."""

    store: str
    key: str
    value: str | None  # None: the parameter removed (the service's default applies)


Action = IniEdit | PatroniPatch | GroupEdit | ManifestEdit | ParameterEdit
"""The typed payload of a statement that is not SQL: the executor dispatches on it, never on text."""


@dataclass(frozen=True)
class Statement:
    sql: str
    transactional: bool  # False: must run outside a transaction block (ALTER SYSTEM, CONCURRENTLY)
    lock: str = "none"  # the strongest table-level lock it takes, e.g. "SHARE UPDATE EXCLUSIVE"
    retryable: bool = True  # safe to retry after a lock timeout (never a concurrent index build)
    progress: str | None = None  # pg_stat_progress_* view that reports on it (create_index)
    target: str = "postgres"  # postgres | pgbouncer (admin console) | pgbouncer.ini (a line in `file`) | patroni | rds
    # | manifest (an operator's cluster manifest, `file`)
    file: str | None = None  # the file a pgbouncer.ini statement edits
    locks: tuple[tuple[str, str], ...] = ()  # other relations it locks: (schema.name, mode), e.g. FK targets
    action: Action | None = None  # what a pgbouncer.ini or Patroni statement does (its `sql` is how it reads)


@dataclass(frozen=True)
class Hazard:
    code: str
    message: str


@dataclass(frozen=True)
class Address:
    """What a change is about, as parts: kinds build it, and the executor, `inspect --into`, the
    JSON contract and the apply report read its parts (no object string is ever parsed back)."""

    kind: str  # setting | storage | index | partition | pool
    name: str  # the setting, relation (table, partition, index) or PgBouncer setting
    schema: str | None = None  # relations
    scope: str | None = None  # setting: "database" | "role" (None: server-wide); pool: "pgbouncer"
    target: str | None = None  # the database or role a scoped setting is stored for

    def __str__(self) -> str:
        if self.schema is not None:
            return qualified_text(self.schema, self.name)
        if self.scope in ("database", "role"):
            return f"{self.scope}:{self.target}/{self.name}"
        if self.scope is not None:
            return f"{self.scope}/{self.name}"
        return self.name

    def data(self) -> dict[str, str | None]:
        return {"kind": self.kind, "scope": self.scope, "target": self.target, "schema": self.schema, "name": self.name}


class Shown(Protocol):
    """A structured before/after value: how it reads to people, and its JSON form."""

    def text(self) -> str: ...

    def data(self) -> Any: ...


@dataclass(frozen=True)
class Parameters:
    """Storage parameters of one relation, in declared order: name -> value (None: not set).
    Before and after of a storage change hold the same names, so they read per parameter."""

    items: tuple[tuple[str, str | None], ...]

    @classmethod
    def of(cls, values: dict[str, str | None]) -> Parameters:
        return cls(tuple(values.items()))

    def get(self, name: str) -> str | None:
        return dict(self.items).get(name)

    def names(self) -> list[str]:
        return [name for name, _ in self.items]

    def text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.items)

    def data(self) -> dict[str, str | None]:
        return dict(self.items)


@dataclass(frozen=True)
class Bound:
    """A partition's bound: a range, a list of values, or DEFAULT; `reattach` marks a table pgtune
    detached earlier and attaches again."""

    lower: str | int | None = None
    upper: str | int | None = None
    values: tuple[Any, ...] | None = None
    default: bool = False
    reattach: bool = False

    def data(self) -> dict[str, Any]:
        if self.default:
            out: dict[str, Any] = {"default": True}
        elif self.values is not None:
            out = {"values": list(self.values)}
        else:
            out = {"from": self.lower, "to": self.upper}
        return out | ({"reattach": True} if self.reattach else {})

    def text(self) -> str:
        if self.reattach:
            return ", ".join(f"{k}={v}" for k, v in self.data().items())
        if self.default:
            return "DEFAULT"
        if self.values is not None:
            return "IN (" + ", ".join(map(str, self.values)) + ")"
        return f"FROM {self.lower} TO {self.upper}"


@dataclass(frozen=True)
class Analyze:
    """Statistics gathered on a partitioned parent (it has no value of its own to change)."""

    def text(self) -> str:
        return "ANALYZE"

    def data(self) -> dict[str, bool]:
        return {"analyze": True}


Value = str | int | float | bool | None | Parameters | Bound | Analyze
"""A before/after value: a scalar as the server or PgBouncer spells it, or a structured view."""


def value_text(value: Value) -> str | None:
    """A value for people (None: not set)."""
    if value is None:
        return None
    return value.text() if isinstance(value, (Parameters, Bound, Analyze)) else str(value)


def value_data(value: Value) -> Any:
    """A value's JSON form."""
    return value.data() if isinstance(value, (Parameters, Bound, Analyze)) else value


@dataclass(frozen=True)
class Change:
    address: Address
    action: str  # create | update | delete | replace
    before: Value
    after: Value
    statements: tuple[Statement, ...]
    restart_required: bool = False
    reload_required: bool = False  # needs pg_reload_conf() once all statements ran
    hazards: tuple[Hazard, ...] = ()
    note: str | None = None
    source: str | None = None  # settings: "workload" (derived) or "settings" (declared)
    reset: bool = False  # a delete that leaves the object at its default (RESET): reads "before -> after"

    @property
    def kind(self) -> str:
        return self.address.kind

    @property
    def object(self) -> str:
        """The address as people read it, e.g. "shared_buffers", "database:letta/work_mem"."""
        return str(self.address)

    @property
    def transactional(self) -> bool:
        return all(s.transactional for s in self.statements)

    @property
    def lock(self) -> str:
        """The strongest lock any of its statements takes."""
        return max((s.lock for s in self.statements), key=LOCK_MODES.index, default="none")

    @property
    def other_locks(self) -> tuple[tuple[str, str], ...]:
        """Locks its statements take on relations other than its own object, strongest per relation."""
        out: dict[str, str] = {}
        for s in self.statements:
            for relation, mode in s.locks:
                if relation not in out or LOCK_MODES.index(mode) > LOCK_MODES.index(out[relation]):
                    out[relation] = mode
        return tuple(out.items())


@dataclass(frozen=True)
class Notice:
    """Something worth saying that is not a change, e.g. a value written but awaiting restart."""

    kind: str
    object: str
    code: str  # e.g. RESTART_PENDING
    message: str
    address: Address | None = field(default=None, compare=False)  # when it is about one object a change could be

    @classmethod
    def about(cls, address: Address, code: str, message: str) -> Notice:
        return cls(address.kind, str(address), code, message, address)


@dataclass(frozen=True)
class Check:
    """A cross-check the plan ran (pool capacity, timeouts): its verdict and the numbers behind it."""

    code: str  # e.g. POOL_CAPACITY
    status: str  # ok | warn (a failing check that is an error stops the plan instead)
    message: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerInfo:
    version: str
    version_num: int


RELOAD = Statement("SELECT pg_reload_conf()", transactional=False)
PGBOUNCER_RELOAD = Statement("RELOAD", transactional=False, target="pgbouncer")
"""Re-read pgbouncer.ini after pgtune edited it; the executor then confirms with SHOW CONFIG."""


@dataclass(frozen=True)
class Plan:
    profile: str
    server: ServerInfo
    changes: tuple[Change, ...] = ()
    notices: tuple[Notice, ...] = ()
    checks: tuple[Check, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def empty(self) -> bool:
        return not self.changes

    @property
    def reload_required(self) -> bool:
        return any(c.reload_required for c in self.changes)

    @property
    def restart_required(self) -> bool:
        return any(c.restart_required for c in self.changes)

    @property
    def pgbouncer_reload_required(self) -> bool:
        return any(s.target == "pgbouncer.ini" for c in self.changes for s in c.statements)

    @property
    def epilogue(self) -> tuple[Statement, ...]:
        """Statements run once after every change: the configuration reloads (PostgreSQL, PgBouncer)."""
        return ((RELOAD,) if self.reload_required else ()) + (
            (PGBOUNCER_RELOAD,) if self.pgbouncer_reload_required else ()
        )

    def summary(self) -> dict[str, Any]:
        counts: dict[str, Any] = {action: 0 for action in ACTIONS}
        for change in self.changes:
            counts[change.action] += 1
        counts["restart_required"] = self.restart_required
        return counts
