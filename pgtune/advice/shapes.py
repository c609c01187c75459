"""What a normalised query asks of each table it reads: the columns it tests for equality, ranges,
joins and sorts on, and those an UPDATE writes (an index on them costs the table its HOT updates).

Queries come from pg_stat_statements — text a server answered, so untrusted: each is parsed with
pglast (libpg_query, PostgreSQL's own parser) and kept only when it is exactly one SELECT, UPDATE
or DELETE; what pgtune later EXPLAINs is the statement printed afresh from that tree, never the
text as it came.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pgtune.advice.trust import Names, collect

MAX_QUERY_CHARS = 100_000
"""Longer statements are skipped, not parsed (pg_stat_statements keeps up to track_activity_query_size)."""


@dataclass
class Usage:
    """How one query uses one table (columns by name, in the order the query names them)."""

    equality: list[str] = field(default_factory=list)  # col = $1, col IN (...), col = ANY($1), col IS NULL, joins
    ranges: list[str] = field(default_factory=list)  # col < $1, BETWEEN
    order: list[str] = field(default_factory=list)  # ORDER BY col
    written: list[str] = field(default_factory=list)  # UPDATE ... SET col

    def _add(self, bucket: list[str], column: str) -> None:
        if column not in bucket:
            bucket.append(column)

    @property
    def filters(self) -> bool:
        return bool(self.equality or self.ranges or self.order)


@dataclass
class Shape:
    """One statement's shape: the SQL pgtune prints afresh, and its use of each table."""

    sql: str  # printed from the parse tree by pglast: one statement, $n parameters kept
    command: str  # select | update | delete | insert (not costed: its rows are the table's writes)
    params: int  # the highest $n
    tables: dict[tuple[str | None, str], Usage]  # (schema or None: search_path, table) -> usage
    names: Names = field(default_factory=Names)  # every function, operator, type and relation it names
    written: tuple[str, ...] = ()  # UPDATE ... SET these columns
    repaired: bool = False  # the text as pg_stat_statements kept it did not parse; a repaired form did
    types: tuple[tuple[int, str], ...] = ()  # parameter -> the type it must be declared with
    numeric: tuple[int, ...] = ()  # parameters whose type only arithmetic tells: numeric, on a retry


class _Scope:
    """FROM items of one query level: alias or name -> (schema, table)."""

    def __init__(self) -> None:
        self.names: dict[str, tuple[str | None, str]] = {}
        self.order: list[tuple[str | None, str]] = []

    def add(self, schema: str | None, table: str, alias: str | None) -> None:
        key = (schema, table)
        self.names[alias or table] = key
        if key not in self.order:
            self.order.append(key)


_EXTRACT_FIELD = re.compile(r"\b(extract)\s*\(\s*\$(\d+)\s+from\b", re.IGNORECASE)
"""extract(year FROM d) is normalised to extract($1 FROM d), which the server's parser refuses: the
field does not change the plan, so `epoch` stands in (and $1, now unused, is declared text)."""
_REPAIRS = (
    (_EXTRACT_FIELD, r"\1(epoch FROM"),
    # A typed literal (date '1998-12-01', interval '90' day) becomes `date $1`, `interval $2 day`.
    (
        re.compile(
            r"\b(date|time|timestamp|timestamptz|interval)\s+(\$\d+)"
            r"(?:\s+(?:year|month|day|hour|minute|second)\b(?:\s*\(\s*\d+\s*\))?)?",
            re.IGNORECASE,
        ),
        r"(\2)::\1",
    ),
)


def _one(text: str) -> tuple[Any, bool] | None:
    """The one statement `text` holds (the parse tree), and whether it had to be repaired."""
    if len(text) > MAX_QUERY_CHARS:
        return None
    from pglast import parse_sql
    from pglast.parser import ParseError

    candidates = [text]
    repaired = text
    for pattern, replacement in _REPAIRS:
        repaired = pattern.sub(replacement, repaired)
    if repaired != text:
        candidates.append(repaired)
    for i, candidate in enumerate(candidates):
        try:
            statements = parse_sql(candidate)
        except (ParseError, RecursionError):
            continue
        return (statements[0].stmt, i > 0) if len(statements) == 1 else None
    return None


