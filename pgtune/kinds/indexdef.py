"""Index definitions in one canonical form, so "equal" means "the same index to PostgreSQL".

Both sides go through the same parser (libpg_query via pglast, PostgreSQL's own grammar): the
definition a profile declares and the live `pg_get_indexdef()` text. The parse trees are reduced
to a hashable form that drops what never matters — source positions, parentheses, quoting, the
implicit `btree`/`ASC`/`NULLS LAST`, `pg_catalog.` qualification, how a WITH value was spelled —
and keeps everything that does: column order, expressions, opclasses, collations, INCLUDE,
the predicate, WITH, uniqueness, NULLS NOT DISTINCT, the access method.

Comparison works on libpg_query's JSON tree (parsed in C, loaded by the json module), not on
pglast's Python AST objects: building those costs ~150 µs a definition, the JSON ~25 µs, and a
plan at fleet scale compares tens of thousands. pglast's AST is still used to print SQL, only for
indexes that change. Definitions are parsed once per *shape*: a declared index without its
name and table, a live one with its name and table replaced by placeholders (`anonymous`), so
the thousands of tables sharing an index shape share one parse.

What the parse cannot know (the server adds casts and folds constants: `status = 'x'` is stored
as `((status)::text = 'x'::text)`) is settled by the index kind's probe, which asks the server
to canonicalise the desired definition; see `kinds/indexes/`.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pglast import ast

# pglast (libpg_query) loads on the first definition to parse or print: a plan without indexes
# — a settings-only profile — never pays its ~50 ms import.

from pgtune.profile.model import IndexSpec

Canon = tuple[Any, ...]
Tree = dict[str, Any]

BOOL_OPTIONS = frozenset({"deduplicate_items", "fastupdate", "autosummarize"})
"""Index storage parameters of type bool (btree, gin, brin): compared by what the server's
parse_bool makes of them. Every other WITH value is compared as lower-cased text — GiST's
`buffering` is an enum whose `on` must stay `on`."""
_POSITION_SUFFIXES = ("location", "_start", "_end")  # byte offsets: location, rexpr_list_start ...
_QUALIFIED_NAME_FIELDS = frozenset({"funcname", "names", "name", "opclass", "collname"})
_NULLS = {"SORTBY_NULLS_FIRST": "first", "SORTBY_NULLS_LAST": "last"}
NAME_PLACEHOLDER = "pgtune_i"
TABLE_PLACEHOLDER = "pgtune_t"


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
    written: tuple[tuple[str, str], ...] = field(default=(), compare=False, hash=False)  # WITH as declared

    @property
    def with_sql(self) -> tuple[tuple[str, str], ...]:
        """WITH values for the SQL that runs: as declared (the server takes its own spellings), else canonical."""
        return self.written or self.options

    # Deparsing is the expensive part and only the SQL that runs (and inspect) needs it: computed
    # on first use from pglast's AST of `source`, so comparing thousands of unchanged indexes never
    # pays for it, and no parse tree is kept alive per index (memory at scale).
    @cached_property
    def elements_sql(self) -> tuple[str, ...]:
        """Each key element, deparsed by pglast."""
        from pglast.stream import RawStream

        return tuple(RawStream()(e) for e in _ast(self.source).indexParams or ())

    @cached_property
    def where_sql(self) -> str | None:
        where = _ast(self.source).whereClause
        from pglast.stream import RawStream

        return RawStream()(where) if where is not None else None


def _ast(text: str) -> ast.IndexStmt:
    from pglast import ast, parse_sql

    stmt = parse_sql(text)[0].stmt
    assert isinstance(stmt, ast.IndexStmt)
    return stmt


def _strip_catalog(names: tuple[Any, ...]) -> tuple[Any, ...]:
    return names[1:] if len(names) > 1 and names[0] == "pg_catalog" else names


_COMPARISONS = frozenset({("=",), ("<>",), ("!=",), ("<",), (">",), ("<=",), (">=",)})  # operator names
_COMPARISON_KINDS = frozenset({"AEXPR_OP", "AEXPR_OP_ANY", "AEXPR_OP_ALL"})


def _decimal(text: str) -> str | None:
    """A numeric literal by its value: `0.50`, `0.5` and `5E-1` are all `0.5`."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return "0" if value == 0 else format(value.normalize(), "f")


