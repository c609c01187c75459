"""Health checks of indexes as structures: invalid, unused, duplicate, and foreign keys without one
(weighed on what the tables really do)."""

from __future__ import annotations

import math
from typing import Any

from pgtune.base.identifiers import quoted
from pgtune.checks.limits import _BYTES, Limits, Query, Result, _count_result, _size, listed, statements_view, watched

invalid_indexes = listed(
    "invalid_indexes",
    "SELECT n.nspname || '.' || c.relname AS index, t.relname AS table FROM pg_index x "
    "JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT x.indisvalid",
    "{n} invalid indexes",
    always=True,
)


def unused_indexes(q: Query, lim: Limits) -> Result:
    """Never scanned — judged only after `min_age` of statistics, and never an index the profile
    declares (it was put there on purpose: a quiet database is not evidence against it)."""
    watch = watched(q)
    waiting = watch.short_of(lim.min_age or 0.0, "unused_indexes")
    if waiting is not None:
        return Result("unused_indexes", "skipped", detail=waiting)
    rows = q(
        "SELECT s.schemaname || '.' || s.indexrelname AS index, s.schemaname || '.' || s.relname AS table, "
        f"{_BYTES.format('i')} AS bytes FROM pg_stat_user_indexes s "
        "JOIN pg_index x ON x.indexrelid = s.indexrelid JOIN pg_class i ON i.oid = s.indexrelid "
        "WHERE s.idx_scan = 0 AND NOT x.indisunique AND x.indisvalid "
        "AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = s.indexrelid) "
        f"AND {_BYTES.format('i')} >= %s",
        (lim.min_size,),
    )
    rows = [dict(r) for r in rows if r["index"] not in lim.declared]
    for r in rows:
        r["owned"] = lim.owned(r["index"])
    ours = [r["index"] for r in rows if r["owned"] is None]
    theirs = [r["owned"] for r in rows if r["owned"] is not None]
    advice = []
    if ours:
        advice.append(
            f"set them absent in the profile (tables: <table>: indexes: <name>: absent): {', '.join(ours[:3])}"
        )
    advice += theirs[:3]
    return _count_result(
        "unused_indexes",
        lim,
        rows,
        f"{len(rows)} never scanned in {watch} (indexes the profile declares are not judged)",
        "; ".join(advice) if advice else None,
    )


def duplicate_indexes(q: Query, lim: Limits) -> Result:
    """Indexes with the same columns, operator classes, collations, expressions, predicate and
    access method — a constraint's index included (a plain index beside a UNIQUE constraint on the
    same columns serves nothing the constraint's does not). The one to keep is the constraint's."""
    rows = q(
        "SELECT string_agg(n.nspname || '.' || c.relname || CASE WHEN k.conname IS NOT NULL "
        "THEN ' (constraint ' || k.conname || ')' WHEN x.indisunique THEN ' (unique)' ELSE '' END, ', ' "
        "ORDER BY k.conname IS NULL, NOT x.indisunique, c.relname) AS indexes, "
        "array_agg(n.nspname || '.' || c.relname ORDER BY k.conname IS NULL, NOT x.indisunique, c.relname) AS names, "
        "min(t.relname) AS table FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
        "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_constraint k ON k.conindid = x.indexrelid AND k.contype IN ('p', 'u', 'x') "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND x.indisvalid "
        "GROUP BY x.indrelid, x.indkey::text, x.indclass::text, x.indcollation::text, "
        "coalesce(pg_get_expr(x.indexprs, x.indrelid), ''), coalesce(pg_get_expr(x.indpred, x.indrelid), ''), "
        "c.relam HAVING count(*) > 1",
        None,
    )
    objects = []
    for r in rows:
        extra = list(r["names"][1:])
        owned = {name: lim.owned(name) for name in extra}
        drop = [name for name in extra if owned[name] is None]
        o = {"indexes": r["indexes"], "table": r["table"], "drop": drop}
        o["owned"] = [note for note in owned.values() if note is not None]
        objects.append(o)
    drops = [name for o in objects for name in o["drop"]]
    notes = [note for o in objects for note in o["owned"]]
    advice = []
    if drops:
        advice.append(
            f"keep the first of each set (a constraint's, when there is one); declare absent: {', '.join(drops[:5])}"
        )
    if notes:
        advice.append("; ".join(notes[:3]) + " (the duplicate goes there, not in the profile)")
    return _count_result(
        "duplicate_indexes", lim, objects, f"{len(rows)} sets of identical indexes", "; ".join(advice) or None
    )


