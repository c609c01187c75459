"""What a statement asks of each table, as the planner resolved it.

pgtune does not re-implement SQL's scoping (unqualified columns among several tables, subqueries,
CTEs, views, LATERAL, UNION, partitions): the planner has resolved every column of every query, and
`EXPLAIN (VERBOSE, FORMAT JSON)` of the generic plan says so — each scan node names its relation,
schema and alias, and every expression is printed with alias-qualified columns. This module reads
that plan: the quals of every node (Filter, Index Cond, Recheck Cond, Join Filter, Hash Cond, Merge
Cond — in SubPlans and InitPlans too), its Sort Key and Group Key, and each scan's Output; each
expression is parsed with pglast and split into conjuncts, and a column compared with something that
does not depend on its own row (a parameter, a constant, another relation's column, a subquery) is an
equality or a range the table's index could serve. Views dissolve into their tables; a partition's
usage is its root's (the index goes on the partitioned parent).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

QUALS = ("Index Cond", "Recheck Cond", "Filter", "Join Filter", "Hash Cond", "Merge Cond", "TID Cond")
_SUBPLAN = re.compile(r"\((?:hashed )?(?:SubPlan|InitPlan) [^()]*\)(?:\.col\d+)?")
_ORDER_WORDS = re.compile(r"\s+(?:DESC|ASC|NULLS\s+FIRST|NULLS\s+LAST|USING\s+\S+)\b.*$", re.IGNORECASE)
_EQ = frozenset({"="})
_RANGE = frozenset({"<", ">", "<=", ">="})
MAX_EXPRESSION = 20_000
"""Characters of one printed expression pgtune parses (a plan's text is the server's, so bounded)."""


@dataclass
class Usage:
    """How one statement uses one table: columns by name, in the order the plan shows them."""

    equality: list[str] = field(default_factory=list)  # col = x, col = ANY(x), col IS NULL, join keys
    ranges: list[str] = field(default_factory=list)  # col < x, BETWEEN (as >= and <=)
    order: list[str] = field(default_factory=list)  # a sort or grouping on the table's columns
    outputs: list[str] = field(default_factory=list)  # what the scans of it return (index-only scans)
    written: list[str] = field(default_factory=list)  # UPDATE ... SET col
    scans: int = 0  # scan nodes of the table in the plan

    def add(self, bucket: str, column: str) -> None:
        values: list[str] = getattr(self, bucket)
        if column not in values:
            values.append(column)

    @property
    def filters(self) -> bool:
        return bool(self.equality or self.ranges or self.order)


Table = tuple[str, str]  # (schema, name) as the plan names a scanned relation


def _nodes(plan: Any) -> Iterator[dict[str, Any]]:
    stack = [plan]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(reversed(node.get("Plans") or []))


def relations(plan: Any) -> dict[str, Table]:
    """alias -> (schema, relation) of every scan in the plan (VERBOSE makes aliases unique)."""
    out: dict[str, Table] = {}
    for node in _nodes(plan):
        name, schema = node.get("Relation Name"), node.get("Schema")
        if isinstance(name, str) and isinstance(schema, str):
            alias = node.get("Alias") if isinstance(node.get("Alias"), str) else name
            out[str(alias)] = (schema, name)
    return out


def usages(plan: Any) -> dict[Table, Usage]:
    """Per scanned relation: the columns this plan tests, joins, sorts and returns."""
    aliases = relations(plan)
    found: dict[Table, Usage] = {table: Usage() for table in aliases.values()}
    for node in _nodes(plan):
        alias = node.get("Alias") if isinstance(node.get("Relation Name"), str) else None
        if isinstance(alias, str) and alias in aliases:
            usage = found[aliases[alias]]
            usage.scans += 1
            for text in node.get("Output") or ():
                for owner, column in _columns(str(text)):
                    if owner == alias:
                        usage.add("outputs", column)
        for key in QUALS:
            if isinstance(node.get(key), str):
                for table, bucket, column in _conditions(node[key], aliases):
                    found[table].add(bucket, column)
        for key in ("Sort Key", "Group Key", "Presorted Key"):
            for item in node.get(key) or ():
                ref = _column_text(_ORDER_WORDS.sub("", str(item)))
                if ref is not None and ref[0] in aliases:
                    found[aliases[ref[0]]].add("order", ref[1])
    return found


def _parse(expression: str) -> Any:
    """The expression's tree (pglast), subplan references replaced by NULL; None when unreadable."""
    if len(expression) > MAX_EXPRESSION:
        return None
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        (stmt,) = parse_sql("SELECT " + _SUBPLAN.sub("NULL", expression))
        return stmt.stmt.targetList[0].val  # type: ignore[union-attr]
    except (ParseError, RecursionError, ValueError, IndexError, AttributeError):
        return None


