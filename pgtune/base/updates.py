"""Which columns a statement's UPDATEs write, read with PostgreSQL's own parser (pglast): the
top-level UPDATE, a data-modifying CTE's, INSERT's `ON CONFLICT DO UPDATE` and MERGE's `WHEN MATCHED
THEN UPDATE`. A check weighs a
foreign key on whether its referenced key is ever re-keyed, and an UPDATE that leaves the key alone
costs the referencing table nothing. Statement texts are the workload's (untrusted): bounded in
length, and what the parser refuses is not read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgtune.base.sqltext import one_statement

MAX_TEXT = 100_000
"""Characters of a statement read; a longer one is not read (pg_stat_statements keeps up to
track_activity_query_size bytes anyway)."""


@dataclass(frozen=True)
class Update:
    schema: str | None  # None: unqualified (resolved through the search_path)
    table: str
    columns: frozenset[str]


def updates_in(text: str) -> list[Update] | None:
    """Every UPDATE the statement makes; None when the text cannot be read (too long, not SQL
    PostgreSQL's parser takes, several statements)."""
    if len(text) > MAX_TEXT or "update" not in text.lower():
        return [] if len(text) <= MAX_TEXT else None
    from pglast import ast
    from pglast.enums import CmdType
    from pglast.visitors import Visitor

    stmt = one_statement(text, MAX_TEXT)
    if stmt is None:
        return None
    found: list[Update] = []

    def columns(targets: Any) -> frozenset[str]:
        return frozenset(str(t.name) for t in targets or () if getattr(t, "name", None))

    def relation(node: Any) -> tuple[str | None, str] | None:
        rv = getattr(node, "relation", None)
        if rv is None or not getattr(rv, "relname", None):
            return None
        return (str(rv.schemaname) if rv.schemaname else None, str(rv.relname))

    class Walk(Visitor):
        def visit_UpdateStmt(self, ancestors: Any, node: ast.UpdateStmt) -> None:
            target = relation(node)
            if target is not None:
                found.append(Update(*target, columns(node.targetList)))

        def visit_InsertStmt(self, ancestors: Any, node: ast.InsertStmt) -> None:
            target, clause = relation(node), node.onConflictClause
            if target is not None and clause is not None and clause.targetList:  # ON CONFLICT DO UPDATE
                found.append(Update(*target, columns(clause.targetList)))

        def visit_MergeStmt(self, ancestors: Any, node: ast.MergeStmt) -> None:
            target = relation(node)
            for clause in node.mergeWhenClauses or ():
                if target is not None and getattr(clause, "commandType", None) == CmdType.CMD_UPDATE:
                    found.append(Update(*target, columns(clause.targetList)))

    try:
        Walk()(stmt)
    except RecursionError:
        return None
    return found
