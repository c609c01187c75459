"""Health checks of what sessions and the server do: long and idle transactions, lock waits, deadlocks,
rollbacks, connections, transaction ID age, replication lag, pending restarts, configuration file
errors and the top queries."""

from __future__ import annotations

from typing import Any

from pgtune.base.identifiers import quoted
from pgtune.checks.limits import MIN_XACTS, Limits, Query, Result, _breaching, _count_result

ACTIVITY = (
    "SELECT pid, application_name AS app, usename AS user, state, left(query, 200) AS query, "
    "extract(epoch FROM now() - {since})::float AS seconds{extra} FROM pg_stat_activity "
    "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND {where}"
)


def _sessions(
    q: Query, lim: Limits, name: str, since: str, where: str, suggestion: str, what: str, extra: str = ""
) -> tuple[Result, list[dict[str, Any]]]:
    """Client sessions matching `where`, judged by how long since `since`; also their rows."""
    rows = q(ACTIVITY.format(since=since, where=where, extra=extra), None)
    worst = max((r["seconds"] for r in rows), default=0.0)
    r = Result(name, lim.judge(worst, "high"), round(worst, 1))
    r.objects = [dict(x) for x in _breaching(rows, "seconds", lim, "high")]
    r.detail = f"{what}: {worst:.0f}s (pid {max(rows, key=lambda x: x['seconds'])['pid']})" if rows else "none"
    r.suggestion = suggestion
    return r, rows


def long_transactions(q: Query, lim: Limits) -> Result:
    return _sessions(
        q,
        lim,
        "long_transactions",
        "xact_start",
        "xact_start IS NOT NULL",
        "find the application holding it; set statement_timeout / idle_in_transaction_session_timeout "
        "for its role (roles: <name>: settings:)",
        "oldest open transaction",
    )[0]


def idle_in_transaction(q: Query, lim: Limits) -> Result:
    return _sessions(
        q,
        lim,
        "idle_in_transaction",
        "state_change",
        "state LIKE 'idle in transaction%%'",
        "set idle_in_transaction_session_timeout (settings:, e.g. 5min)",
        "longest idle in transaction",
    )[0]


def lock_waits(q: Query, lim: Limits) -> Result:
    r, rows = _sessions(
        q,
        lim,
        "lock_waits",
        "query_start",
        "wait_event_type = 'Lock'",
        "end or fix the blocking session; DDL should run under lock_timeout (pgtune apply does)",
        "longest lock wait",
        extra=", pg_blocking_pids(pid) AS blocked_by",
    )
    chains = [f"pid {x['pid']} waits {x['seconds']:.0f}s for pid {', '.join(map(str, x['blocked_by']))}" for x in rows]
    r.detail = "; ".join(chains) if chains else "no session waits for a lock"
    return r


def deadlocks(q: Query, lim: Limits) -> Result:
    row = q("SELECT deadlocks::float AS n, stats_reset FROM pg_stat_database WHERE datname = current_database()", None)[
        0
    ]
    r = Result("deadlocks", lim.judge(row["n"], "high"), int(row["n"]))
    r.detail = f"{int(row['n'])} deadlocks since {row['stats_reset'] or 'the statistics were created'}"
    r.suggestion = "make transactions take rows/tables in one consistent order; see the server log for the statements"
    return r


def rollback_ratio(q: Query, lim: Limits) -> Result:
    row = q(
        "SELECT xact_commit::float AS c, xact_rollback::float AS r FROM pg_stat_database "
        "WHERE datname = current_database()",
        None,
    )[0]
    total = row["c"] + row["r"]
    value = None if total < MIN_XACTS else row["r"] / total
    r = Result("rollback_ratio", lim.judge(value, "high"), value and round(value, 4))
    r.detail = (
        "not enough transactions yet" if value is None else f"{int(row['r'])} of {int(total)} transactions rolled back"
    )
    r.suggestion = "look for failing statements in the application (errors roll back transactions)"
    return r


