"""The workload and the tables it reads, in a constant number of set-based queries."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from pgtune.advice.shapes import Shape, read

_QUERY = re.compile(r"^\s*(select|with|insert|update|delete|merge|table|values)\b", re.IGNORECASE)
MAX_STATEMENTS = 500
"""Statements read from pg_stat_statements, the costliest first: the workload's head, bounded."""


class Session:
    """The advising connection; counts what it sends (bench/advise.py prints the figure)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.statements = 0

    def rows(self, query: str | sql.Composable, params: Sequence[Any] | dict[str, Any] | None = None) -> list[Any]:
        self.statements += 1
        cursor = self.conn.execute(query, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description is not None else []


@dataclass(frozen=True)
class Statement:
    queryid: int
    role: str
    calls: int
    total_ms: float
    rows: int  # rows returned or written
    temp_blks_written: int
    shape: Shape | None  # None: not a statement pgtune reads (utility, UNION, unparsable ...)
    query: bool = True  # a query (work_mem), not utility (CREATE INDEX, VACUUM: maintenance_work_mem)


@dataclass
class TableFacts:
    oid: int
    schema: str
    name: str
    live_rows: int
    reltuples: float
    inserted: int
    updated: int
    hot_updated: int
    deleted: int
    dead_rows: int
    reloptions: dict[str, str]
    columns: list[str]
    indexes: list[tuple[str, tuple[str, ...] | None, bool]] = field(default_factory=list)  # name, keys, partial
    kind: str = "r"  # pg_class.relkind: r, p, m — or v, a view (in the workload, never indexed)
    unique: list[tuple[str, ...]] = field(default_factory=list)  # key columns of valid unique btrees
    extension: bool = False  # a member of an extension (pg_stat_statements' view): never the workload's

    @property
    def qualified(self) -> str:
        from pgtune.base.names import qualified_text

        return qualified_text(self.schema, self.name)


def extensions(session: Session) -> dict[str, tuple[str, str]]:
    """Installed extensions pgtune advises with: name -> (version, schema)."""
    rows = session.rows(
        "SELECT e.extname, e.extversion, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname IN ('pg_stat_statements', 'hypopg')"
    )
    return {name: (version, schema) for name, version, schema in rows}


def statements(session: Session, schema: str, version_num: int, limit: int = MAX_STATEMENTS) -> list[Statement]:
    """This database's top-level statements, costliest first."""
    toplevel = sql.SQL("AND s.toplevel") if version_num >= 140000 else sql.SQL("")
    query = sql.SQL(
        "SELECT s.queryid, pg_get_userbyid(s.userid), s.calls, s.total_exec_time, s.rows, s.temp_blks_written, s.query "
        "FROM {}.pg_stat_statements s "
        "WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) {} "
        "ORDER BY s.total_exec_time DESC LIMIT %s"
    ).format(sql.Identifier(schema), toplevel)
    out = []
    for queryid, role, calls, total, rows, temp, text in session.rows(query, (limit,)):
        shape = read(text) if text else None
        query_like = bool(_QUERY.match(text or ""))
        out.append(
            Statement(int(queryid), str(role), int(calls), float(total), int(rows), int(temp), shape, query_like)
        )
    return out


TABLES_SQL = """
WITH wanted AS (
    SELECT * FROM unnest(%(schemas)s::text[], %(names)s::text[]) WITH ORDINALITY AS w(nsp, rel, i)
), found AS (
    SELECT DISTINCT ON (w.i) w.i, c.oid
    FROM wanted w
    JOIN pg_class c ON c.relname = w.rel AND c.relkind IN ('r', 'p', 'm', 'v')
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = w.nsp OR (w.nsp IS NULL AND n.nspname = ANY (current_schemas(false)))
    ORDER BY w.i, array_position(current_schemas(false), n.nspname::text)
)
SELECT f.i, c.oid::int8, c.relkind::text,
       EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'),
       n.nspname, c.relname, coalesce(s.n_live_tup, 0),
       greatest(c.reltuples, 0)::float8,
       coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_upd, 0), coalesce(s.n_tup_hot_upd, 0), coalesce(s.n_tup_del, 0),
       coalesce(s.n_dead_tup, 0), coalesce(c.reloptions, '{}'),
       ARRAY(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
       ARRAY(SELECT json_build_array(
                 i.relname,
                 CASE WHEN 0 = ANY (x.indkey::int2[]) THEN NULL
                      ELSE ARRAY(SELECT a.attname FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(att, o)
                                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.att
                                 WHERE k.o <= x.indnkeyatts ORDER BY k.o) END,
                 x.indpred IS NOT NULL, x.indisunique)::text
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam
             WHERE x.indrelid = c.oid AND x.indisvalid AND am.amname = 'btree')
FROM found f
JOIN pg_class c ON c.oid = f.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
"""


def tables(session: Session, names: list[tuple[str | None, str]]) -> dict[tuple[str | None, str], TableFacts]:
    """The tables (and views) the statements name, resolved as the server would (search_path), with
    their statistics, columns and btree indexes: one query."""
    import json

    if not names:
        return {}
    rows = session.rows(TABLES_SQL, {"schemas": [n[0] for n in names], "names": [n[1] for n in names]})
    out: dict[tuple[str | None, str], TableFacts] = {}
    by_oid: dict[int, TableFacts] = {}
    for (
        i,
        oid,
        kind,
        member,
        schema,
        name,
        live,
        reltuples,
        ins,
        upd,
        hot,
        dele,
        dead,
        reloptions,
        columns,
        indexes,
    ) in rows:
        facts = by_oid.get(oid)
        if facts is None:
            options = dict(item.partition("=")[::2] for item in reloptions)
            facts = TableFacts(oid, schema, name, live, reltuples, ins, upd, hot, dele, dead, options, list(columns))
            facts.kind, facts.extension = kind, bool(member)
            for text in indexes:
                index_name, keys, partial, unique = json.loads(text)
                facts.indexes.append((index_name, tuple(keys) if keys is not None else None, bool(partial)))
                if unique and keys is not None and not partial:
                    facts.unique.append(tuple(keys))
            by_oid[oid] = facts
        out[names[i - 1]] = facts
    return out


ROOTS_SQL = """
WITH RECURSIVE wanted AS (
    SELECT * FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS w(nsp, rel)
), up(nsp, rel, oid) AS (
    SELECT w.nsp, w.rel, c.oid FROM wanted w
    JOIN pg_namespace n ON n.nspname = w.nsp JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.rel
    UNION ALL
    SELECT up.nsp, up.rel, i.inhparent FROM up
    JOIN pg_class c ON c.oid = up.oid AND c.relispartition JOIN pg_inherits i ON i.inhrelid = up.oid
)
SELECT up.nsp, up.rel, rn.nspname, rc.relname
FROM up JOIN pg_class rc ON rc.oid = up.oid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE NOT rc.relispartition
"""


def roots(session: Session, names: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """Each relation a plan scans, mapped to the table an index on it belongs to: a partition to its
    partitioned root (from pg_inherits: no lock), anything else to itself. One query."""
    if not names:
        return {}
    rows = session.rows(ROOTS_SQL, {"schemas": [n[0] for n in names], "names": [n[1] for n in names]})
    return {(nsp, rel): (root_nsp, root) for nsp, rel, root_nsp, root in rows}
