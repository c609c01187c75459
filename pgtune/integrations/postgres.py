"""Connecting: where the DSN comes from, and keeping its password out of every message.

Precedence: --dsn, then PGTUNE_DSN, then DATABASE_URL, then libpq's own PG* variables and service
file (psycopg with an empty conninfo). A password never leaves this module in text: DSNs are shown
redacted and every error message is scrubbed of the password before it is raised. Every secret
seen while connecting (the DSN's, PGPASSWORD, the one libpq read from .pgpass or a service file)
is remembered, and the CLI passes everything it prints or writes through `scrub_known`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgtune.base.errors import ConnectionFailed
from pgtune.base.redact import distinctive, mask_values, passwords_in, remember_secret, scrub_known

APPLICATION_NAME = "pgtune"


def resolve_dsn(cli_dsn: str | None) -> str:
    for candidate in (cli_dsn, os.environ.get("PGTUNE_DSN"), os.environ.get("DATABASE_URL")):
        if candidate:
            remember(candidate)
            return candidate
    return ""


def _secrets(dsn: str) -> list[str]:
    found = list(passwords_in(dsn))
    try:
        password = conninfo_to_dict(dsn).get("password") if dsn else None
    except psycopg.ProgrammingError:
        password = None
    for value in (password, os.environ.get("PGPASSWORD")):
        if value:
            found.extend({str(value), quote(str(value), safe=""), quote(str(value))})
    return sorted(set(s for s in found if s), key=len, reverse=True)


def remember(dsn: str = "", *secrets: str | None) -> None:
    """Keep these secrets (and the DSN's password) out of everything pgtune prints or writes."""
    remember_secret(*_secrets(dsn), *secrets)


def scrub(text: str, dsn: str) -> str:
    """Text that may quote the DSN (a catalog error, a console's answer): its connection strings
    masked and every distinctive secret — this DSN's included — removed; names kept exactly."""
    return scrub_known(mask_values(text, {s for s in _secrets(dsn) if distinctive(s)}))


def scrub_connection_error(text: str, dsn: str) -> str:
    """A connection error, which may quote the connection string itself (libpq's parse errors do):
    this DSN's password masked wherever it appears, whatever it is — even a name (`for user "****"`
    when the user and the password are both `letta`)."""
    return scrub_known(mask_values(text, set(_secrets(dsn))))


def _redact_query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        key, eq, _value = part.partition("=")
        parts.append(f"{key}=****" if eq and key.lower() == "password" else part)
    return "&".join(parts)


def redact(dsn: str) -> str:
    """A DSN fit to print: the password replaced by ****, in the form it was given."""
    if not dsn:
        return "(libpq defaults: PG* environment / service file)"
    if "://" in dsn:
        scheme, _, rest = dsn.partition("://")
        rest, hash_, fragment = rest.partition("#")
        rest, qmark, query = rest.partition("?")
        netloc, sep, tail = rest.partition("/")
        userinfo, at, hostinfo = netloc.rpartition("@")
        if at and ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":****"
        query = _redact_query(query) if qmark else ""
        return scrub(f"{scheme}://{userinfo}{at}{hostinfo}{sep}{tail}{qmark}{query}{hash_}{fragment}", dsn)
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparsable connection string)"
    if "password" in params:
        params["password"] = "****"
    return scrub(make_conninfo(**{k: str(v) for k, v in params.items()}), dsn)


def connect(dsn: str, *, autocommit: bool = True, cursor_factory: type | None = None) -> psycopg.Connection:
    """Open a connection; failures become ConnectionFailed with no password in the message.

    `cursor_factory=psycopg.ClientCursor` for servers that speak only the simple query protocol."""
    remember(dsn)
    try:
        params = conninfo_to_dict(dsn) if dsn else {}
    except psycopg.ProgrammingError as exc:
        raise ConnectionFailed(
            f"invalid connection string {redact(dsn)}: {scrub_connection_error(str(exc), dsn)}"
        ) from None
    params.setdefault("application_name", APPLICATION_NAME)
    params.setdefault("connect_timeout", os.environ.get("PGCONNECT_TIMEOUT", "10"))
    try:
        conninfo = make_conninfo(dsn, **{k: params[k] for k in ("application_name", "connect_timeout")})
        if cursor_factory is not None:
            conn = psycopg.connect(conninfo, autocommit=autocommit, cursor_factory=cursor_factory)
        else:
            conn = psycopg.connect(conninfo, autocommit=autocommit)
    except psycopg.Error as exc:
        raise ConnectionFailed(
            f"could not connect to {redact(dsn)}: {scrub_connection_error(str(exc).strip(), dsn)}"
        ) from None
    remember("", conn.info.password)  # also a password libpq found in .pgpass or a service file
    return conn


def replayed(primary: str, standbys: Sequence[str]) -> bool:
    """Every standby streams and has replayed all the primary had written when asked (the state a
    restart of the next node, or a test, waits for)."""
    with connect(primary) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    for dsn in standbys:
        with connect(dsn) as conn:
            done = conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn AND "
                "(SELECT status FROM pg_stat_wal_receiver) = 'streaming'",
                (row[0],),
            ).fetchone()
        if not done or not done[0]:
            return False
    return True
