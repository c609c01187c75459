"""`pgtune check`: the dozen health queries DBAs run by hand, judged against thresholds.

Every check reads statistics in one read-only transaction under a short statement_timeout and
returns a `Result` (ok | warn | critical | skipped) with its value, the threshold it was judged
by, the objects at fault and, where a profile change can help, that change in profile terms.
Thresholds have documented defaults (`DEFINITIONS`, pgtune.checks.limits); a profile's `checks:`
section overrides them. Ratios are 0..1, durations accept units (1min), sizes accept units (10MB).

Sources for the queries' logic (written here in pgtune's own words): heroku-pg-extras (cache hit,
vacuum-stats threshold from reloptions, unused indexes, blocking), pgx_scripts (xid age, FKs without
an index, duplicate indexes), ioguix/pgsql-bloat-estimation (bloat estimates and their caveats)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgtune.checks.activity import (
    connection_churn,
    connections_used,
    deadlocks,
    file_settings_errors,
    idle_in_transaction,
    lock_waits,
    long_transactions,
    pending_restart,
    replication_lag,
    rollback_ratio,
    top_queries,
    xid_age,
)
from pgtune.checks.indexes import duplicate_indexes, fk_without_index, invalid_indexes, unused_indexes
from pgtune.checks.limits import (
    CHECK_LOCK_TIMEOUT,
    CHECK_STATEMENT_TIMEOUT,
    DEFINITIONS,
    SEVERITY,
    Limits,
    Query,
    Result,
    _threshold,
    resolve_limits,
)
from pgtune.checks.tables import (
    autovacuum_recency,
    cache_hit_ratio,
    dead_tuples,
    index_bloat,
    index_cache_hit_ratio,
    table_bloat,
    table_cache_hit_ratio,
)
from pgtune.profile.loader import LoadedProfile

CHECKS: dict[str, Callable[[Query, Limits], Result]] = {
    f.__name__: f
    for f in (
        cache_hit_ratio,
        table_cache_hit_ratio,
        index_cache_hit_ratio,
        table_bloat,
        index_bloat,
        dead_tuples,
        autovacuum_recency,
        long_transactions,
        idle_in_transaction,
        lock_waits,
        deadlocks,
        rollback_ratio,
        connections_used,
        connection_churn,
        xid_age,
        replication_lag,
        invalid_indexes,
        unused_indexes,
        duplicate_indexes,
        fk_without_index,
        pending_restart,
        file_settings_errors,
        top_queries,
    )
}


def run(conn: psycopg.Connection, loaded: LoadedProfile | None) -> list[Result]:
    """Every enabled check, read-only, each under a short statement_timeout; a check that cannot
    run (privileges, version) is reported as skipped with the reason, not as a failure."""
    limits, disabled = resolve_limits(loaded)
    results = []
    for name, check in CHECKS.items():
        if name in disabled:
            results.append(Result(name, "skipped", detail="disabled in the profile"))
            continue
        # READ ONLY, and committed: a rolled-back transaction would raise the rollback ratio this
        # very command judges (a read-only transaction writes nothing, so committing changes nothing).
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
                (CHECK_STATEMENT_TIMEOUT, CHECK_LOCK_TIMEOUT),
            )

            def q(sql: str, params: Any) -> list[dict[str, Any]]:
                with conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(sql if params is not None else sql.replace("%%", "%"), params)
                    return cur.fetchall() if cur.description else []

            try:
                with conn.transaction():
                    result = check(q, limits[name])
            except psycopg.errors.LockNotAvailable:
                result = Result(name, "skipped", detail=_lock_verdict(conn))
            except psycopg.Error as exc:
                result = Result(name, "skipped", detail=f"could not run: {exc.diag.message_primary or exc}")
        result.threshold = result.threshold or _threshold(limits[name])
        if result.status in ("ok", "skipped"):
            result.suggestion = None
        results.append(result)
    return results


def _lock_verdict(conn: psycopg.Connection) -> str:
    """What a check waited for: the relations another session holds an exclusive lock on."""
    from pgtune.base.names import qualified_text

    rows = conn.execute(
        "SELECT DISTINCT n.nspname, c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE l.granted AND l.locktype = 'relation' "
        "AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_backend_pid() ORDER BY 1, 2 LIMIT 5"
    ).fetchall()
    held = ", ".join(qualified_text(schema, name) for schema, name in rows)
    where = f" on {held} (held ACCESS EXCLUSIVE by another session)" if held else ""
    return f"waited {CHECK_LOCK_TIMEOUT} for a lock{where}: try again when it is released"


def breached(results: list[Result], fail_on: str) -> bool:
    if fail_on == "never":
        return False
    return any(SEVERITY[r.status] >= SEVERITY[fail_on] for r in results)


__all__ = ["CHECKS", "CHECK_LOCK_TIMEOUT", "DEFINITIONS", "Limits", "Result", "breached", "resolve_limits", "run"]
