"""Health checks of what sessions and the server do: long and idle transactions, lock waits, deadlocks,
rollbacks, connections, transaction ID age, replication lag, pending restarts, configuration file
errors and the top queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgtune.base.identifiers import quoted
from pgtune.checks.limits import MIN_XACTS, Limits, Query, Result, _breaching, first, listed, statements_view, verdict

ACTIVITY = (
    "SELECT pid, application_name AS app, usename AS user, state, left(query, 200) AS query, "
    "extract(epoch FROM now() - {since})::float AS seconds{extra} FROM pg_stat_activity "
    "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND {where}"
)


@dataclass(frozen=True)
class Sessions:
    """Client sessions matching `where`, judged by how long since `since`."""

    since: str
    where: str
    what: str
    extra: str = ""


LONG = Sessions("xact_start", "xact_start IS NOT NULL", "oldest open transaction")
IDLE = Sessions("state_change", "state LIKE 'idle in transaction%%'", "longest idle in transaction")
WAITING = Sessions(
    "query_start", "wait_event_type = 'Lock'", "longest lock wait", ", pg_blocking_pids(pid) AS blocked_by"
)


def _sessions(q: Query, lim: Limits, name: str, which: Sessions) -> tuple[Result, list[dict[str, Any]]]:
    """The sessions' check; also their rows."""
    rows = q(ACTIVITY.format(since=which.since, where=which.where, extra=which.extra), None)
    worst = max((r["seconds"] for r in rows), default=0.0)
    longest = f"{which.what}: {worst:.0f}s (pid {max(rows, key=lambda x: x['seconds'])['pid']})" if rows else "none"
    breaching = [dict(x) for x in _breaching(rows, "seconds", lim, "high")]
    return verdict(name, lim, worst, longest, shown=round(worst, 1), objects=breaching), rows


def long_transactions(q: Query, lim: Limits) -> Result:
    return _sessions(q, lim, "long_transactions", LONG)[0]


def idle_in_transaction(q: Query, lim: Limits) -> Result:
    return _sessions(q, lim, "idle_in_transaction", IDLE)[0]


def lock_waits(q: Query, lim: Limits) -> Result:
    r, rows = _sessions(q, lim, "lock_waits", WAITING)
    chains = [f"pid {x['pid']} waits {x['seconds']:.0f}s for pid {', '.join(map(str, x['blocked_by']))}" for x in rows]
    r.detail = "; ".join(chains) if chains else "no session waits for a lock"
    return r


DEADLOCKS_SQL = "SELECT deadlocks::float AS n, stats_reset FROM pg_stat_database WHERE datname = current_database()"
XACTS_SQL = """
SELECT xact_commit::float AS c, xact_rollback::float AS r
FROM pg_stat_database WHERE datname = current_database()
"""
CONNECTIONS_SQL = """
SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::float AS used,
       current_setting('max_connections')::float - current_setting('superuser_reserved_connections')::float
       - coalesce(current_setting('reserved_connections', true), '0')::float AS room
"""
XID_SQL = """
SELECT datname, age(datfrozenxid)::float / current_setting('autovacuum_freeze_max_age')::float AS xid,
       mxid_age(datminmxid)::float / current_setting('autovacuum_multixact_freeze_max_age')::float AS mxid
FROM pg_database WHERE datallowconn
"""
LAG_SQL = """
SELECT application_name AS standby, client_addr::text AS addr, extract(epoch FROM replay_lag)::float AS seconds
FROM pg_stat_replication
"""


def deadlocks(q: Query, lim: Limits) -> Result:
    row = first(q, DEADLOCKS_SQL)
    since = row["stats_reset"] or "the statistics were created"
    return verdict("deadlocks", lim, row["n"], f"{int(row['n'])} deadlocks since {since}", shown=int(row["n"]))


