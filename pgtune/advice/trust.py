"""What planning a statement could make the server run, and whether pgtune lets it.

Planning is not inert: the planner folds IMMUTABLE (and, to estimate, STABLE) functions called with
constant arguments, calls operators' selectivity estimators, expands views and row-level security
policies, and loads index expressions and CHECK constraints — each of which may call a function a
tenant wrote. pgtune plans the workload's statements (advise, and the impact of a plan), so before
it plans one it checks, in the catalog, every function such a statement could reach:

- the functions, operators and types the statement names — by name in every schema, so no
  search_path (a role's `app, pg_catalog` included) can swap a built-in for a tenant's;
- the relations it names, and what they pull in: views' rules (and the relations those read),
  partitions and inheritance children, their indexes, constraints, policies, column defaults and
  generated expressions, extended statistics, and their columns' types.

A function is trusted when it is built in (created by initdb: an OID below FirstNormalObjectId), or
a member of an extension, owned by a superuser, and either written in C (code a superuser installed
from the server's library directory) or of an extension the profile lists in `trusted_extensions`.
An operator or a type is trusted when it is built in or every function behind it is (an operator's
code and estimators, a type's I/O and support functions, a range's canonical and subtype_diff, a
domain's constraints, casts to or from it). Anything else is refused unless `--trust-functions`;
either way the statement is planned as the role that ran it (pgtune.advice.lab).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

FIRST_NORMAL_OID = 16384
"""Objects below this OID were created by initdb (FirstNormalObjectId in PostgreSQL's transam.h)."""
SHOWN = 3
"""Untrusted objects named per statement in a note."""

Name = tuple[str | None, str]  # (schema or None: any schema, name)


class Reader(Protocol):
    def rows(self, query: Any, params: Any = None) -> list[Any]: ...


@dataclass(frozen=True)
class Names:
    """The objects a statement's text names, as written (schema-qualified or not)."""

    functions: frozenset[Name] = frozenset()
    operators: frozenset[Name] = frozenset()
    types: frozenset[Name] = frozenset()
    relations: frozenset[Name] = frozenset()


_BETWEEN_OPERATORS = ("<", ">", "<=", ">=")


def collect(tree: Any) -> Names:
    """Every function, operator, type and relation a parse tree names (pglast nodes)."""
    from pglast import ast
    from pglast.enums import A_Expr_Kind
    from pglast.visitors import Visitor

    found: dict[str, set[Name]] = {"functions": set(), "operators": set(), "types": set(), "relations": set()}

    def name(parts: Iterable[Any] | None) -> Name | None:
        texts = [getattr(p, "sval", None) for p in parts or ()]
        if not texts or any(t is None for t in texts):
            return None
        return (str(texts[-2]) if len(texts) > 1 else None, str(texts[-1]))

    def add(kind: str, parts: Iterable[Any] | None) -> None:
        n = name(parts)
        if n is not None:
            found[kind].add(n)

    between = {
        A_Expr_Kind.AEXPR_BETWEEN,
        A_Expr_Kind.AEXPR_NOT_BETWEEN,
        A_Expr_Kind.AEXPR_BETWEEN_SYM,
        A_Expr_Kind.AEXPR_NOT_BETWEEN_SYM,
    }

    class Walk(Visitor):
        def visit_FuncCall(self, ancestors: Any, node: ast.FuncCall) -> None:
            add("functions", node.funcname)

        def visit_A_Expr(self, ancestors: Any, node: ast.A_Expr) -> None:
            if node.kind in between:
                found["operators"].update((None, op) for op in _BETWEEN_OPERATORS)
            elif node.kind == A_Expr_Kind.AEXPR_SIMILAR:
                found["operators"].add((None, "~"))
            else:
                add("operators", node.name)

        def visit_SubLink(self, ancestors: Any, node: ast.SubLink) -> None:
            add("operators", node.operName)

        def visit_SortBy(self, ancestors: Any, node: ast.SortBy) -> None:
            add("operators", node.useOp)

        def visit_TypeName(self, ancestors: Any, node: ast.TypeName) -> None:
            add("types", node.names)

        def visit_RangeVar(self, ancestors: Any, node: ast.RangeVar) -> None:
            if node.relname:
                found["relations"].add((node.schemaname or None, str(node.relname)))

    Walk()(tree)
    return Names(*(frozenset(found[k]) for k in ("functions", "operators", "types", "relations")))


def _untrusted_sql(version_num: int) -> str:
    subscript = ", t.typsubscript" if version_num >= 140000 else ""
    return f"""
WITH RECURSIVE untrusted_proc AS (
    SELECT p.oid FROM pg_proc p
    WHERE p.oid >= {FIRST_NORMAL_OID} AND NOT (
        EXISTS (SELECT FROM pg_roles o WHERE o.oid = p.proowner AND o.rolsuper)
        AND EXISTS (
            SELECT FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
            WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
              AND d.refclassid = 'pg_extension'::regclass
              AND (e.extname = ANY (%(trusted)s::text[])
                   OR p.prolang IN (SELECT l.oid FROM pg_language l WHERE l.lanname IN ('c', 'internal')))))
), untrusted_oper AS (
    SELECT o.oid FROM pg_operator o
    WHERE o.oid >= {FIRST_NORMAL_OID}
      AND (o.oprcode::oid IN (SELECT oid FROM untrusted_proc) OR o.oprrest::oid IN (SELECT oid FROM untrusted_proc)
           OR o.oprjoin::oid IN (SELECT oid FROM untrusted_proc))
), untrusted_type(oid) AS (
    SELECT t.oid FROM pg_type t
    WHERE t.oid >= {FIRST_NORMAL_OID} AND (
        EXISTS (SELECT FROM unnest(ARRAY[t.typinput, t.typoutput, t.typreceive, t.typsend, t.typmodin, t.typmodout,
                                         t.typanalyze{subscript}]::oid[]) f(oid)
                WHERE f.oid IN (SELECT oid FROM untrusted_proc))
        OR EXISTS (SELECT FROM pg_range r WHERE r.rngtypid = t.oid
                   AND (r.rngcanonical::oid IN (SELECT oid FROM untrusted_proc)
                        OR r.rngsubdiff::oid IN (SELECT oid FROM untrusted_proc)))
        OR EXISTS (SELECT FROM pg_constraint k JOIN pg_depend d ON d.classid = 'pg_constraint'::regclass
                     AND d.objid = k.oid AND d.refclassid = 'pg_proc'::regclass
                   WHERE k.contypid = t.oid AND d.refobjid IN (SELECT oid FROM untrusted_proc))
        OR EXISTS (SELECT FROM pg_cast c WHERE (c.castsource = t.oid OR c.casttarget = t.oid)
                   AND c.castfunc IN (SELECT oid FROM untrusted_proc)))
    UNION
    SELECT t.oid FROM pg_type t JOIN untrusted_type u ON t.typbasetype = u.oid OR t.typelem = u.oid
), wanted AS (
    SELECT * FROM unnest(%(kinds)s::text[], %(schemas)s::text[], %(names)s::text[])
        WITH ORDINALITY AS w(kind, nsp, name, i)
), rels(i, oid) AS (
    SELECT w.i, c.oid FROM wanted w JOIN pg_class c ON c.relname = w.name
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE w.kind = 'relation' AND (w.nsp IS NULL OR n.nspname = w.nsp)
    UNION  -- what a view's rules read, and partitions and inheritance children
    SELECT r.i, x.oid FROM rels r CROSS JOIN LATERAL (
        SELECT d.refobjid FROM pg_rewrite rw JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass
          AND d.objid = rw.oid AND d.refclassid = 'pg_class'::regclass
        WHERE rw.ev_class = r.oid
        UNION ALL
        SELECT h.inhrelid FROM pg_inherits h WHERE h.inhparent = r.oid) x(oid)
), parts(i, classid, objid) AS (
    SELECT i, 'pg_class'::regclass::oid, oid FROM rels
    UNION ALL SELECT r.i, 'pg_class'::regclass, x.indexrelid FROM rels r JOIN pg_index x ON x.indrelid = r.oid
    UNION ALL SELECT r.i, 'pg_constraint'::regclass, k.oid FROM rels r JOIN pg_constraint k ON k.conrelid = r.oid
    UNION ALL SELECT r.i, 'pg_policy'::regclass, p.oid FROM rels r JOIN pg_policy p ON p.polrelid = r.oid
    UNION ALL SELECT r.i, 'pg_rewrite'::regclass, w.oid FROM rels r JOIN pg_rewrite w ON w.ev_class = r.oid
    UNION ALL SELECT r.i, 'pg_attrdef'::regclass, a.oid FROM rels r JOIN pg_attrdef a ON a.adrelid = r.oid
    UNION ALL SELECT r.i, 'pg_statistic_ext'::regclass, s.oid FROM rels r JOIN pg_statistic_ext s ON s.stxrelid = r.oid
), reached(i, classid, objid) AS (
    SELECT DISTINCT p.i, d.refclassid, d.refobjid FROM parts p
    JOIN pg_depend d ON d.classid = p.classid AND d.objid = p.objid
    WHERE d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass, 'pg_type'::regclass)
)
SELECT w.i, p.oid::regprocedure::text || ' owned by ' || pg_get_userbyid(p.proowner)
FROM wanted w JOIN pg_proc p ON p.proname = w.name JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE w.kind = 'function' AND (w.nsp IS NULL OR n.nspname = w.nsp) AND p.oid IN (SELECT oid FROM untrusted_proc)
UNION ALL
SELECT w.i, 'operator ' || o.oid::regoperator::text || ' owned by ' || pg_get_userbyid(o.oprowner)
FROM wanted w JOIN pg_operator o ON o.oprname = w.name JOIN pg_namespace n ON n.oid = o.oprnamespace
WHERE w.kind = 'operator' AND (w.nsp IS NULL OR n.nspname = w.nsp) AND o.oid IN (SELECT oid FROM untrusted_oper)
UNION ALL
SELECT w.i, 'type ' || format_type(t.oid, NULL) || ' owned by ' || pg_get_userbyid(t.typowner)
FROM wanted w JOIN pg_type t ON t.typname = w.name JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE w.kind = 'type' AND (w.nsp IS NULL OR n.nspname = w.nsp) AND t.oid IN (SELECT oid FROM untrusted_type)
UNION ALL
SELECT r.i, CASE r.classid
        WHEN 'pg_proc'::regclass THEN (SELECT p.oid::regprocedure::text || ' owned by ' || pg_get_userbyid(p.proowner)
                                       FROM pg_proc p WHERE p.oid = r.objid)
        WHEN 'pg_operator'::regclass THEN (SELECT 'operator ' || o.oid::regoperator::text || ' owned by '
                                           || pg_get_userbyid(o.oprowner) FROM pg_operator o WHERE o.oid = r.objid)
        ELSE (SELECT 'type ' || format_type(t.oid, NULL) || ' owned by ' || pg_get_userbyid(t.typowner)
              FROM pg_type t WHERE t.oid = r.objid) END
       || ', reached through ' || (SELECT coalesce(w.nsp || '.', '') || w.name FROM wanted w WHERE w.i = r.i)
FROM reached r
WHERE (r.classid = 'pg_proc'::regclass AND r.objid IN (SELECT oid FROM untrusted_proc))
   OR (r.classid = 'pg_operator'::regclass AND r.objid IN (SELECT oid FROM untrusted_oper))
   OR (r.classid = 'pg_type'::regclass AND r.objid IN (SELECT oid FROM untrusted_type))
"""


@dataclass
class Verdicts:
    """Per named object: what untrusted code it could make the planner run (empty: trusted)."""

    found: dict[tuple[str, Name], list[str]] = field(default_factory=dict)

    def of(self, names: Names) -> list[str]:
        """What a statement naming these objects could run that is not trusted, sorted, without repeats."""
        out: set[str] = set()
        for kind, group in (
            ("function", names.functions),
            ("operator", names.operators),
            ("type", names.types),
            ("relation", names.relations),
        ):
            for n in group:
                out.update(self.found.get((kind, n), ()))
        return sorted(out)


def judge(reader: Reader, names: Sequence[Names], trusted_extensions: Sequence[str], version_num: int) -> Verdicts:
    """One catalog query for every name of every statement given."""
    wanted: list[tuple[str, Name]] = sorted(
        {
            (kind, n)
            for ns in names
            for kind, group in (
                ("function", ns.functions),
                ("operator", ns.operators),
                ("type", ns.types),
                ("relation", ns.relations),
            )
            for n in group
        },
        key=lambda k: (k[0], k[1][0] or "", k[1][1]),
    )
    verdicts = Verdicts()
    if not wanted:
        return verdicts
    rows = reader.rows(
        _untrusted_sql(version_num),
        {
            "trusted": list(trusted_extensions),
            "kinds": [k for k, _ in wanted],
            "schemas": [n[0] for _, n in wanted],
            "names": [n[1] for _, n in wanted],
        },
    )
    for i, what in rows:
        if what is not None:
            verdicts.found.setdefault(wanted[int(i) - 1], []).append(str(what))
    return verdicts
