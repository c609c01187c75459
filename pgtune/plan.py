"""The plan model every kind speaks: changes with their statements, locks, hazards and flags.

A plan is data — rendered SQL, not callbacks — so it can be printed, saved, reviewed and executed
by one executor. Plain frozen dataclasses: the engine's inside, not a boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
class Statement:
    sql: str
    transactional: bool  # False: must run outside a transaction block (ALTER SYSTEM, CONCURRENTLY)
    lock: str = "none"  # the strongest table-level lock it takes, e.g. "SHARE UPDATE EXCLUSIVE"
    retryable: bool = True  # safe to retry after a lock timeout (never a concurrent index build)
    progress: str | None = None  # pg_stat_progress_* view that reports on it (create_index)
    target: str = "postgres"  # postgres | pgbouncer (admin console) | pgbouncer.ini (a line in `file`)
    file: str | None = None  # the file a pgbouncer.ini statement edits
    locks: tuple[tuple[str, str], ...] = ()  # other relations it locks: (schema.name, mode), e.g. FK targets


@dataclass(frozen=True)
class Hazard:
    code: str
    message: str


@dataclass(frozen=True)
class Change:
    kind: str  # setting | storage | index | partition | pool
    object: str  # e.g. "shared_buffers", "database:letta/work_mem"
    action: str  # create | update | delete | replace
    before: Any
    after: Any
    statements: tuple[Statement, ...]
    restart_required: bool = False
    reload_required: bool = False  # needs pg_reload_conf() once all statements ran
    hazards: tuple[Hazard, ...] = ()
    note: str | None = None
    source: str | None = None  # settings: "workload" (derived) or "settings" (declared)

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