def read(text: str) -> Shape | None:
    """One SELECT (joins, subqueries, set operations, CTEs and all), INSERT, UPDATE or DELETE that
    names a relation, printed afresh from its parse tree; None for anything else. Which table each
    column belongs to is left to the planner (pgtune.advice.resolved): this reads only what a
    statement is, what it names, and which columns an UPDATE writes."""
    from pglast import ast
    from pglast.stream import RawStream

    found = _one(text)
    if found is None:
        return None
    stmt, repaired = found
    commands = {ast.SelectStmt: "select", ast.InsertStmt: "insert", ast.UpdateStmt: "update", ast.DeleteStmt: "delete"}
    command = next((c for kind, c in commands.items() if isinstance(stmt, kind)), None)
    names = collect(stmt)
    if command is None or not names.relations:
        return None
    written = tuple(str(t.name) for t in stmt.targetList or () if t.name) if command == "update" else ()
    try:
        printed = RawStream()(stmt)
    except Exception:  # a tree pglast cannot print back is a statement pgtune does not plan
        return None
    fields = tuple((int(m.group(2)), "text") for m in _EXTRACT_FIELD.finditer(printed))
    if fields:
        printed = _EXTRACT_FIELD.sub(r"\1(epoch FROM", printed)
        repaired = True
    return Shape(printed, command, _highest_param(stmt), {}, names, written, repaired, fields, _arithmetic_params(stmt))


def _arithmetic_params(stmt: Any) -> tuple[int, ...]:
    """Parameters the server cannot type from their context alone: operands of + - * / and results of
    CASE (`$1 + $2`, `sum(CASE WHEN ... THEN $3 ELSE $4 END)`)."""
    from pglast import ast
    from pglast.visitors import Visitor

    found: set[int] = set()

    def param(node: Any) -> None:
        while isinstance(node, ast.TypeCast) and node.typeName is None:
            node = node.arg
        if isinstance(node, ast.ParamRef) and node.number:
            found.add(int(node.number))

    class Walk(Visitor):
        def visit_A_Expr(self, ancestors: Any, node: ast.A_Expr) -> None:
            if node.name and getattr(node.name[-1], "sval", "") in ("+", "-", "*", "/"):
                param(node.lexpr)
                param(node.rexpr)

        def visit_CaseExpr(self, ancestors: Any, node: ast.CaseExpr) -> None:
            for when in node.args or ():
                param(when.result)
            param(node.defresult)

    Walk()(stmt)
    return tuple(sorted(found))


def parse(text: str) -> Shape | None:
    """The shape of one statement, or None when it is not one SELECT/UPDATE/DELETE pgtune can read."""
    from pglast import ast
    from pglast.stream import RawStream

    from pgtune.base.sqltext import one_statement

    stmt = one_statement(text, MAX_QUERY_CHARS)
    if stmt is None:
        return None
    tables: dict[tuple[str | None, str], Usage] = {}
    scope = _Scope()
    if isinstance(stmt, ast.SelectStmt):
        if stmt.op != 0 or not stmt.fromClause:  # a UNION and the like, or no table: nothing to index
            return None
        command = "select"
        for item in stmt.fromClause:
            _from(item, scope, tables)
        _where(stmt.whereClause, scope, tables)
        for sort in stmt.sortClause or ():
            column = _column(getattr(sort, "node", None), scope)
            if column:
                tables.setdefault(column[0], Usage())._add(tables[column[0]].order, column[1])
    elif isinstance(stmt, ast.UpdateStmt | ast.DeleteStmt):
        command = "update" if isinstance(stmt, ast.UpdateStmt) else "delete"
        target = _relation(stmt.relation)
        if target is None:
            return None
        alias = stmt.relation.alias.aliasname if stmt.relation and stmt.relation.alias else None
        scope.add(target[0], target[1], alias)
        usage = tables.setdefault(target, Usage())
        for item in getattr(stmt, "fromClause", None) or getattr(stmt, "usingClause", None) or ():
            _from(item, scope, tables)
        _where(stmt.whereClause, scope, tables)
        if isinstance(stmt, ast.UpdateStmt):
            for item in stmt.targetList or ():
                if item.name:
                    usage._add(usage.written, item.name)
    elif isinstance(stmt, ast.InsertStmt):
        command = "insert"
        target = _relation(stmt.relation)
        if target is None:
            return None
        tables[target] = Usage()
    else:
        return None
    try:
        sql = RawStream()(stmt)
    except Exception:  # a tree pglast cannot print back is a query pgtune does not cost
        return None
    return Shape(sql, command, _highest_param(stmt), tables, collect(stmt))


