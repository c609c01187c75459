"""Secrets pgtune has seen in this process, kept out of everything it prints or writes.

Masked where they are secrets, never as a substring of names: a password is found by its place in
a connection string — a URI's userinfo, `password=` in key=value form or a URI query — wherever a
DSN is quoted (`mask_connection_strings`). A known secret is also masked wherever else it appears,
but only when it is *distinctive* (8 characters or more, and not a plain word): a password that is
also a name (`letta`, Letta's default, or `postgres`) would otherwise eat the schema in every SQL
statement, the profile's path, object names — and the plan a reviewer reads would no longer say what
it changes. Connection errors are the one exception (`connection.scrub_connection_error`): text
about a connection may quote its string, so there this DSN's password is masked whatever it is.

Light on purpose (no psycopg): every line the CLI prints passes through `scrub_known`, including
`pgtune version`. DSN passwords are found here with a small parser of libpq's two forms (URI and
key=value); `connection.py` adds what psycopg's parser and libpq (.pgpass, service files) find.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit

MIN_SECRET = 4
"""Shorter secrets are not remembered at all (a 1-3 character password is no secret); connection
errors still mask them, and connection strings always."""
DISTINCTIVE = 8
"""A secret this long that is not a plain word is masked wherever it appears, not only in DSNs."""
_PLAIN_WORD = re.compile(r"[A-Za-z_]+")
SECRET_ENVIRONMENT = ("PGTUNE_DSN", "DATABASE_URL", "PGTUNE_PGBOUNCER_DSN")

_KNOWN: set[str] = set()
_MASKED: list[str] = []
"""The distinctive ones among _KNOWN, longest first: kept as secrets are remembered, not worked out
again for every line printed."""
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
    _MASKED[:] = sorted((s for s in _KNOWN if distinctive(s)), key=len, reverse=True)


def remember_dsn(dsn: str) -> None:
    remember_secret(*passwords_in(dsn))


def remember_environment() -> None:
    """Secrets the environment holds (connection strings, PGPASSWORD), known before anything runs."""
    for name in SECRET_ENVIRONMENT:
        remember_dsn(os.environ.get(name, ""))
    remember_secret(os.environ.get("PGPASSWORD"))


_URI_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@?#]*:)([^\s@]*)(@)")
_PASSWORD_PAIR = re.compile(r"(?i)((?:^|(?<=[\s?&;,(\"]))password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&#'\"]+)")


def mask_connection_strings(text: str) -> str:
    """Every password in a connection string the text quotes, by its place: `scheme://user:****@`,
    `password=****` (key=value, and a URI's `?password=` / `&password=`)."""
    if "://" in text:
        text = _URI_USERINFO.sub(lambda m: m.group(1) + "****" + m.group(3), text)
    if "assword" in text or "ASSWORD" in text:
        text = _PASSWORD_PAIR.sub(lambda m: m.group(1) + "****", text)
    return text


def distinctive(secret: str) -> bool:
    """A secret that cannot be mistaken for a name: long enough, and not a plain word."""
    return len(secret) >= DISTINCTIVE and not _PLAIN_WORD.fullmatch(secret)


def mask_values(text: str, secrets: set[str] | list[str]) -> str:
    """Each of these secrets replaced by **** wherever it appears, longest first."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, "****")
    return text


def scrub_known(text: str) -> str:
    """Connection strings' passwords masked, and every distinctive secret pgtune has seen in this
    process (DSNs, PGPASSWORD, .pgpass, service files, PgBouncer admin DSNs, AWS keys) wherever it
    appears: applied to all output and every file pgtune writes. Names print exactly."""
    text = mask_connection_strings(text)
    for secret in _MASKED:
        if secret in text:
            text = text.replace(secret, "****")
    return text