def _column_text(text: str) -> tuple[str, str] | None:
    return _column(_parse(text))


def _column(node: Any) -> tuple[str, str] | None:
    """(alias, column) of a column reference, through casts."""
    from pglast import ast

    while isinstance(node, ast.TypeCast | ast.CollateClause):
        node = node.arg
    if not isinstance(node, ast.ColumnRef):
        return None
    parts = [getattr(f, "sval", None) for f in node.fields or ()]
    if len(parts) < 2 or any(p is None for p in parts):
        return None
    return str(parts[-2]), str(parts[-1])


def _columns(text: str) -> Iterator[tuple[str, str]]:
    """Every (alias, column) an expression reads."""
    tree = _parse(text)
    if tree is None:
        return
    from pglast import ast
    from pglast.visitors import Visitor

    seen: list[tuple[str, str]] = []

    class Refs(Visitor):
        def visit_ColumnRef(self, ancestors: Any, node: ast.ColumnRef) -> None:
            ref = _column(node)
            if ref is not None and ref not in seen:
                seen.append(ref)

    Refs()(tree)
    yield from seen


def _conjuncts(node: Any) -> Iterator[Any]:
    from pglast import ast
    from pglast.enums import BoolExprType

    if isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.AND_EXPR:
        for arg in node.args or ():
            yield from _conjuncts(arg)
    elif node is not None:
        yield node


def _owners(node: Any) -> set[str]:
    """The aliases whose columns an expression reads."""
    from pglast import ast
    from pglast.visitors import Visitor

    owners: set[str] = set()

    class Refs(Visitor):
        def visit_ColumnRef(self, ancestors: Any, ref: ast.ColumnRef) -> None:
            col = _column(ref)
            if col is not None:
                owners.add(col[0])

    if isinstance(node, tuple | list):
        for item in node:
            owners |= _owners(item)
    elif node is not None:
        Refs()(node)
    return owners


def _conditions(expression: str, aliases: dict[str, Table]) -> Iterator[tuple[Table, str, str]]:
    """(table, equality | ranges, column) for each conjunct a btree on that column could serve."""
    from pglast import ast
    from pglast.enums import A_Expr_Kind, NullTestType

    for part in _conjuncts(_parse(expression)):
        if isinstance(part, ast.NullTest):
            ref = _column(part.arg)
            if ref is not None and ref[0] in aliases and part.nulltesttype == NullTestType.IS_NULL:
                yield aliases[ref[0]], "equality", ref[1]
            continue
        if not isinstance(part, ast.A_Expr) or not part.name:
            continue
        op = getattr(part.name[-1], "sval", "")
        kind = part.kind
        if kind == A_Expr_Kind.AEXPR_OP_ANY and op == "=":
            ref = _column(part.lexpr)
            if ref is not None and ref[0] in aliases and ref[0] not in _owners(part.rexpr):
                yield aliases[ref[0]], "equality", ref[1]
            continue
        if kind != A_Expr_Kind.AEXPR_OP or op not in _EQ | _RANGE:
            continue
        for side, other in ((part.lexpr, part.rexpr), (part.rexpr, part.lexpr)):
            ref = _column(side)
            if ref is None or ref[0] not in aliases or ref[0] in _owners(other):
                continue  # not a column, or compared with its own row (a filter no index can seek)
            yield aliases[ref[0]], "equality" if op in _EQ else "ranges", ref[1]


def written(plan: Any) -> Table | None:
    """The table a plan inserts into, updates or deletes from (its ModifyTable node)."""
    for node in _nodes(plan):
        if node.get("Node Type") == "ModifyTable" and isinstance(node.get("Relation Name"), str):
            schema = node.get("Schema")
            return (str(schema), str(node["Relation Name"])) if isinstance(schema, str) else None
    return None


def merged(a: Usage | None, b: Usage) -> Usage:
    """Two usages of one table (a partitioned table's partitions) as one."""
    if a is None:
        return b
    out = Usage()
    for bucket in ("equality", "ranges", "order", "outputs", "written"):
        for column in [*getattr(a, bucket), *getattr(b, bucket)]:
            out.add(bucket, column)
    out.scans = a.scans + b.scans
    return out
