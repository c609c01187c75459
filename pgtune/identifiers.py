"""The one place identifiers become SQL: always `psycopg.sql.Identifier`, never string pasting."""

from __future__ import annotations

from psycopg import sql


def setting_name(name: str) -> sql.Composable:
    """A GUC name for SET/RESET; dotted custom names (`pg_stat_statements.max`) keep their dots."""
    return sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))


def identifier(*parts: str) -> sql.Identifier:
    return sql.Identifier(*parts)
