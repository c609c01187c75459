"""The one place identifiers become SQL: always `psycopg.sql.Identifier`, never string pasting."""

from __future__ import annotations

import re

from psycopg import sql

from pgtune.base.names import name_bytes_problem as name_bytes_problem
from pgtune.base.names import qualified_text as qualified_text


def setting_name(name: str) -> sql.Composable:
    """A GUC name for SET/RESET; dotted custom names (`pg_stat_statements.max`) keep their dots."""
    return sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))


def quoted(*parts: str) -> str:
    """A name as SQL text for a message that shows the statement to run (a GRANT that fixes a refusal)."""
    return sql.Identifier(*parts).as_string(None)


def identifier(*parts: str) -> sql.Identifier:
    return sql.Identifier(*parts)


class InvalidName(ValueError):
    """A table name pgtune will not interpret; the message says what is allowed."""


_UNQUOTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_PLAIN = re.compile(r"([A-Za-z_][A-Za-z0-9_$]{0,62})(?:\.([A-Za-z_][A-Za-z0-9_$]{0,62}))?")
"""`schema.table` or `table` in plain ASCII words that fit in a name: the common case, read without the loop."""


def parse_qualified(text: str) -> tuple[str | None, str]:
    """`schema.table` (or a bare `table`) with SQL's rules: unquoted parts fold to lower case,
    "double-quoted" parts are kept exactly ("" escapes a quote)."""
    plain = _PLAIN.fullmatch(text)
    if plain is not None:
        first, second = plain.groups()
        return (first.lower(), second.lower()) if second is not None else (None, first.lower())
    return _parsed(text)


def _parsed(text: str) -> tuple[str | None, str]:
    """parse_qualified for any text: quoted parts, and the errors."""
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == '"':
            j, buf = i + 1, []
            while j < n and not (text[j] == '"' and text[j + 1 : j + 2] != '"'):
                buf.append(text[j])
                j += 2 if text[j] == '"' else 1
            if j >= n:
                raise InvalidName(f"unterminated quoted name in {text!r}")
            parts.append("".join(buf))
            i = j + 1
        else:
            j = text.find(".", i)
            j = n if j < 0 else j
            word = text[i:j]
            if not _UNQUOTED.match(word):
                raise InvalidName(
                    f"invalid table name {text!r}: write schema.table with letters, digits and _ "
                    '(double-quote other names: "My Schema".table)'
                )
            parts.append(word.lower())
            i = j
        if i >= n:
            break
        if text[i] != ".":
            raise InvalidName(f"invalid table name {text!r}")
        i += 1
    if len(parts) > 2 or not all(parts):
        raise InvalidName(f"invalid table name {text!r}: expected schema.table or table")
    for part in parts:
        problem = name_bytes_problem(part)
        if problem:
            raise InvalidName(f"invalid table name {text!r}: {problem}")
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