def _constant(node: Any) -> tuple[str, bool] | None:
    """A constant's text, and whether it is a numeric literal: `0.50`, or `'-2.25'::numeric` as the
    server prints a negative one (a constant cast to plain numeric); `5` and `'x'` are constants too,
    not numeric literals. None for anything else."""
    if not isinstance(node, dict):
        return None
    cast = node.get("TypeCast")
    if cast is not None:
        type_name = cast.get("typeName") or {}
        if _strip_catalog(_names(type_name.get("names"))) != ("numeric",) or type_name.get("typmods"):
            return None
        inner = _constant(cast.get("arg"))
        return (inner[0], True) if inner is not None else None
    body = node.get("A_Const")
    if body is None:
        return None
    for kind in ("fval", "ival", "sval"):
        if kind in body:
            return str(body[kind].get(kind, 0 if kind == "ival" else "")), kind == "fval"
    return None


def _float_cast(body: Tree) -> Canon | None:
    """`(0.50)::double precision`, `(0.5)::double precision` and `'0.5'::float8` are one value: a
    constant cast to float4/float8 compares by the float it becomes (the server keeps the numeric
    literal as written inside the cast, so the scale a profile wrote would otherwise differ)."""
    names = _strip_catalog(_names((body.get("typeName") or {}).get("names")))
    if names not in (("float8",), ("float4",)) or (body.get("typeName") or {}).get("typmods"):
        return None
    constant = _constant(body.get("arg"))
    if constant is None:
        return None
    try:
        value = float(constant[0])
    except ValueError:
        return None
    if names == ("float4",):
        value = struct.unpack("f", struct.pack("f", value))[0] if math.isfinite(value) else value
    return ("FloatConstant", names[0], repr(value))


def _comparison(body: Tree) -> Canon | None:
    """A comparison with a numeric literal operand compares by the literal's value, whatever its
    scale: `score > 0.50` and `score > 0.5` select the same rows (and the planner proves either
    from the other), where the printed constants differ."""
    if body.get("kind") not in _COMPARISON_KINDS or _names(body.get("name")) not in _COMPARISONS:
        return None

    def operand(node: Any) -> Any:
        constant = _constant(node)
        value = _decimal(constant[0]) if constant is not None and constant[1] else None
        if value is not None:
            return ("Numeric", value)
        if isinstance(node, dict) and "A_ArrayExpr" in node:
            return ("A_ArrayExpr", tuple(operand(e) for e in node["A_ArrayExpr"].get("elements") or ()))
        return _canon(node)

    return (
        "A_Expr",
        tuple(
            (k, operand(v) if k in ("lexpr", "rexpr") else _canon(v, k))
            for k, v in body.items()
            if not k.endswith(_POSITION_SUFFIXES)
        ),
    )


def _canon(node: Any, key: str = "") -> Any:
    """A hashable, position-free form of any libpg_query JSON node (`{"Type": {fields}}`)."""
    if isinstance(node, dict):
        if len(node) == 1:
            ((kind, body),) = node.items()
            if kind == "String" and isinstance(body, dict):
                return body.get("sval", "")
            special = _float_cast(body) if kind == "TypeCast" else _comparison(body) if kind == "A_Expr" else None
            if special is not None:
                return special
            if isinstance(body, dict) and kind[:1].isupper():
                return (kind, tuple((k, _canon(v, k)) for k, v in body.items() if not k.endswith(_POSITION_SUFFIXES)))
        return tuple((k, _canon(v, k)) for k, v in node.items() if not k.endswith(_POSITION_SUFFIXES))
    if isinstance(node, list):
        out = tuple(_canon(v) for v in node)
        return _strip_catalog(out) if key in _QUALIFIED_NAME_FIELDS else out
    return node