FK_SQL = """
WITH fk AS (
    SELECT k.oid, k.conrelid, k.confrelid, k.conkey, k.confkey, k.conname
    FROM pg_constraint k
    WHERE k.contype = 'f' AND k.conparentid = 0  -- a partitioned table's key once, not per partition
      AND NOT EXISTS (
        SELECT FROM pg_index x WHERE x.indrelid = k.conrelid
          AND (x.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey
          AND (x.indkey::int2[])[0:cardinality(k.conkey) - 1] <@ k.conkey)
), tree AS (  -- each table with its partitions, from pg_inherits (pg_partition_tree would lock them)
    WITH RECURSIVE down(root, rel) AS (
        SELECT conrelid, conrelid FROM fk UNION SELECT confrelid, confrelid FROM fk
        UNION SELECT down.root, i.inhrelid FROM down JOIN pg_inherits i ON i.inhparent = down.rel
              JOIN pg_class ch ON ch.oid = i.inhrelid AND ch.relispartition
    )
    SELECT down.root, down.rel AS leaf FROM down JOIN pg_class c ON c.oid = down.rel WHERE c.relkind <> 'p'
), activity AS (
    SELECT tree.root, sum(s.n_tup_ins)::float AS inserts, sum(s.n_tup_upd)::float AS updates,
           sum(s.n_tup_del)::float AS deletes,
           sum(BYTES)::float AS bytes,
           sum(greatest(c.reltuples, 0))::float AS tuples
    FROM tree JOIN pg_class c ON c.oid = tree.leaf
    LEFT JOIN pg_stat_user_tables s ON s.relid = tree.leaf
    GROUP BY tree.root
)
SELECT n.nspname || '.' || t.relname AS table, fk.conname AS constraint,
       (SELECT array_agg(a.attname ORDER BY u.ord) FROM unnest(fk.conkey) WITH ORDINALITY u(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = fk.conrelid AND a.attnum = u.attnum) AS columns,
       (SELECT sum(coalesce(s.avg_width, 8)) FROM unnest(fk.conkey) u(attnum)
          JOIN pg_attribute a ON a.attrelid = fk.conrelid AND a.attnum = u.attnum
          LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = t.relname AND s.attname = a.attname
       )::float AS width,
       rn.nspname || '.' || r.relname AS referenced, rn.nspname AS referenced_schema, r.relname AS referenced_table,
       (SELECT array_agg(a.attname ORDER BY u.ord) FROM unnest(fk.confkey) WITH ORDINALITY u(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = fk.confrelid AND a.attnum = u.attnum) AS referenced_columns,
       coalesce(ra.deletes, 0) AS referenced_deletes,
       coalesce(ta.inserts + ta.updates + ta.deletes, 0) AS writes,
       coalesce(ta.bytes, 0) AS bytes, coalesce(ta.tuples, 0) AS tuples,
       current_setting('block_size')::int AS block
FROM fk JOIN pg_class t ON t.oid = fk.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class r ON r.oid = fk.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
LEFT JOIN activity ta ON ta.root = fk.conrelid LEFT JOIN activity ra ON ra.root = fk.confrelid
ORDER BY 1, 2
""".replace("BYTES", _BYTES.format("c"))


MAX_UPDATE_STATEMENTS = 5000
"""UPDATE statements read from pg_stat_statements, the most called first: bounded like every answer."""


def _key_updates(q: Query) -> dict[tuple[str | None, str], list[tuple[frozenset[str], float]]] | None:
    """The workload's UPDATEs per table they write: (columns SET, rows updated), from
    pg_stat_statements in this database; None where it is not installed and loaded."""
    from pgtune.base.updates import updates_in

    present = statements_view(q)
    if present is None or not present["loaded"]:
        return None
    view = quoted(present["schema"], "pg_stat_statements").replace("%", "%%")
    rows = q(
        f"SELECT query, rows::float AS rows FROM {view} "
        "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND query ~* '\\mupdate\\M' ORDER BY calls DESC LIMIT %s",
        (MAX_UPDATE_STATEMENTS,),
    )
    out: dict[tuple[str | None, str], list[tuple[frozenset[str], float]]] = {}
    for row in rows:
        for update in updates_in(row["query"] or "") or ():
            out.setdefault((update.schema, update.table), []).append((update.columns, float(row["rows"])))
    return out


def _rekeyed(updates: dict[tuple[str | None, str], list[tuple[frozenset[str], float]]], row: dict[str, Any]) -> float:
    """Rows of the referenced table whose key an UPDATE set (an unqualified name counts for the table
    of that name in any schema: the workload's search_path is not known here)."""
    key = set(row["referenced_columns"] or ())
    found = updates.get((row["referenced_schema"], row["referenced_table"]), [])
    found += updates.get((None, row["referenced_table"]), [])
    return sum(n for columns, n in found if columns & key)


