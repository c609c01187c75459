"""Connecting: where the DSN comes from, and keeping its password out of every message.

Precedence: --dsn, then PGTUNE_DSN, then DATABASE_URL, then libpq's own PG* variables and service
file (psycopg with an empty conninfo). A password never leaves this module in text: DSNs are shown
redacted and every error message is scrubbed of the password before it is raised.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgtune.errors import ConnectionFailed

APPLICATION_NAME = "pgtune"


def resolve_dsn(cli_dsn: str | None) -> str:
    for candidate in (cli_dsn, os.environ.get("PGTUNE_DSN"), os.environ.get("DATABASE_URL")):
        if candidate:
            return candidate
    return ""


def _secrets(dsn: str) -> list[str]:
    found = []
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        password = None
        match = re.search(r"://[^:/@]*:([^@]*)@", dsn)  # unparsable URL: find it by shape
        if match:
            found.append(match.group(1))
    for value in (password, os.environ.get("PGPASSWORD")):
        if value:
            found.extend({str(value), quote(str(value), safe="")})
    return sorted((s for s in found if s), key=len, reverse=True)


def scrub(text: str, dsn: str) -> str:
    """Remove the DSN's password (raw and URL-encoded) from any text."""
    for secret in _secrets(dsn):
        text = text.replace(secret, "****")
    return text


def redact(dsn: str) -> str:
    """A DSN fit to print: the password replaced by ****, in the form it was given."""
    if not dsn:
        return "(libpq defaults: PG* environment / service file)"
    if "://" in dsn:
        scheme, _, rest = dsn.partition("://")
        netloc, sep, tail = rest.partition("/")
        userinfo, at, hostinfo = netloc.rpartition("@")
        if at and ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":****"
        return f"{scheme}://{userinfo}{at}{hostinfo}{sep}{tail}"
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparsable connection string)"
    if "password" in params:
        params["password"] = "****"
    return make_conninfo(**{k: str(v) for k, v in params.items()})


def connect(dsn: str, *, autocommit: bool = True, cursor_factory: type | None = None) -> psycopg.Connection:
    """Open a connection; failures become ConnectionFailed with no password in the message.

    `cursor_factory=psycopg.ClientCursor` for servers that speak only the simple query protocol."""
    try:
        params = conninfo_to_dict(dsn) if dsn else {}
    except psycopg.ProgrammingError as exc:
        raise ConnectionFailed(f"invalid connection string {redact(dsn)}: {scrub(str(exc), dsn)}") from None
    params.setdefault("application_name", APPLICATION_NAME)
    params.setdefault("connect_timeout", os.environ.get("PGCONNECT_TIMEOUT", "10"))
    try:
        return psycopg.connect(
            make_conninfo(dsn, **{k: params[k] for k in ("application_name", "connect_timeout")}),
            autocommit=autocommit,
            **({"cursor_factory": cursor_factory} if cursor_factory else {}),
        )
    except psycopg.Error as exc:
        raise ConnectionFailed(f"could not connect to {redact(dsn)}: {scrub(str(exc).strip(), dsn)}") from None