def _names(nodes: list[Tree] | None) -> tuple[str, ...]:
    return tuple(n["String"].get("sval", "") for n in nodes or () if "String" in n)


def _option_value(arg: Tree | None) -> str:
    """WITH values as the server stores them: text, booleans spelled one way."""
    if not arg:
        return ""
    ((kind, body),) = arg.items()
    if kind == "String":
        text = body.get("sval", "")
    elif kind == "Integer":
        text = str(body.get("ival", 0))
    elif kind == "Float":
        text = body.get("fval", "0")
    elif kind == "Boolean":
        text = "true" if body.get("boolval") else "false"
    elif kind == "TypeName":
        text = ".".join(_names(body.get("names")))
    else:
        text = json.dumps(arg, sort_keys=True)
    return str(text)


def parse_bool(text: str) -> bool | None:
    """PostgreSQL's parse_bool: true/false, yes/no and their unique prefixes, on/off (two letters
    at least), 1/0, any case, surrounding spaces ignored; None when it is none of these."""
    word = text.strip().lower()
    if not word:
        return None
    for full, value in (("true", True), ("false", False), ("yes", True), ("no", False)):
        if full.startswith(word):
            return value
    if len(word) >= 2 and "on".startswith(word):
        return True
    if len(word) >= 2 and "off".startswith(word):
        return False
    return {"1": True, "0": False}.get(word)


def option_text(name: str, text: str) -> str:
    """A WITH value in canonical form, for comparison (never for the SQL that runs)."""
    lowered = text.strip().lower()
    if name in BOOL_OPTIONS:
        value = parse_bool(lowered)
        if value is not None:
            return "true" if value else "false"
    return lowered


def _element(elem: Tree) -> Canon:
    ordering = "desc" if elem.get("ordering") == "SORTBY_DESC" else "asc"
    nulls = _NULLS.get(elem.get("nulls_ordering", ""), "first" if ordering == "desc" else "last")
    name = elem.get("name")
    key = ("column", name) if name is not None else ("expr", _canon(elem.get("expr")))
    return (
        key,
        _strip_catalog(_names(elem.get("opclass"))),
        _canon(elem.get("opclassopts")) if elem.get("opclassopts") else (),
        _strip_catalog(_names(elem.get("collation"))),
        ordering,
        nulls,
    )