def connections_used(q: Query, lim: Limits) -> Result:
    row = q(
        "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::float AS used, "
        "current_setting('max_connections')::float - current_setting('superuser_reserved_connections')::float "
        "- coalesce(current_setting('reserved_connections', true), '0')::float AS room",
        None,
    )[0]
    value = row["used"] / row["room"] if row["room"] > 0 else 1.0
    r = Result("connections_used", lim.judge(value, "high"), round(value, 3))
    r.detail = f"{int(row['used'])} of {int(row['room'])} available connections in use"
    r.suggestion = "pool connections (pool: application / pgbouncer) or raise max_connections (settings:)"
    return r


def xid_age(q: Query, lim: Limits) -> Result:
    rows = q(
        "SELECT datname, age(datfrozenxid)::float / current_setting('autovacuum_freeze_max_age')::float AS xid, "
        "mxid_age(datminmxid)::float / current_setting('autovacuum_multixact_freeze_max_age')::float AS mxid "
        "FROM pg_database WHERE datallowconn",
        None,
    )
    worst = max((max(r["xid"], r["mxid"]) for r in rows), default=0.0)
    r = Result("xid_age", lim.judge(worst, "high"), round(worst, 4))
    r.objects = [dict(x) for x in rows if lim.judge(max(x["xid"], x["mxid"]), "high") != "ok"]  # either age
    r.detail = f"oldest database at {worst:.1%} of the freeze max age (xid or multixact)"
    r.suggestion = "VACUUM (FREEZE) the oldest tables; make sure autovacuum is not blocked by long transactions"
    return r


def replication_lag(q: Query, lim: Limits) -> Result:
    rows = q(
        "SELECT application_name AS standby, client_addr::text AS addr, "
        "extract(epoch FROM replay_lag)::float AS seconds FROM pg_stat_replication",
        None,
    )
    if not rows:
        return Result("replication_lag", "skipped", detail="no standbys connected")
    worst = max((r["seconds"] or 0.0 for r in rows), default=0.0)
    r = Result("replication_lag", lim.judge(worst, "high"), worst, objects=[dict(x) for x in rows])
    r.detail = f"{len(rows)} standbys, worst replay lag {worst:.1f}s"
    r.suggestion = "check the standby's I/O and network; consider wal_compression (settings:)"
    return r


def pending_restart(q: Query, lim: Limits) -> Result:
    rows = q("SELECT name, setting FROM pg_settings WHERE pending_restart", None)
    return _count_result(
        "pending_restart",
        lim,
        [dict(r) for r in rows],
        f"{len(rows)} settings wait for a restart",
        "restart PostgreSQL in a window" if rows else None,
    )


def file_settings_errors(q: Query, lim: Limits) -> Result:
    rows = q(
        "SELECT sourcefile, sourceline, name, error FROM pg_file_settings WHERE error IS NOT NULL "
        "AND error <> 'setting could not be applied'",
        None,
    )
    return _count_result(
        "file_settings_errors",
        lim,
        [dict(r) for r in rows],
        f"{len(rows)} errors in configuration files",
        "fix the lines named; a reload ignores a broken file" if rows else None,
    )


def top_queries(q: Query, lim: Limits) -> Result:
    present = q(
        "SELECT n.nspname AS schema, c.oid AS view FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "JOIN pg_class c ON c.relnamespace = e.extnamespace AND c.relname = 'pg_stat_statements' "
        "WHERE e.extname = 'pg_stat_statements'",
        None,
    )
    if not present:
        return Result("top_queries", "skipped", detail="pg_stat_statements is not installed in this database")
    # Found in the extension's own schema, whatever the search_path (Letta's is `letta` alone).
    view = quoted(present[0]["schema"], "pg_stat_statements").replace("%", "%%")
    columns = {
        r["attname"]
        for r in q("SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0", (present[0]["view"],))
    }
    total = "total_exec_time" if "total_exec_time" in columns else "total_time"  # renamed in PostgreSQL 13
    rows = q(
        f"SELECT left(query, 200) AS query, calls, {total}::float AS total_ms, "
        f"({total} / greatest(calls, 1))::float AS mean_ms FROM {view} ORDER BY {total} DESC LIMIT 5",
        (),
    )
    r = Result("top_queries", "ok", len(rows), objects=[dict(x) for x in rows])
    r.detail = "top queries by total time (information, never a breach)"
    return r
