"""One apply at a time per database, whatever the profile: a session advisory lock.

Keyed on the database alone, not on the profile: two profiles that touch one database would
otherwise interleave — one pruning the other's in-flight `_pgtune_new` build, both queueing on
the same tables. Advisory locks are per database, so the key is one constant.

Session-level, not transaction-level: a transaction-scoped advisory lock would be held by a
transaction that CREATE INDEX CONCURRENTLY then waits for — a self-deadlock (flyway#4267).
A killed client's lock goes with its backend, so waits are bounded (`--wait`). This wait is
pgtune's own; PostgreSQL's `lock_timeout` (`--lock-timeout`) bounds each statement's table locks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg

from pgtune.base.errors import PgtuneError
from pgtune.base.poll import PollTimeout, poll

PGTUNE_LOCK_CLASS = 0x70677475  # "pgtu"
APPLY_LOCK_KEY = 0x6170706C  # "appl": one apply per database
POLL_SECONDS = 0.2


class ApplyLocked(PgtuneError):
    """Another pgtune apply is running against this database."""


def _holder(conn: psycopg.Connection) -> str:
    row = conn.execute(
        "SELECT a.pid, a.application_name, a.usename, a.client_addr::text, "
        "to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid AND l.objsubid = 2",
        (PGTUNE_LOCK_CLASS, APPLY_LOCK_KEY),
    ).fetchone()
    if row is None:
        return "a session that has just ended"
    pid, app, user, addr, since = row
    where = f" from {addr}" if addr else ""
    return f"pid {pid} (application_name {app or '(none)'!r}, user {user}{where}, connected since {since})"


@contextmanager
def apply_lock(conn: psycopg.Connection, wait_seconds: float) -> Iterator[None]:
    """Hold pgtune's apply lock on this database while the block runs."""

    def taken() -> bool:
        got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (PGTUNE_LOCK_CLASS, APPLY_LOCK_KEY)).fetchone()
        return bool(got and got[0])

    try:
        poll(taken, wait_seconds, interval=POLL_SECONDS)
    except PollTimeout:
        raise ApplyLocked(
            f"another pgtune apply is running on this database (any profile): {_holder(conn)}; "
            f"waited {wait_seconds:g}s (--wait). Nothing was executed."
        ) from None
    try:
        yield
    finally:
        with suppress(psycopg.Error):  # a broken connection has released it already
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (PGTUNE_LOCK_CLASS, APPLY_LOCK_KEY))
