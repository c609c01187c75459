"""Health checks of tables and their indexes' storage: cache hit ratios, bloat (tables and btree indexes,
judged by how an index is written), dead tuples against each table's autovacuum trigger, vacuum recency."""

from __future__ import annotations

import math
from typing import Any

from pgtune.checks.limits import (
    _BYTES,
    ADVICE,
    HIGH_WRITE_ROWS,
    Limits,
    Query,
    Result,
    _breaching,
    _ratio,
    _ratios,
    first,
    verdict,
    watched,
)

DATABASE_BLOCKS_SQL = """
SELECT blks_hit::float AS hit, blks_read::float AS read
FROM pg_stat_database WHERE datname = current_database()
"""
TABLE_BLOCKS_SQL = """
SELECT schemaname || '.' || relname AS table, heap_blks_hit::float AS hit, heap_blks_read::float AS read
FROM pg_statio_user_tables
"""
INDEX_BLOCKS_SQL = """
SELECT schemaname || '.' || indexrelname AS index, idx_blks_hit::float AS hit, idx_blks_read::float AS read
FROM pg_statio_user_indexes
"""


def cache_hit_ratio(q: Query, lim: Limits) -> Result:
    row = first(q, DATABASE_BLOCKS_SQL)
    value = _ratio(row["hit"], row["read"])
    detail = "not enough block reads yet to judge" if value is None else f"{value:.2%} of block reads hit the cache"
    return verdict("cache_hit_ratio", lim, value, detail, shown=value and round(value, 4))


def table_cache_hit_ratio(q: Query, lim: Limits) -> Result:
    rows = q(TABLE_BLOCKS_SQL, None)
    judged = _ratios([row for row in rows if not lim.tables or row["table"] in lim.tables], "table")
    worst = min((o["ratio"] for o in judged), default=None)
    detail = "no table has enough reads yet" if worst is None else f"lowest of {len(judged)} busy tables: {worst:.2%}"
    return verdict("table_cache_hit_ratio", lim, worst, detail, objects=_breaching(judged, "ratio", lim, "low"))


def index_cache_hit_ratio(q: Query, lim: Limits) -> Result:
    rows = q(INDEX_BLOCKS_SQL, None)
    total = _ratio(sum(r["hit"] or 0 for r in rows), sum(r["read"] or 0 for r in rows))
    detail = "not enough index reads yet" if total is None else f"{total:.2%} of index block reads hit the cache"
    slow = _breaching(_ratios(rows, "index"), "ratio", lim, "low")
    return verdict("index_cache_hit_ratio", lim, total, detail, shown=total and round(total, 4), objects=slow)


TABLE_BLOAT_SQL = """
SELECT n.nspname || '.' || c.relname AS table, c.relpages::float AS pages, c.reltuples::float AS tuples,
       coalesce((SELECT (regexp_match(o, 'fillfactor=(\\d+)'))[1]::int FROM unnest(c.reloptions) o
                 WHERE o LIKE 'fillfactor=%%'), 100) AS fillfactor,
       (SELECT sum((1 - s.null_frac) * s.avg_width) FROM pg_stats s
         WHERE s.schemaname = n.nspname AND s.tablename = c.relname) AS width,
       (SELECT count(*) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       (SELECT count(*) FROM pg_stats s WHERE s.schemaname = n.nspname AND s.tablename = c.relname) AS stats,
       current_setting('block_size')::int AS block
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND c.relpages::bigint * current_setting('block_size')::int >= %s
"""


def table_bloat(q: Query, lim: Limits) -> Result:
    objects = []
    for row in q(TABLE_BLOAT_SQL, (lim.min_size,)):
        unreliable = row["stats"] < row["columns"] or row["tuples"] <= 0 or row["width"] is None
        tuple_bytes = 24 + 4 + 8 * math.ceil(float(row["width"] or 0) / 8)  # header + line pointer + aligned data
        expected = math.ceil(row["tuples"] * tuple_bytes / ((row["block"] - 24) * row["fillfactor"] / 100))
        bloat = max(0.0, 1 - expected / row["pages"]) if row["pages"] else 0.0
        objects.append(
            {"table": row["table"], "bloat": round(bloat, 3), "pages": int(row["pages"]), "unreliable": unreliable}
        )
    r, reliable = _bloat_result("table_bloat", objects, lim)
    r.detail = (
        f"estimated from pg_stats (±20%; TOAST not counted); {len(objects) - len(reliable)} tables lack statistics"
        if objects
        else "no table above min_size"
    )
    return r


def _bloat_result(name: str, objects: list[dict[str, Any]], lim: Limits) -> tuple[Result, list[dict[str, Any]]]:
    """Judged by the worst reliable estimate; unreliable ones are listed, never judged."""
    reliable = [o for o in objects if not o["unreliable"]]
    worst = max((o["bloat"] for o in reliable), default=None)
    r = Result(name, lim.judge(worst, "high") if reliable else "skipped", worst, suggestion=ADVICE[name])
    r.objects = [o for o in objects if o["unreliable"] or lim.judge(o["bloat"], "high") != "ok"]
    return r, reliable