def fk_without_index(q: Query, lim: Limits) -> Result:
    """A foreign key without an index on its columns costs something only when a referenced row is
    deleted or its key updated: each such change scans the referencing table. An index costs every
    write of the referencing table. So each key is weighed on what the tables do: the referenced
    table's deletes, and the rows whose referenced key an UPDATE set (pg_stat_statements' UPDATE
    statements, read with the parser; without it only deletes count, and the detail says so — an
    update that keeps the key, however frequent, scans nothing), against the referencing table's
    writes. Counted: keys whose scans cost more than the index would (pages scanned by those
    changes ≥ index entries written). Listed, not counted: keys whose referenced rows are never
    deleted nor re-keyed (`organizations` in Letta), or whose table is small enough to scan (below
    min_size). Absence of deletes is judged only after `min_age` of statistics; deletes already
    seen are judged at once."""
    watch = watched(q)
    young = watch.short_of(lim.min_age or 0.0, "fk_without_index")
    objects: list[dict[str, Any]] = []
    counted: list[dict[str, Any]] = []
    fks = q(FK_SQL, None)
    updates = _key_updates(q) if fks else {}
    for row in fks:
        row = dict(row)
        row["referenced_key_updates"] = _rekeyed(updates, row) if updates is not None else 0.0
        changes = row["referenced_deletes"] + row["referenced_key_updates"]
        pages = row["bytes"] / row["block"]
        entry = 8 + 8 * math.ceil(float(row["width"] or 8) / 8) + 4
        index_bytes = row["tuples"] * entry / 0.9
        o = {
            "table": row["table"],
            "constraint": row["constraint"],
            "columns": list(row["columns"]),
            "referenced": row["referenced"],
            "referenced_deletes": int(row["referenced_deletes"]),
            "referenced_key_updates": int(row["referenced_key_updates"]),
            "writes": int(row["writes"]),
            "table_bytes": int(row["bytes"]),
            "index_bytes": int(index_bytes),
        }
        if row["bytes"] < max(lim.min_size, 1):
            o["verdict"] = f"{row['table']} is {_size(row['bytes'])}: a scan costs little (below min_size)"
        elif changes > 0 and changes * pages >= row["writes"]:
            o["verdict"] = (
                f"needed: {int(changes)} deletes or key updates of {row['referenced']} in {watch} each scanned "
                f"{row['table']} ({_size(row['bytes'])})"
            )
            counted.append(o)
        elif changes > 0:
            o["verdict"] = (
                f"not worth it: {int(changes)} deletes or key updates of {row['referenced']} scanned "
                f"{_size(changes * row['bytes'])} in all, fewer pages than the {int(row['writes'])} writes of "
                f"{row['table']} the index would have had to take"
            )
        elif young is not None:
            o["verdict"] = f"{young}: no deletes or key updates of {row['referenced']} yet"
        else:
            o["verdict"] = (
                f"not needed: no deletes or key updates of {row['referenced']} in {watch}; an index would cost "
                f"each of {row['table']}'s writes and save nothing"
            )
        objects.append(o)
    r = Result("fk_without_index", lim.judge(float(len(counted)), "high"), len(counted))
    r.objects = counted + [o for o in objects if o not in counted]
    r.detail = (
        f"{len(counted)} of {len(objects)} foreign keys without an index cost scans worth an index, weighed on {watch}"
    )
    if updates is None:
        r.detail += (
            "; key updates not counted: pg_stat_statements is not in this database, so only deletes of referenced "
            "rows are (an update that keeps the key scans nothing)"
        )
    elif objects:
        r.detail += "; key updates from pg_stat_statements' UPDATE statements that set a referenced key"
    if counted:
        o = max(counted, key=lambda x: x["referenced_deletes"] + x["referenced_key_updates"])
        name = "ix_" + o["table"].split(".", 1)[1] + "_" + "_".join(o["columns"])
        r.suggestion = (
            f"tables: {{{o['table']}: {{indexes: {{{name}: {{columns: [{', '.join(o['columns'])}]}}}}}}}} — "
            f"about {_size(o['index_bytes'])}, written on each insert and key update of {o['table']} "
            f"({o['writes']} writes in {watch}); saves a scan of {_size(o['table_bytes'])} on each delete or key "
            f"update of {o['referenced']}"
        )
    return r
