"""Connection capacity arithmetic: do the pools a profile declares fit the server they point at?

Pure functions over plain numbers, so every topology can be tested with exact figures. The rules
(PostgreSQL's and PgBouncer's documentation, see README "Pool settings"):

- The server accepts `max_connections - superuser_reserved_connections - reserved_connections`
  ordinary connections (`reserved_connections` exists from PostgreSQL 16; walsenders, autovacuum
  and background workers do not count).
- An application process's pool peaks at `pool_size + max_overflow` (SQLAlchemy); `pool_size = 0`
  or `max_overflow = -1` means no limit, which no server can be sized for. An application that does
  not pool (`pool: none`, SQLAlchemy's NullPool) holds one connection per session it runs at once:
  its peak is `instances x concurrency`, and every session opens and closes a connection (the churn
  `pgtune check`'s connection_churn measures).
- Through PgBouncer, the applications' peak must fit `max_client_conn`, and the server sees
  PgBouncer's pools instead: `pools x (default_pool_size + reserve_pool_size)`, capped by
  `max_db_connections` when set (pgtune profiles describe one database).
- Whatever else connects directly (`other_connections`) comes on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int
    superuser_reserved_connections: int
    reserved_connections: int | None  # None: the server has no such setting (PostgreSQL < 16)

    @property
    def available(self) -> int:
        return self.max_connections - self.superuser_reserved_connections - (self.reserved_connections or 0)

    def explain(self) -> str:
        text = (
            f"max_connections {self.max_connections} - superuser_reserved_connections "
            f"{self.superuser_reserved_connections}"
        )
        if self.reserved_connections is not None:
            text += f" - reserved_connections {self.reserved_connections}"
        return f"{self.available} available ({text})"


@dataclass(frozen=True)
class AppPools:
    instances: int
    pool_size: int
    max_overflow: int
    through_pgbouncer: bool
    pooled: bool = True  # False: no pool (NullPool): a connection per session, opened and closed each time
    concurrency: int | None = None  # unpooled: sessions a process runs at once (None: unbounded)

    @property
    def bounded(self) -> bool:
        if not self.pooled:
            return self.concurrency is not None
        return self.pool_size > 0 and self.max_overflow >= 0

    @property
    def peak(self) -> int | None:
        if not self.bounded:
            return None
        if not self.pooled:
            return self.instances * (self.concurrency or 0)
        return self.instances * (self.pool_size + self.max_overflow)

    def explain(self) -> str:
        if not self.pooled:
            if self.concurrency is None:
                return f"{self.instances} x unpooled (pool: none without concurrency: a connection per session)"
            per = f"concurrency {self.concurrency} (pool: none, a connection per session)"
            return f"{self.instances} x {per} = {self.peak}"
        if not self.bounded:
            why = "pool_size 0" if self.pool_size == 0 else "max_overflow -1"
            return f"{self.instances} x unlimited pools ({why})"
        return f"{self.instances} x (pool_size {self.pool_size} + max_overflow {self.max_overflow}) = {self.peak}"


@dataclass(frozen=True)
class BouncerPools:
    pools: int
    default_pool_size: int
    reserve_pool_size: int
    max_db_connections: int  # 0 = unlimited
    max_client_conn: int

    @property
    def uncapped(self) -> int:
        return self.pools * (self.default_pool_size + self.reserve_pool_size)

    @property
    def server_connections(self) -> int:
        if self.max_db_connections > 0:
            return min(self.uncapped, self.max_db_connections)
        return self.uncapped

    def explain(self) -> str:
        text = (
            f"{self.pools} x (default_pool_size {self.default_pool_size} + reserve_pool_size "
            f"{self.reserve_pool_size}) = {self.uncapped}"
        )
        if self.max_db_connections > 0 and self.max_db_connections < self.uncapped:
            text += f", capped by max_db_connections {self.max_db_connections}"
        return text


@dataclass
class Capacity:
    """The verdict: `violations` empty means everything fits; `lines` show the arithmetic."""

    lines: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return not self.violations


def check(limits: ServerLimits, app: AppPools | None, bouncer: BouncerPools | None, other_connections: int) -> Capacity:
    """Judge the declared pools against the server's limits (and PgBouncer's client limit)."""
    out = Capacity()
    out.numbers["server_available"] = limits.available
    out.numbers["max_connections"] = limits.max_connections
    out.numbers["superuser_reserved_connections"] = limits.superuser_reserved_connections
    out.numbers["reserved_connections"] = limits.reserved_connections
    out.numbers["other_connections"] = other_connections
    parts: list[tuple[str, int]] = []
    unbounded = False
    if app is not None:
        out.numbers["application_peak"] = app.peak
        if app.through_pgbouncer and bouncer is not None:
            client = f"PgBouncer clients: applications {app.explain()}"
            out.numbers["max_client_conn"] = bouncer.max_client_conn
            if app.peak is None:
                out.violations.append(f"{client}: unbounded, cannot fit max_client_conn {bouncer.max_client_conn}")
            elif app.peak > bouncer.max_client_conn:
                out.violations.append(f"{client} > max_client_conn {bouncer.max_client_conn}")
            else:
                out.lines.append(f"{client} ≤ max_client_conn {bouncer.max_client_conn}")
        elif app.peak is None:
            unbounded = True
            parts.append((f"applications {app.explain()}", 0))
        else:
            parts.append((f"applications {app.explain()}", app.peak))
    if bouncer is not None:
        out.numbers["pgbouncer_server_connections"] = bouncer.server_connections
        parts.append((f"PgBouncer {bouncer.explain()}", bouncer.server_connections))
    if other_connections:
        parts.append((f"other connections {other_connections}", other_connections))
    if not parts:
        return out
    total = sum(n for _, n in parts)
    out.numbers["server_demand"] = None if unbounded else total
    terms = " + ".join(text for text, _ in parts)
    summary = terms if len(parts) == 1 else f"{terms} = {total}"
    if unbounded:
        out.violations.append(f"server: {terms}: unbounded, cannot fit {limits.explain()}")
    elif total > limits.available:
        out.violations.append(f"server: {summary} > {limits.explain()}")
    else:
        out.lines.append(f"server: {summary} ≤ {limits.explain()}")
    return out