INDEX_BLOAT_SQL = """
SELECT n.nspname || '.' || ic.relname AS index, ic.relpages::float AS pages, ic.reltuples::float AS tuples,
       (SELECT sum(s.avg_width) FROM pg_attribute a JOIN pg_stats s
          ON s.schemaname = n.nspname AND s.tablename = tc.relname AND s.attname = a.attname
        WHERE a.attrelid = x.indexrelid) AS width,
       x.indexprs IS NOT NULL OR EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = x.indexrelid
          AND NOT EXISTS (SELECT FROM pg_stats s WHERE s.schemaname = n.nspname AND s.tablename = tc.relname
                          AND s.attname = a.attname)) AS unreliable,
       (SELECT s.correlation FROM pg_attribute a JOIN pg_stats s
          ON s.schemaname = n.nspname AND s.tablename = tc.relname AND s.attname = a.attname
        WHERE a.attrelid = x.indrelid AND a.attnum = x.indkey[0] LIMIT 1)::float AS correlation,
       coalesce((SELECT (regexp_match(o, 'fillfactor=(\\d+)'))[1]::int FROM unnest(ic.reloptions) o
                 WHERE o LIKE 'fillfactor=%%'), 90) AS fillfactor,
       current_setting('block_size')::int AS block
FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid JOIN pg_class tc ON tc.oid = x.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace JOIN pg_am am ON am.oid = ic.relam
WHERE am.amname = 'btree' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND ic.relpages::bigint * current_setting('block_size')::int >= %s
"""


IN_ORDER = 0.95
"""|correlation| of the leading key with the heap's order at or above which keys are taken to arrive
in order (serials, insert timestamps of an append-only table): pages split at the right edge and
stay at the index's fillfactor. Below it, keys arrive out of order (random ids, 'step-' || n text
keys, updated rows): pages split in the middle and settle anywhere from half full to ~70%."""


SPLIT_FLOOR = 0.5
"""The fill below which no sequence of page splits leaves a btree leaf: a 50/50 split's halves."""


MIN_INDEX_PAGES = 10
"""Below this the metapage and the root dominate and a fill estimate means nothing."""


def index_fill(row: dict[str, Any]) -> dict[str, Any]:
    """A btree's estimated leaf fill and the bloat that is not natural fill, judged by how it is
    written: against its fillfactor when keys arrive in order, against the 50 % a middle split
    leaves when they do not. Between those two, for an out-of-order index, the estimate cannot
    tell bloat from natural fill, and says so (`indistinct`) instead of paging anyone."""
    entry = 8 + 8 * math.ceil(float(row["width"] or 0) / 8) + 4  # tuple header + aligned key + line pointer
    leaf_pages = max(row["pages"] - 1, 1)  # the metapage holds no keys
    fill = row["tuples"] * entry / (leaf_pages * (row["block"] - 40))  # page header + btree special space
    correlation = row["correlation"]
    fillfactor = row["fillfactor"] / 100
    in_order = correlation is not None and abs(correlation) >= IN_ORDER
    natural = fillfactor if in_order else SPLIT_FLOOR
    bloat = max(0.0, 1 - fill / natural) if row["pages"] else 0.0
    return {
        "index": row["index"],
        "bloat": round(bloat, 3),
        "fill": round(min(fill, 1.0), 3),
        "written": "in order" if in_order else "out of order" if correlation is not None else "unknown",
        "natural_fill": f"{fillfactor:.0%}" if in_order else f"{SPLIT_FLOOR:.0%}-{fillfactor:.0%}",
        "as_if_in_order": round(max(0.0, 1 - fill / fillfactor), 3),  # what a fillfactor-only estimate says
        "pages": int(row["pages"]),
        "unreliable": bool(row["unreliable"]) or row["tuples"] <= 0 or row["pages"] < MIN_INDEX_PAGES,
    }


def index_bloat(q: Query, lim: Limits) -> Result:
    objects = [index_fill(row) for row in q(INDEX_BLOAT_SQL, (lim.min_size,))]
    for o in objects:  # would breach if judged against its fillfactor, but page splits alone leave it so
        o["indistinct"] = (
            o["written"] != "in order" and o["bloat"] == 0 and lim.judge(o.pop("as_if_in_order"), "high") != "ok"
        )
    r, _ = _bloat_result("index_bloat", objects, lim)
    indistinct = [o for o in objects if o["indistinct"] and not o["unreliable"]]
    r.objects += [o for o in indistinct if o not in r.objects]
    r.detail = (
        "btree estimate from pg_stats, judged against the fill its writes leave naturally (its fillfactor for keys "
        "written in order, 50% for keys written out of order); expression indexes, missing stats and indexes under "
        f"{MIN_INDEX_PAGES} pages are marked unreliable"
    )
    if indistinct:
        r.detail += (
            f"; {len(indistinct)} indexes written out of order would breach against their fillfactor, but are "
            "as full as page splits alone leave such an index: the estimate cannot tell bloat from natural fill "
            "there (pgstattuple's pgstatindex can)"
        )
    return r


