"""The PgBouncer admin console: SHOW CONFIG / SHOW VERSION to read, SET and RELOAD to change.

The console speaks only the simple query protocol, so the connection uses psycopg's ClientCursor
(parameters bound client-side, one simple query per execute) in autocommit. Commands take no
parameters anyway: values are quoted here, once, PgBouncer's way (`'...'`, quotes doubled), after
the values module has checked them. The DSN's password never appears in an error.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import psycopg

from pgtune.base.errors import BouncerError, ConnectionFailed
from pgtune.integrations.postgres import connect, remember, scrub

DSN_ENV = "PGTUNE_PGBOUNCER_DSN"


@dataclass(frozen=True)
class ConfigRow:
    value: str | None
    default: str | None
    changeable: bool


def resolve_dsn(profile_dsn: str | None) -> str | None:
    """$PGTUNE_PGBOUNCER_DSN, else the profile's admin_dsn: the environment lets a deploy inject
    credentials or another host without editing the reviewed profile."""
    dsn = os.environ.get(DSN_ENV) or profile_dsn
    if dsn:
        remember(dsn)
    return dsn


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def set_command(key: str, value: str) -> str:
    return f"SET {key} = {quote(value)}"


class Console:
    """An open admin-console session."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        try:
            self.conn = connect(dsn, cursor_factory=psycopg.ClientCursor)
        except ConnectionFailed as exc:
            raise ConnectionFailed(f"PgBouncer admin console: {exc}") from None

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def execute(self, command: str) -> list[tuple[Any, ...]]:
        """Run one console command; errors keep PgBouncer's message, without the password."""
        try:
            cur = self.conn.execute(command)
            return cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            message = scrub(str(exc).strip(), self.dsn)
            raise BouncerError(f"PgBouncer refused {command.split(' ', 2)[:2]!r}: {message}") from None

    def config(self) -> dict[str, ConfigRow]:
        rows = self.execute("SHOW CONFIG")
        out = {}
        for row in rows:
            key, value, default = row[0], row[1], row[2] if len(row) > 3 else None
            changeable = (row[3] if len(row) > 3 else row[-1]) == "yes"
            out[key] = ConfigRow(value, default, changeable)
        return out

    def version(self) -> tuple[str, tuple[int, ...]]:
        rows = self.execute("SHOW VERSION")
        text = str(rows[0][0]) if rows else ""
        m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
        numbers = tuple(int(g or 0) for g in m.groups()) if m else (0, 0, 0)
        return text.strip(), numbers