def rollback_ratio(q: Query, lim: Limits) -> Result:
    row = first(q, XACTS_SQL)
    total = row["c"] + row["r"]
    value = None if total < MIN_XACTS else row["r"] / total
    detail = (
        "not enough transactions yet" if value is None else f"{int(row['r'])} of {int(total)} transactions rolled back"
    )
    return verdict("rollback_ratio", lim, value, detail, shown=value and round(value, 4))


def connections_used(q: Query, lim: Limits) -> Result:
    row = first(q, CONNECTIONS_SQL)
    value = row["used"] / row["room"] if row["room"] > 0 else 1.0
    detail = f"{int(row['used'])} of {int(row['room'])} available connections in use"
    return verdict("connections_used", lim, value, detail, shown=round(value, 3))


CHURN_SQL = """
SELECT sessions::float AS sessions, sessions_abandoned::float AS abandoned, sessions_fatal::float AS fatal,
       sessions_killed::float AS killed, numbackends::float AS now,
       extract(epoch FROM now() - coalesce(stats_reset, pg_postmaster_start_time()))::float AS seconds,
       stats_reset IS NOT NULL AS was_reset
FROM pg_stat_database WHERE datname = current_database()
"""
MIN_CHURN_SECONDS = 10.0
"""Fewer seconds of statistics than this say nothing about a rate."""


def connection_churn(q: Query, lim: Limits) -> Result:
    """New sessions a second into this database, since its statistics were reset (pg_stat_database,
    PostgreSQL 14+): an application that does not pool opens one per request — a fork,
    authentication and cold caches each time — where a pooler keeps a few open."""
    row = first(q, CHURN_SQL)
    seconds = float(row["seconds"])
    since = "since the statistics were reset" if row["was_reset"] else "since the server started"
    if seconds < MIN_CHURN_SECONDS:
        return verdict("connection_churn", lim, None, f"not judged: {seconds:.0f} s of statistics ({since})")
    rate = row["sessions"] / seconds
    detail = (
        f"{int(row['sessions'])} sessions opened in {seconds:.0f} s ({since}): {rate:.2f} a second; "
        f"{int(row['now'])} open now; {int(row['abandoned'])} abandoned by the client, {int(row['fatal'])} ended by "
        f"a fatal error, {int(row['killed'])} killed"
    )
    return verdict("connection_churn", lim, rate, detail, shown=round(rate, 3))


def xid_age(q: Query, lim: Limits) -> Result:
    rows = q(XID_SQL, None)
    worst = max((max(r["xid"], r["mxid"]) for r in rows), default=0.0)
    old = [dict(x) for x in rows if lim.judge(max(x["xid"], x["mxid"]), "high") != "ok"]  # either age
    detail = f"oldest database at {worst:.1%} of the freeze max age (xid or multixact)"
    return verdict("xid_age", lim, worst, detail, shown=round(worst, 4), objects=old)


def replication_lag(q: Query, lim: Limits) -> Result:
    rows = q(LAG_SQL, None)
    if not rows:
        return Result("replication_lag", "skipped", detail="no standbys connected")
    worst = max((r["seconds"] or 0.0 for r in rows), default=0.0)
    detail = f"{len(rows)} standbys, worst replay lag {worst:.1f}s"
    return verdict("replication_lag", lim, worst, detail, objects=[dict(x) for x in rows])


pending_restart = listed(
    "pending_restart",
    "SELECT name, setting FROM pg_settings WHERE pending_restart",
    "{n} settings wait for a restart",
)


file_settings_errors = listed(
    "file_settings_errors",
    "SELECT sourcefile, sourceline, name, error FROM pg_file_settings WHERE error IS NOT NULL "
    "AND error <> 'setting could not be applied'",
    "{n} errors in configuration files",
)


def top_queries(q: Query, lim: Limits) -> Result:
    present = statements_view(q)
    if present is None:
        return Result("top_queries", "skipped", detail="pg_stat_statements is not installed in this database")
    view = quoted(present["schema"], "pg_stat_statements").replace("%", "%%")
    columns = {
        r["attname"]
        for r in q("SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0", (present["view"],))
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
