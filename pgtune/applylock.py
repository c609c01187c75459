"""One apply at a time per profile and database: a session advisory lock.

Session-level, not transaction-level: a transaction-scoped advisory lock would be held by a
transaction that CREATE INDEX CONCURRENTLY then waits for — a self-deadlock (flyway#4267). The
lock is keyed on (a constant for pgtune, hashtext(profile name)); advisory locks are per database.
A killed client's lock goes with its backend, so waits are bounded (`--wait`). This wait is
pgtune's own; PostgreSQL's `lock_timeout` (`--lock-timeout`) bounds each statement's table locks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg

from pgtune.errors import PgtuneError

PGTUNE_LOCK_CLASS = 0x70677475  # "pgtu"
POLL_SECONDS = 0.2


class ApplyLocked(PgtuneError):
    """Another pgtune apply of the same profile is running against this database."""


def _holder(conn: psycopg.Connection, profile: str) -> str:
    row = conn.execute(
        "SELECT a.pid, a.application_name, a.usename, a.client_addr::text, "
        "to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid = %s::bigint::oid AND l.objid = hashtext(%s)::oid AND l.objsubid = 2",
        (PGTUNE_LOCK_CLASS, profile),
    ).fetchone()
    if row is None:
        return "a session that has just ended"
    pid, app, user, addr, since = row
    where = f" from {addr}" if addr else ""
    return f"pid {pid} (application_name {app or '(none)'!r}, user {user}{where}, connected since {since})"


@contextmanager
def apply_lock(conn: psycopg.Connection, profile: str, wait_seconds: float) -> Iterator[None]:
    """Hold pgtune's lock for `profile` on this database while the block runs."""
    deadline = time.monotonic() + wait_seconds
    while True:
        got = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (PGTUNE_LOCK_CLASS, profile)).fetchone()
        if got and got[0]:
            break
        if time.monotonic() >= deadline:
            raise ApplyLocked(
                f"another pgtune apply of profile {profile!r} is running on this database: {_holder(conn, profile)}; "
                f"waited {wait_seconds:g}s (--wait). Nothing was executed."
            )
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        with suppress(psycopg.Error):  # a broken connection has released it already
            conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (PGTUNE_LOCK_CLASS, profile))
