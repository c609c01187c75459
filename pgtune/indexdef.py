"""Index definitions in one canonical form, so "equal" means "the same index to PostgreSQL".

Both sides go through the same parser (pglast, PostgreSQL's own grammar): the definition a
profile declares and the live `pg_get_indexdef()` text. The parse trees are reduced to a
hashable form that drops what never matters — source positions, parentheses, quoting, the
implicit `btree`/`ASC`/`NULLS LAST`, `pg_catalog.` qualification, how a WITH value was spelled —
and keeps everything that does: column order, expressions, opclasses, collations, INCLUDE,
the predicate, WITH, uniqueness, NULLS NOT DISTINCT, the access method.

What the parse cannot know (the server adds casts and folds constants: `status = 'x'` is stored
as `((status)::text = 'x'::text)`) is settled by the index kind's probe, which asks the server
to canonicalise the desired definition; see `kinds/indexes.py`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Any

from pglast import ast, parse_sql
from pglast.parser import ParseError
from pglast.stream import RawStream

from pgtune.profile.model import IndexSpec

Canon = tuple[Any, ...]

_BOOL_WORDS = {"on": "true", "true": "true", "yes": "true", "off": "false", "false": "false", "no": "false"}
_POSITION_SUFFIXES = ("location", "_start", "_end")  # byte offsets: list_start, rexpr_list_end ...
_QUALIFIED_NAME_FIELDS = frozenset({"funcname", "names", "name", "opclass", "collname"})


class IndexDefinitionError(ValueError):
    """The declared definition does not parse as one index (message says which part)."""


@dataclass(frozen=True)
class ParsedIndex:
    """A parsed index definition: its canonical form plus the SQL pieces to build it."""

    canon: Canon
    unique: bool
    method: str
    include: tuple[str, ...]  # column names
    options: tuple[tuple[str, str], ...]  # WITH, canonical values
    nulls_not_distinct: bool
    column_names: frozenset[str]  # every column referenced (elements, expressions, include, predicate)
    source: str = field(compare=False, hash=False, repr=False)  # the statement text it was parsed from

    # Deparsing is the expensive part of a parse and only the SQL that runs (and inspect) needs it:
    # computed on first use from a fresh parse of `source`, so comparing thousands of unchanged
    # indexes never pays for it, and no parse tree is kept alive per index (memory at scale).
    @cached_property
    def elements_sql(self) -> tuple[str, ...]:
        """Each key element, deparsed by pglast."""
        return tuple(RawStream()(e) for e in parse_statement(self.source).indexParams)

    @cached_property
    def where_sql(self) -> str | None:
        where = parse_statement(self.source).whereClause
        return RawStream()(where) if where is not None else None


def _strip_catalog(names: tuple[Any, ...]) -> tuple[Any, ...]:
    return names[1:] if len(names) > 1 and names[0] == "pg_catalog" else names


def _canon(node: Any, field: str = "") -> Any:
    """A hashable, position-free form of any pglast node."""
    if isinstance(node, ast.String):
        return node.sval
    if isinstance(node, ast.Node):
        items = []
        for name in node.__slots__:  # type: ignore[attr-defined]
            if name.endswith(_POSITION_SUFFIXES):
                continue
            value = getattr(node, name, None)
            if value is None:
                continue
            items.append((name, _canon(value, name)))
        return (type(node).__name__, tuple(items))
    if isinstance(node, tuple | list):
        out = tuple(_canon(v) for v in node)
        return _strip_catalog(out) if field in _QUALIFIED_NAME_FIELDS else out
    if isinstance(node, enum.Enum):
        return node.name
    return node


def _option_value(arg: Any) -> str:
    """WITH values as the server stores them: text, booleans spelled one way."""
    if isinstance(arg, ast.String):
        text = arg.sval
    elif isinstance(arg, ast.Integer):
        text = str(arg.ival)
    elif isinstance(arg, ast.Float):
        text = arg.fval
    elif isinstance(arg, ast.Boolean):
        text = "true" if arg.boolval else "false"
    elif isinstance(arg, ast.TypeName):
        text = ".".join(n.sval for n in arg.names)
    else:
        text = str(arg)
    return option_text(text)


def option_text(text: str) -> str:
    lowered = text.strip().lower()
    return _BOOL_WORDS.get(lowered, lowered)


def _element(elem: ast.IndexElem) -> Canon:
    ordering = "desc" if elem.ordering.name == "SORTBY_DESC" else "asc"
    nulls = elem.nulls_ordering.name
    nulls_canon = {"SORTBY_NULLS_FIRST": "first", "SORTBY_NULLS_LAST": "last"}.get(
        nulls, "first" if ordering == "desc" else "last"
    )
    key = ("column", elem.name) if elem.name is not None else ("expr", _canon(elem.expr))
    opclass = _strip_catalog(tuple(n.sval for n in elem.opclass)) if elem.opclass else ()
    return (
        key,
        opclass,
        _canon(elem.opclassopts) if elem.opclassopts else (),
        _strip_catalog(tuple(n.sval for n in elem.collation)) if elem.collation else (),
        ordering,
        nulls_canon,
    )


def _columns_in(node: Any, out: set[str]) -> None:
    if isinstance(node, ast.ColumnRef):
        last = node.fields[-1]
        if isinstance(last, ast.String):
            out.add(last.sval)
        return
    if isinstance(node, ast.Node):
        for name in node.__slots__:  # type: ignore[attr-defined]
            _columns_in(getattr(node, name, None), out)
    elif isinstance(node, tuple | list):
        for value in node:
            _columns_in(value, out)


def from_statement(stmt: ast.IndexStmt, source: str) -> ParsedIndex:
    """Canonicalise a parsed CREATE INDEX (the relation and the index name are not part of it)."""
    elements = tuple(_element(e) for e in stmt.indexParams)
    include = tuple(e.name for e in stmt.indexIncludingParams or ())
    options = tuple(sorted((d.defname.lower(), _option_value(d.arg)) for d in stmt.options or ()))
    nnd = bool(getattr(stmt, "nulls_not_distinct", False))
    method = (stmt.accessMethod or "btree").lower()
    canon = (
        bool(stmt.unique),
        method,
        elements,
        include,
        options,
        nnd,
        _canon(stmt.whereClause) if stmt.whereClause is not None else None,
    )
    columns: set[str] = set(include)
    for e in stmt.indexParams:
        if e.name is not None:
            columns.add(e.name)
        else:
            _columns_in(e.expr, columns)
    _columns_in(stmt.whereClause, columns)
    return ParsedIndex(
        canon=canon,
        unique=bool(stmt.unique),
        method=method,
        include=include,
        options=options,
        nulls_not_distinct=nnd,
        column_names=frozenset(columns),
        source=source,
    )


def parse_statement(text: str) -> ast.IndexStmt:
    """Exactly one CREATE INDEX statement, or IndexDefinitionError."""
    try:
        statements = parse_sql(text)
    except ParseError as exc:
        raise IndexDefinitionError(str(exc).split(", at index ")[0]) from None
    if len(statements) != 1 or not isinstance(statements[0].stmt, ast.IndexStmt):
        raise IndexDefinitionError("not a single index definition")
    return statements[0].stmt


@lru_cache(maxsize=65536)
def parse_live(definition: str) -> ParsedIndex:
    """What `pg_get_indexdef()` printed (cached: plans compare each live index more than once)."""
    return from_statement(parse_statement(definition), definition)


def _declared_text(spec: IndexSpec, columns: list[str], include: list[str], where: str | None) -> str:
    text = f"CREATE {'UNIQUE ' if spec.unique else ''}INDEX pgtune_i ON pgtune_t USING {spec.method} ("
    text += ", ".join(columns) + ")"
    if include:
        text += " INCLUDE (" + ", ".join(include) + ")"
    if spec.nulls_not_distinct:
        text += " NULLS NOT DISTINCT"
    if where is not None:
        text += f" WHERE {where}"
    return text


def parse_declared(spec: IndexSpec) -> ParsedIndex:
    """A profile's index: parsed as one statement, each part checked to be exactly what it claims.

    The SQL pgtune executes is re-printed from this tree, never the profile's text, so a column
    or predicate cannot smuggle in another statement or clause.
    """
    text = _declared_text(spec, spec.columns, spec.include, spec.where)
    try:
        stmt = parse_statement(text)
    except IndexDefinitionError:
        stmt = None
    if stmt is None or len(stmt.indexParams) != len(spec.columns):
        _locate_error(spec)
        raise IndexDefinitionError("the index definition does not parse")
    if len(stmt.indexIncludingParams or ()) != len(spec.include) or any(
        e.name is None for e in stmt.indexIncludingParams or ()
    ):
        raise IndexDefinitionError("include: expected plain column names")
    if (spec.where is None) != (stmt.whereClause is None):
        raise IndexDefinitionError(f"where: {spec.where!r} is not a predicate")
    parsed = from_statement(stmt, text)
    options = tuple(sorted((k, option_text(v)) for k, v in spec.with_.items()))
    canon = (*parsed.canon[:4], options, *parsed.canon[5:])
    return replace(parsed, canon=canon, options=options)


def _locate_error(spec: IndexSpec) -> None:
    """Re-parse part by part to say which column, include entry or predicate is wrong."""
    for i, column in enumerate(spec.columns):
        try:
            stmt = parse_statement(_declared_text(spec.model_copy(update={"unique": False}), [column], [], None))
        except IndexDefinitionError as exc:
            raise IndexDefinitionError(f"columns[{i}] {column!r}: {exc}") from None
        if len(stmt.indexParams) != 1:
            raise IndexDefinitionError(f"columns[{i}] {column!r}: expected one column or expression")
    for i, column in enumerate(spec.include):
        try:
            parse_statement(_declared_text(spec, ["x"], [column], None))
        except IndexDefinitionError as exc:
            raise IndexDefinitionError(f"include[{i}] {column!r}: {exc}") from None
    if spec.where is not None:
        try:
            parse_statement(_declared_text(spec, ["x"], [], spec.where))
        except IndexDefinitionError as exc:
            raise IndexDefinitionError(f"where {spec.where!r}: {exc}") from None