def _columns_in(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("ColumnRef")
        if ref is not None and len(node) == 1:
            fields = ref.get("fields") or ()
            if fields and "String" in fields[-1]:
                out.add(fields[-1]["String"].get("sval", ""))
            return
        for value in node.values():
            _columns_in(value, out)
    elif isinstance(node, list):
        for value in node:
            _columns_in(value, out)


def _elements(stmt: Tree, key: str) -> list[Tree]:
    return [e["IndexElem"] for e in stmt.get(key) or ()]


def from_tree(stmt: Tree, source: str) -> ParsedIndex:
    """Canonicalise a parsed CREATE INDEX (the relation and the index name are not part of it)."""
    params = _elements(stmt, "indexParams")
    include = tuple(e.get("name") for e in _elements(stmt, "indexIncludingParams"))
    defs = [d["DefElem"] for d in stmt.get("options") or ()]
    named = ((d.get("defname", "").lower(), _option_value(d.get("arg"))) for d in defs)
    options = tuple(sorted((k, option_text(k, v)) for k, v in named))
    unique = bool(stmt.get("unique"))
    nnd = bool(stmt.get("nulls_not_distinct"))
    method = (stmt.get("accessMethod") or "btree").lower()
    where = stmt.get("whereClause")
    canon = (
        unique,
        method,
        tuple(_element(e) for e in params),
        include,
        options,
        nnd,
        _canon(where) if where is not None else None,
    )
    columns: set[str] = {c for c in include if c is not None}
    for e in params:
        if e.get("name") is not None:
            columns.add(e["name"])
        else:
            _columns_in(e.get("expr"), columns)
    _columns_in(where, columns)
    return ParsedIndex(
        canon=canon,
        unique=unique,
        method=method,
        include=include,  # type: ignore[arg-type]
        options=options,
        nulls_not_distinct=nnd,
        column_names=frozenset(columns),
        source=source,
    )


def parse_tree(text: str) -> Tree:
    """Exactly one CREATE INDEX statement as libpg_query's JSON tree, or IndexDefinitionError."""
    from pglast.parser import ParseError, parse_sql_json

    try:
        statements = json.loads(parse_sql_json(text)).get("stmts") or []
    except ParseError as exc:
        raise IndexDefinitionError(str(exc).split(", at index ")[0]) from None
    if len(statements) != 1 or "IndexStmt" not in statements[0].get("stmt", {}):
        raise IndexDefinitionError("not a single index definition")
    tree: dict[str, Any] = statements[0]["stmt"]["IndexStmt"]
    return tree


@lru_cache(maxsize=65536)
def parse_live(definition: str) -> ParsedIndex:
    """What `pg_get_indexdef()` printed (cached: many indexes share one `anonymous` shape)."""
    return from_tree(parse_tree(definition), definition)


def _renamed(text: str, name: str, table: str, new_name: str, new_table: str) -> str | None:
    """`CREATE [UNIQUE] INDEX name ON [ONLY] table USING ...` with another name and table; None
    when the text does not start that way."""
    for head in ("CREATE INDEX ", "CREATE UNIQUE INDEX "):
        prefix = f"{head}{name} ON "
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            only = "ONLY " if rest.startswith("ONLY ") else ""
            rest = rest[len(only) :]
            if rest.startswith(f"{table} USING "):
                return f"{head}{new_name} ON {only}{new_table}{rest[len(table) :]}"
    return None


def anonymous(definition: str, name: str, table: str) -> str | None:
    """`pg_get_indexdef()` text with the index's name and table replaced by placeholders.

    `name` and `table` are quoted as the server quotes them (`quote_ident`, `schema.table`).
    Indexes of the same shape on different tables then have the same text, parsed once. None
    when the text is not laid out as expected (then it is used as it is: correct, not shared).
    The server always qualifies the table, so the unqualified placeholder cannot be confused
    with a real table."""
    return _renamed(definition, name, table, NAME_PLACEHOLDER, TABLE_PLACEHOLDER)


def restore(shape: str, name: str, table: str) -> str:
    """The inverse of `anonymous`: the definition of the index `name` on `table` of that shape."""
    return _renamed(shape, NAME_PLACEHOLDER, TABLE_PLACEHOLDER, name, table) or shape


_CALL = re.compile(r"^\(([A-Za-z_][A-Za-z0-9_.]*\(.*\))\)$", re.S)


def _unwrapped(element: str) -> str:
    """`(lower(x))` as pg_get_indexdef prints it, `lower(x)`: a function call needs no
    parentheses of its own; any other expression keeps them."""
    match = _CALL.match(element)
    if match is None:
        return element
    depth = 0
    for i, char in enumerate(element):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and i < len(element) - 1:
            return element  # "(f(a)) + (g(b))": the first pair closes early
    return match.group(1)


@dataclass(frozen=True)
class Parts:
    """A declared index's parts as the profile writes them: hashable, so parses and printed forms
    are cached per definition (a fleet of alike tables declares a handful of distinct indexes)."""

    unique: bool
    method: str
    columns: tuple[str, ...]
    include: tuple[str, ...]
    nnd: bool
    where: str | None

    @classmethod
    def of(cls, spec: IndexSpec) -> Parts:
        return cls(*spec.parts)

    def text(self, only: bool = False) -> str:
        on = "ON ONLY" if only else "ON"  # a partitioned index is printed ON ONLY its table
        unique = "UNIQUE " if self.unique else ""
        text = f"CREATE {unique}INDEX {NAME_PLACEHOLDER} {on} {TABLE_PLACEHOLDER} USING {self.method} ("
        text += ", ".join(self.columns) + ")"
        if self.include:
            text += " INCLUDE (" + ", ".join(self.include) + ")"
        if self.nnd:
            text += " NULLS NOT DISTINCT"
        if self.where is not None:
            text += f" WHERE {self.where}"
        return text


def printed_forms(spec: IndexSpec, only: bool = False) -> tuple[str, ...]:
    """How pg_get_indexdef() prints this declared index (`anonymous` form), when the profile spells
    it the way the server does; () when it has WITH options (the server's spelling of those
    varies). A live index whose text is one of these is the declared index: text equal means
    parsed equal, so most of a large steady-state plan needs no parsing at all. Any other
    spelling is compared by parsing, as before; nothing is executed from these texts."""
    if spec.with_:
        return ()
    # cached by a plain tuple: a fleet of alike tables asks for a handful of definitions 40,000 times
    return _printed_forms(spec.parts, only)


@lru_cache(maxsize=4096)
def _printed_forms(key: tuple[Any, ...], only: bool) -> tuple[str, ...]:
    parts = Parts(*key)
    forms: list[str] = []
    predicate = None if parts.where is None else f"({parts.where})"  # the server parenthesises a predicate
    for spelled in (parts.columns, tuple(_unwrapped(c) for c in parts.columns)):
        text = replace(parts, columns=spelled, where=predicate).text(only)
        if text not in forms:
            forms.append(text)
    return tuple(forms)


def parse_declared(spec: IndexSpec) -> ParsedIndex:
    """A profile's index: parsed as one statement, each part checked to be exactly what it claims.

    The SQL pgtune executes is re-printed from this tree, never the profile's text, so a column
    or predicate cannot smuggle in another statement or clause. Cached by definition: tables
    that declare the same index share one parse."""
    return _parse_declared(Parts.of(spec), tuple(sorted(spec.with_.items())))


@lru_cache(maxsize=65536)
def _parse_declared(parts: Parts, with_: tuple[tuple[str, str], ...]) -> ParsedIndex:
    text = parts.text()
    try:
        stmt: Tree | None = parse_tree(text)
    except IndexDefinitionError:
        stmt = None
    if stmt is None or len(stmt.get("indexParams") or ()) != len(parts.columns):
        _locate_error(parts)
        raise IndexDefinitionError("the index definition does not parse")
    including = _elements(stmt, "indexIncludingParams")
    if len(including) != len(parts.include) or any(e.get("name") is None for e in including):
        raise IndexDefinitionError("include: expected plain column names")
    if (parts.where is None) != (stmt.get("whereClause") is None):
        raise IndexDefinitionError(f"where: {parts.where!r} is not a predicate")
    parsed = from_tree(stmt, text)
    options = tuple(sorted((k, option_text(k, v)) for k, v in with_))
    canon = (*parsed.canon[:4], options, *parsed.canon[5:])
    return ParsedIndex(
        canon=canon,
        unique=parsed.unique,
        method=parsed.method,
        include=parsed.include,
        options=options,
        nulls_not_distinct=parsed.nulls_not_distinct,
        column_names=parsed.column_names,
        source=text,
        written=tuple(sorted((k, v.strip()) for k, v in with_)),
    )


def _locate_error(parts: Parts) -> None:
    """Re-parse part by part to say which column, include entry or predicate is wrong."""
    one = replace(parts, unique=False, columns=("x",), include=(), where=None)
    for i, column in enumerate(parts.columns):
        try:
            stmt = parse_tree(replace(one, columns=(column,)).text())
        except IndexDefinitionError as exc:
            raise IndexDefinitionError(f"columns[{i}] {column!r}: {exc}") from None
        if len(stmt.get("indexParams") or ()) != 1:
            raise IndexDefinitionError(f"columns[{i}] {column!r}: expected one column or expression")
    for i, column in enumerate(parts.include):
        try:
            parse_tree(replace(one, unique=parts.unique, include=(column,)).text())
        except IndexDefinitionError as exc:
            raise IndexDefinitionError(f"include[{i}] {column!r}: {exc}") from None
    if parts.where is not None:
        try:
            parse_tree(replace(one, unique=parts.unique, where=parts.where).text())
        except IndexDefinitionError as exc:
            raise IndexDefinitionError(f"where {parts.where!r}: {exc}") from None
