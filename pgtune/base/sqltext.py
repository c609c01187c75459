"""PostgreSQL's own parser (pglast) on text pgtune did not write — a workload's statements: one
statement or nothing, and what the parser refuses (or recurses too deep on) is not read."""

from __future__ import annotations

from typing import Any


def one_statement(text: str, limit: int) -> Any | None:
    """The parse tree of the one statement `text` holds; None when it is longer than `limit`, not
    SQL the parser takes, or several statements."""
    if len(text) > limit:
        return None
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        statements = parse_sql(text)
    except (ParseError, RecursionError):
        return None
    return statements[0].stmt if len(statements) == 1 else None
