"""Name limits PostgreSQL applies to identifiers (kept apart from psycopg: the profile model uses them)."""

from __future__ import annotations

import re

NAMEDATALEN = 64


def name_bytes_problem(name: str) -> str | None:
    """PostgreSQL keeps at most NAMEDATALEN-1 = 63 bytes of a name (UTF-8), truncating silently:
    a longer declared name would never match what the server stores."""
    size = len(name.encode())
    if size < NAMEDATALEN:
        return None
    return f"{name!r} is {size} bytes; PostgreSQL keeps only the first {NAMEDATALEN - 1} bytes of a name"


_UNQUOTED = re.compile(r"^[a-z_][a-z0-9_$]*$")


def qualified_text(schema: str, name: str) -> str:
    """`schema.name` for display, quoting parts that need it (as pg's quote_ident would)."""

    def q(part: str) -> str:
        return part if _UNQUOTED.match(part) and part == part.lower() else '"' + part.replace('"', '""') + '"'

    return f"{q(schema)}.{q(name)}"


def quote_ident(name: str) -> str:
    """One identifier as SQL text that reads back as exactly it: as PostgreSQL's quote_ident(), quoted
    when it is not lower-case letters, digits and underscores, or is any keyword but an unreserved one."""
    from pglast.keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

    if (
        _UNQUOTED.match(name)
        and "$" not in name
        and name not in RESERVED_KEYWORDS | TYPE_FUNC_NAME_KEYWORDS | COL_NAME_KEYWORDS
    ):
        return name
    return '"' + name.replace('"', '""') + '"'