def _relation(node: Any) -> tuple[str | None, str] | None:
    """(schema or None, name) of a RangeVar."""
    name = getattr(node, "relname", None)
    schema = getattr(node, "schemaname", None)
    return (str(schema) if schema else None, str(name)) if name else None


def _from(item: Any, scope: _Scope, tables: dict[tuple[str | None, str], Usage]) -> None:
    from pglast import ast

    if isinstance(item, ast.RangeVar):
        target = _relation(item)
        if target is None:
            return
        scope.add(target[0], target[1], item.alias.aliasname if item.alias else None)
        tables.setdefault(target, Usage())
    elif isinstance(item, ast.JoinExpr):
        _from(item.larg, scope, tables)
        _from(item.rarg, scope, tables)
        _where(item.quals, scope, tables)


def _column(node: Any, scope: _Scope) -> tuple[tuple[str | None, str], str] | None:
    """(table, column) a column reference names, when it can be told."""
    from pglast import ast

    if isinstance(node, ast.TypeCast):
        node = node.arg
    if not isinstance(node, ast.ColumnRef):
        return None
    parts = [getattr(f, "sval", None) for f in node.fields or ()]
    if any(p is None for p in parts):
        return None
    if len(parts) == 1:
        if len(scope.order) != 1:
            return None  # unqualified in a join: which table it belongs to is the catalog's to say
        return scope.order[0], str(parts[0])
    owner = scope.names.get(str(parts[-2]))
    return (owner, str(parts[-1])) if owner else None


def _is_value(node: Any) -> bool:
    from pglast import ast

    if isinstance(node, tuple | list):  # col IN ($1, $2)
        return bool(node) and all(_is_value(n) for n in node)
    if isinstance(node, ast.TypeCast):
        node = node.arg
    return isinstance(node, ast.ParamRef | ast.A_Const | ast.A_ArrayExpr | ast.FuncCall)


def _where(node: Any, scope: _Scope, tables: dict[tuple[str | None, str], Usage]) -> None:
    from pglast import ast
    from pglast.enums import A_Expr_Kind, BoolExprType, NullTestType

    if node is None:
        return
    if isinstance(node, ast.BoolExpr):
        if node.boolop == BoolExprType.AND_EXPR:
            for arg in node.args or ():
                _where(arg, scope, tables)
        return  # OR and NOT: an index on one branch rarely serves the whole
    if isinstance(node, ast.NullTest):
        column = _column(node.arg, scope)
        if column and node.nulltesttype == NullTestType.IS_NULL:
            _use(tables, column, "equality")
        return
    if not isinstance(node, ast.A_Expr):
        return
    op = node.name[-1].sval if node.name else ""
    left, right = _column(node.lexpr, scope), _column(node.rexpr, scope)
    if node.kind in (A_Expr_Kind.AEXPR_OP, A_Expr_Kind.AEXPR_OP_ANY, A_Expr_Kind.AEXPR_IN):
        if op == "=" and left and right:  # a join: each side may be looked up by the other
            _use(tables, left, "equality")
            _use(tables, right, "equality")
            return
        column = left if left and _is_value(node.rexpr) else right if right and _is_value(node.lexpr) else None
        if column is None:
            return
        if op == "=":
            _use(tables, column, "equality")
        elif op in ("<", ">", "<=", ">="):
            _use(tables, column, "ranges")
    elif node.kind == A_Expr_Kind.AEXPR_BETWEEN and left:
        _use(tables, left, "ranges")


def _use(tables: dict[tuple[str | None, str], Usage], column: tuple[tuple[str | None, str], str], bucket: str) -> None:
    usage = tables.setdefault(column[0], Usage())
    usage._add(getattr(usage, bucket), column[1])


def _highest_param(stmt: Any) -> int:
    from pglast import ast
    from pglast.visitors import Visitor

    class Params(Visitor):
        highest = 0

        def visit_ParamRef(self, ancestors: Any, node: ast.ParamRef) -> None:
            self.highest = max(self.highest, node.number or 0)

    visitor = Params()
    visitor(stmt)
    return visitor.highest
