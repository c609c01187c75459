"""Secrets pgtune has seen in this process, kept out of everything it prints or writes.

Light on purpose (no psycopg): every line the CLI prints passes through `scrub_known`, including
`pgtune version`. DSN passwords are found here with a small parser of libpq's two forms (URI and
key=value); `connection.py` adds what psycopg's parser and libpq (.pgpass, service files) find.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit

MIN_SECRET = 4
"""Shorter secrets are not scrubbed from every output (a 1-3 character password would mangle all
text); connection errors still scrub them, and such a password is no secret anyway."""
SECRET_ENVIRONMENT = ("PGTUNE_DSN", "DATABASE_URL", "PGTUNE_PGBOUNCER_DSN")

_KNOWN: set[str] = set()
_KEYVALUE = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'?|\S+)")


def passwords_in(dsn: str) -> list[str]:
    """The password(s) a connection string carries, in any form libpq reads (and by shape when it
    does not parse), with their URL-encoded spellings."""
    found: list[str] = []
    if "://" in dsn:
        try:
            parts = urlsplit(dsn)
            if parts.password:
                found += [parts.password, unquote(parts.password)]
            found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() == "password"]
        except ValueError:
            pass
        found += re.findall(r"://[^:/@]*:([^@]*)@", dsn) + re.findall(r"[?&]password=([^&#]*)", dsn, flags=re.I)
    for raw in _KEYVALUE.findall(dsn):
        if raw.startswith("'"):
            raw = re.sub(r"\\(.)", r"\1", raw.strip("'"))
        found.append(raw)
    out: set[str] = set()
    for value in found:
        if value:
            out |= {value, quote(value, safe=""), quote(value)}
    return sorted(out, key=len, reverse=True)


def remember_secret(*values: str | None) -> None:
    for value in values:
        if value and len(value) >= MIN_SECRET:
            _KNOWN.update({value, quote(value, safe=""), quote(value)})


def remember_dsn(dsn: str) -> None:
    remember_secret(*passwords_in(dsn))


def remember_environment() -> None:
    """Secrets the environment holds (connection strings, PGPASSWORD), known before anything runs."""
    for name in SECRET_ENVIRONMENT:
        remember_dsn(os.environ.get(name, ""))
    remember_secret(os.environ.get("PGPASSWORD"))


def scrub_known(text: str) -> str:
    """Every secret pgtune has seen in this process (DSNs, PGPASSWORD, .pgpass, service files,
    PgBouncer admin DSNs) replaced by ****: applied to all output and every file pgtune writes."""
    if not _KNOWN:
        return text
    for secret in sorted(_KNOWN, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "****")
    return text
