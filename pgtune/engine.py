"""Plan: read the catalog once per kind inside one read-only snapshot, validate, diff.

Validation problems from every kind are collected and raised together before anything runs.
"""

from __future__ import annotations

import psycopg

from pgtune.errors import ProfileError, ProfileErrors, raise_if_any
from pgtune.kinds import KindResult, settings, storage
from pgtune.plan import Plan, ServerInfo
from pgtune.profile.loader import LoadedProfile

KINDS = (settings, storage)
"""Kinds in the order their changes run."""

CATALOG_STATEMENT_TIMEOUT = "30s"


def server_info(conn: psycopg.Connection) -> ServerInfo:
    row = conn.execute(
        "SELECT current_setting('server_version'), current_setting('server_version_num')::int"
    ).fetchone()
    assert row is not None
    return ServerInfo(version=row[0].split()[0], version_num=row[1])


def build_plan(conn: psycopg.Connection, loaded: LoadedProfile) -> Plan:
    """Compute the ordered plan that converges the server to the profile."""
    errors: list[ProfileError] = []
    results: list[KindResult] = []
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute("SELECT set_config('statement_timeout', %s, true)", (CATALOG_STATEMENT_TIMEOUT,))
        server = server_info(conn)
        for kind in KINDS:
            try:
                results.append(kind.plan(conn, loaded))
            except ProfileErrors as exc:
                errors.extend(exc.errors)
            except ProfileError as exc:
                errors.append(exc)
    raise_if_any(errors)
    changes = tuple(c for r in results for c in r.changes)
    notices = tuple(n for r in results for n in r.notices)
    return Plan(profile=loaded.profile.name, server=server, changes=changes, notices=notices)