DEAD_SQL = """
SELECT s.schemaname || '.' || s.relname AS table, s.n_live_tup::float AS live, s.n_dead_tup::float AS dead,
       greatest(c.reltuples, 0)::float AS tuples,
       coalesce(o.threshold, current_setting('autovacuum_vacuum_threshold')::float) AS base,
       coalesce(o.scale, current_setting('autovacuum_vacuum_scale_factor')::float) AS scale,
       coalesce(o.enabled, true) AS enabled, BYTES AS bytes
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
LEFT JOIN LATERAL (
    SELECT max(split_part(x, '=', 2)) FILTER (WHERE x LIKE 'autovacuum_vacuum_threshold=%%')::float AS threshold,
           max(split_part(x, '=', 2)) FILTER (WHERE x LIKE 'autovacuum_vacuum_scale_factor=%%')::float AS scale,
           bool_and(split_part(x, '=', 2)::bool) FILTER (WHERE x LIKE 'autovacuum_enabled=%%') AS enabled
    FROM unnest(c.reloptions) x) o ON true
""".replace("BYTES", _BYTES.format("c"))


def dead_tuples(q: Query, lim: Limits) -> Result:
    objects = []
    small = 0
    for row in q(DEAD_SQL, None):
        trigger = row["base"] + row["scale"] * row["tuples"]
        total = row["live"] + row["dead"]
        if row["dead"] <= trigger or total == 0:
            continue
        if row["bytes"] < lim.min_size:
            small += 1  # below the floor: vacuumed in a moment, its dead rows cost nothing worth a warning
            continue
        ratio = row["dead"] / total
        objects.append(
            {
                "table": row["table"],
                "dead": int(row["dead"]),
                "ratio": round(ratio, 3),
                "autovacuum_trigger": int(trigger),
                "autovacuum_enabled": row["enabled"],
                "scale_factor": row["scale"],
            }
        )
    flagged = _breaching(objects, "ratio", lim, "high")
    worst = max((o["ratio"] for o in objects), default=0.0)
    r = Result("dead_tuples", lim.judge(worst, "high") if objects else "ok", worst, objects=flagged)
    r.detail = (
        f"{len(objects)} tables past their own autovacuum trigger" if objects else "every table below its trigger"
    )
    if small:
        r.detail += f"; {small} smaller than min_size past theirs, not judged"
    if flagged:
        o = max(flagged, key=lambda x: x["ratio"])
        scale = max(round(o["scale_factor"] / 2, 3), 0.01)
        enable = "autovacuum_enabled: true, " if not o["autovacuum_enabled"] else ""
        r.suggestion = (
            f"tables: {{{o['table']}: {{storage: {{{enable}autovacuum_vacuum_scale_factor: {scale}, "
            f"autovacuum_vacuum_threshold: 500}}}}}}"
        )
    return r


RECENCY_SQL = """
SELECT schemaname || '.' || relname AS table, (n_tup_ins + n_tup_upd + n_tup_del)::float AS writes,
       extract(epoch FROM now() - greatest(last_vacuum, last_autovacuum))::float AS since_vacuum,
       extract(epoch FROM now() - greatest(last_analyze, last_autoanalyze))::float AS since_analyze
FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del >= %s
"""


def autovacuum_recency(q: Query, lim: Limits) -> Result:
    """Busy tables not vacuumed and analyzed within the threshold. A table never vacuumed has not
    been in all the time the statistics watched — that long, no longer: so nothing is judged until
    they have watched for `min_age` (by default the warn threshold itself). A freshly loaded
    database is not a neglected one."""
    watch = watched(q)
    needed = lim.min_age if lim.min_age is not None else (lim.warn or 0.0)
    waiting = watch.short_of(needed, "autovacuum_recency")
    if waiting is not None:
        return Result("autovacuum_recency", "skipped", detail=waiting)
    objects = []
    for row in q(RECENCY_SQL, (HIGH_WRITE_ROWS,)):
        # never (None): not within everything watched
        ages = [watch.seconds if a is None else a for a in (row["since_vacuum"], row["since_analyze"])]
        age = max(ages)
        if lim.judge(age, "high") != "ok":
            objects.append(
                {
                    "table": row["table"],
                    "writes": int(row["writes"]),
                    "since_vacuum": row["since_vacuum"],
                    "since_analyze": row["since_analyze"],
                    "age": round(age, 1),
                }
            )
    worst = max((o["age"] for o in objects), default=0.0)
    r = Result("autovacuum_recency", lim.judge(worst, "high") if objects else "ok", worst, objects=objects)
    r.detail = (
        f"{len(objects)} busy tables not vacuumed and analyzed within the threshold, in {watch} "
        "(never: not in all that time)"
    )
    r.suggestion = ADVICE["autovacuum_recency"]
    return r
