"""`pgtune check`: the dozen health queries DBAs run by hand, judged against thresholds.

Every check reads statistics in one read-only transaction under a short statement_timeout and
returns a `Result` (ok | warn | critical | skipped) with its value, the threshold it was judged
by, the objects at fault and, where a profile change can help, that change in profile terms.
Thresholds have documented defaults (`DEFINITIONS`); a profile's `checks:` section overrides
them. Ratios are 0..1, durations accept units (1min), sizes accept units (10MB).

Sources for the queries' logic (written here in pgtune's own words): heroku-pg-extras (cache hit,
vacuum-stats threshold from reloptions, unused indexes, blocking), pgx_scripts (xid age, FKs without
an index, duplicate indexes), ioguix/pgsql-bloat-estimation (bloat estimates and their caveats).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgtune.base.errors import ProfileError, raise_if_any
from pgtune.base.identifiers import InvalidName, parse_qualified, quoted
from pgtune.base.units import UnitError, parse_bytes, parse_seconds
from pgtune.profile.loader import LoadedProfile

STATUSES = ("ok", "warn", "critical", "skipped")
SEVERITY = {"skipped": 0, "ok": 0, "warn": 1, "critical": 2}
CHECK_STATEMENT_TIMEOUT = "5s"
CHECK_LOCK_TIMEOUT = "1s"
"""No check waits longer than this for a lock: they read catalogs and statistics, which need none;
should one ever wait, its verdict names the lock instead of hanging behind a migration."""
_BYTES = (
    "CASE WHEN {0}.oid IN (SELECT l.relation FROM pg_locks l WHERE l.locktype = 'relation' "
    "AND l.mode = 'AccessExclusiveLock') THEN {0}.relpages::bigint * current_setting('block_size')::int "
    "ELSE pg_relation_size({0}.oid) END"
)
"""A relation's size: exact (pg_relation_size, which takes ACCESS SHARE) unless a session holds or awaits
ACCESS EXCLUSIVE on it — then as of its last VACUUM/ANALYZE (pg_class.relpages), read without a lock."""
MIN_BLOCKS = 1000  # below this many block reads a hit ratio means nothing
MIN_XACTS = 100
HIGH_WRITE_ROWS = 10_000


@dataclass(frozen=True)
class Definition:
    name: str
    unit: str  # ratio | duration | count | size
    worse: str  # low | high: which direction breaches
    warn: str | None
    critical: str | None
    doc: str
    min_size: str | None = None
    min_age: str | None = None


DEFINITIONS: dict[str, Definition] = {
    d.name: d
    for d in (
        Definition("cache_hit_ratio", "ratio", "low", "0.95", "0.90", "database buffer cache hit ratio"),
        Definition("table_cache_hit_ratio", "ratio", "low", "0.98", None, "per-table heap hit ratio (busy tables)"),
        Definition("index_cache_hit_ratio", "ratio", "low", "0.99", None, "index blocks found in the buffer cache"),
        Definition("table_bloat", "ratio", "high", "0.30", "0.50", "estimated wasted fraction of tables", "10MB"),
        Definition(
            "index_bloat", "ratio", "high", "0.40", "0.70", "estimated wasted fraction of btree indexes", "10MB"
        ),
        Definition("dead_tuples", "ratio", "high", "0.20", None, "dead rows past the table's own autovacuum trigger"),
        Definition(
            "autovacuum_recency", "duration", "high", "1d", None, "busy tables not vacuumed/analyzed lately"
        ),  # min_age: the warn threshold (an age longer than the statistics watched cannot be seen)
        Definition("long_transactions", "duration", "high", "1min", "10min", "oldest open transaction"),
        Definition("idle_in_transaction", "duration", "high", "5min", None, "sessions idle inside a transaction"),
        Definition("lock_waits", "duration", "high", "10s", None, "sessions waiting for a lock, with who blocks them"),
        Definition("deadlocks", "count", "high", "1", None, "deadlocks since the statistics were reset"),
        Definition("rollback_ratio", "ratio", "high", "0.05", None, "rolled back / all transactions"),
        Definition("connections_used", "ratio", "high", "0.80", "0.95", "client connections / available slots"),
        Definition("xid_age", "ratio", "high", "0.50", "0.75", "xid and multixact age / freeze max age"),
        Definition("replication_lag", "duration", "high", "30s", None, "standby replay lag"),
        Definition("invalid_indexes", "count", "high", "1", None, "indexes left INVALID (failed concurrent builds)"),
        Definition(
            "unused_indexes", "count", "high", "1", None, "indexes never scanned since stats reset", "1MB", "7d"
        ),
        Definition(
            "duplicate_indexes", "count", "high", "1", None, "indexes identical to another (a constraint's too)"
        ),
        Definition(
            "fk_without_index",
            "count",
            "high",
            "1",
            None,
            "foreign keys with no index whose referenced rows are deleted or re-keyed",
            "1MB",
            "7d",
        ),
        Definition("pending_restart", "count", "high", "1", None, "settings waiting for a restart"),
        Definition("file_settings_errors", "count", "high", None, "1", "errors in the configuration files"),
        Definition("top_queries", "count", "high", None, None, "pg_stat_statements top queries by total time"),
    )
}


@dataclass
class Result:
    name: str
    status: str
    value: Any = None
    threshold: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    objects: list[dict[str, Any]] = field(default_factory=list)
    suggestion: str | None = None


@dataclass(frozen=True)
class Limits:
    """Resolved thresholds of one check (numbers in the check's unit)."""

    warn: float | None
    critical: float | None
    min_size: int = 0
    tables: tuple[str, ...] = ()
    min_age: float | None = None  # seconds of statistics history a judgement needs (None: the check's default)
    declared: frozenset[str] = frozenset()  # index names the profile declares: never suggested for removal

    def judge(self, value: float | None, worse: str) -> str:
        if value is None:
            return "skipped"
        for status, limit in (("critical", self.critical), ("warn", self.warn)):
            if limit is None:
                continue
            if (worse == "low" and value < limit) or (worse == "high" and value >= limit):
                return status
        return "ok"


def _number(unit: str, raw: str) -> float:
    if unit == "duration":
        return parse_seconds(raw)
    if unit == "size":
        return float(parse_bytes(raw))
    value = float(raw)
    if unit == "ratio" and not 0 <= value <= 1:
        raise ValueError("a ratio is between 0 and 1")
    return value


def resolve_limits(loaded: LoadedProfile | None) -> tuple[dict[str, Limits], set[str]]:
    """Defaults overlaid with the profile's `checks:`; bad values are profile errors at their position."""
    spec = loaded.profile.checks if loaded is not None else None
    errors: list[ProfileError] = []
    limits: dict[str, Limits] = {}
    for name, d in DEFINITIONS.items():
        override = getattr(spec, name, None) if spec is not None else None
        raw = {"warn": d.warn, "critical": d.critical, "min_size": d.min_size, "min_age": d.min_age}
        if override is not None:
            raw |= {k: v for k, v in override.model_dump(exclude_unset=True).items() if k in raw}
        values: dict[str, float | None] = {}
        for key, text in raw.items():
            if text is None:
                values[key] = None
                continue
            try:
                unit = {"min_size": "size", "min_age": "duration"}.get(key, d.unit)
                values[key] = _number(unit, str(text))
            except (ValueError, UnitError) as exc:
                where = loaded.location(("checks", name, key)) if loaded is not None else None
                errors.append(ProfileError(where, f"checks.{name}.{key}: {exc}"))
        tables = tuple(override.tables) if override is not None else ()
        limits[name] = Limits(
            values.get("warn"),
            values.get("critical"),
            int(values.get("min_size") or 0),
            tables,
            None if values.get("min_age") is None else float(values["min_age"] or 0),
            _declared_indexes(loaded),
        )
    raise_if_any(errors)
    disabled: set[str] = set(spec.disabled) if spec is not None else set()
    return limits, disabled


def _declared_indexes(loaded: LoadedProfile | None) -> frozenset[str]:
    """schema.index of every index the profile declares (present or absent), as the checks name them."""
    if loaded is None:
        return frozenset()
    out = set()
    for key, table in loaded.profile.tables.items():
        try:
            schema, _name = parse_qualified(key)
        except InvalidName:
            continue
        out |= {f"{schema or 'public'}.{index}" for index in table.indexes}
    return frozenset(out)


def _threshold(limits: Limits) -> dict[str, Any]:
    return {k: v for k, v in (("warn", limits.warn), ("critical", limits.critical)) if v is not None}


Query = Callable[[str, Any], list[dict[str, Any]]]

# --- the checks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watch:
    """How long this database's statistics have been collecting: the history a judgement rests on.

    From `stats_reset`, else from the server's start (a lower bound: statistics survive a clean
    restart from PostgreSQL 15 on). A database created on a server that has run for long inherits
    the server's start — its own age is not recorded anywhere a role without file access can read."""

    seconds: float
    was_reset: bool

    def __str__(self) -> str:
        since = "since the statistics were reset" if self.was_reset else "since the server started"
        return f"{_duration(self.seconds)} of statistics ({since})"

    def short_of(self, needed: float, check: str) -> str | None:
        """Why the check waits, or None when the statistics are old enough."""
        if self.seconds >= needed:
            return None
        return f"not judged: {self}, less than the {_duration(needed)} it needs (checks.{check}.min_age)"


WATCH_SQL = (
    "SELECT extract(epoch FROM now() - coalesce(stats_reset, pg_postmaster_start_time()))::float AS seconds, "
    "stats_reset IS NOT NULL AS was_reset FROM pg_stat_database WHERE datname = current_database()"
)


def watched(q: Query) -> Watch:
    [row] = q(WATCH_SQL, None)
    return Watch(max(0.0, float(row["seconds"])), bool(row["was_reset"]))


def _ratio(hit: float, read: float) -> float | None:
    return None if hit + read < MIN_BLOCKS else hit / (hit + read)


def _ratios(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Per-relation hit ratios, for those with enough block reads to judge."""
    out = []
    for row in rows:
        ratio = _ratio(row["hit"] or 0, row["read"] or 0)
        if ratio is not None:
            out.append({key: row[key], "ratio": round(ratio, 4)})
    return out


def _breaching(objects: list[dict[str, Any]], field: str, lim: Limits, worse: str) -> list[dict[str, Any]]:
    return [o for o in objects if lim.judge(o[field], worse) != "ok"]


def cache_hit_ratio(q: Query, lim: Limits) -> Result:
    row = q(
        "SELECT blks_hit::float AS hit, blks_read::float AS read FROM pg_stat_database "
        "WHERE datname = current_database()",
        None,
    )[0]
    value = _ratio(row["hit"], row["read"])
    r = Result("cache_hit_ratio", lim.judge(value, "low"), value and round(value, 4))
    r.detail = "not enough block reads yet to judge" if value is None else f"{value:.2%} of block reads hit the cache"
    r.suggestion = "raise shared_buffers (settings:) or workload.memory, or look for sequential scans"
    return r


def table_cache_hit_ratio(q: Query, lim: Limits) -> Result:
    rows = q(
        "SELECT schemaname || '.' || relname AS table, heap_blks_hit::float AS hit, heap_blks_read::float AS read "
        "FROM pg_statio_user_tables",
        None,
    )
    judged = _ratios([row for row in rows if not lim.tables or row["table"] in lim.tables], "table")
    worst = min((o["ratio"] for o in judged), default=None)
    r = Result("table_cache_hit_ratio", lim.judge(worst, "low"), worst)
    r.objects = _breaching(judged, "ratio", lim, "low")
    r.detail = "no table has enough reads yet" if worst is None else f"lowest of {len(judged)} busy tables: {worst:.2%}"
    r.suggestion = "raise shared_buffers, or add the index these tables are scanned without"
    return r


def index_cache_hit_ratio(q: Query, lim: Limits) -> Result:
    rows = q(
        "SELECT schemaname || '.' || indexrelname AS index, idx_blks_hit::float AS hit, "
        "idx_blks_read::float AS read FROM pg_statio_user_indexes",
        None,
    )
    total = _ratio(sum(r["hit"] or 0 for r in rows), sum(r["read"] or 0 for r in rows))
    r = Result("index_cache_hit_ratio", lim.judge(total, "low"), total and round(total, 4))
    r.objects = _breaching(_ratios(rows, "index"), "ratio", lim, "low")
    r.detail = "not enough index reads yet" if total is None else f"{total:.2%} of index block reads hit the cache"
    r.suggestion = "raise shared_buffers; drop unused indexes that compete for cache"
    return r


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
    r.suggestion = "pg_repack (online) or VACUUM FULL in a window; then lower autovacuum_vacuum_scale_factor (storage:)"
    return r


def _bloat_result(name: str, objects: list[dict[str, Any]], lim: Limits) -> tuple[Result, list[dict[str, Any]]]:
    """Judged by the worst reliable estimate; unreliable ones are listed, never judged."""
    reliable = [o for o in objects if not o["unreliable"]]
    worst = max((o["bloat"] for o in reliable), default=None)
    r = Result(name, lim.judge(worst, "high") if reliable else "skipped", worst)
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
    r.suggestion = "REINDEX INDEX CONCURRENTLY the bloated index"
    return r


DEAD_SQL = """
SELECT s.schemaname || '.' || s.relname AS table, s.n_live_tup::float AS live, s.n_dead_tup::float AS dead,
       greatest(c.reltuples, 0)::float AS tuples,
       coalesce(o.threshold, current_setting('autovacuum_vacuum_threshold')::float) AS base,
       coalesce(o.scale, current_setting('autovacuum_vacuum_scale_factor')::float) AS scale,
       coalesce(o.enabled, true) AS enabled
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
LEFT JOIN LATERAL (
    SELECT max(split_part(x, '=', 2)) FILTER (WHERE x LIKE 'autovacuum_vacuum_threshold=%%')::float AS threshold,
           max(split_part(x, '=', 2)) FILTER (WHERE x LIKE 'autovacuum_vacuum_scale_factor=%%')::float AS scale,
           bool_and(split_part(x, '=', 2)::bool) FILTER (WHERE x LIKE 'autovacuum_enabled=%%') AS enabled
    FROM unnest(c.reloptions) x) o ON true
"""


def dead_tuples(q: Query, lim: Limits) -> Result:
    objects = []
    for row in q(DEAD_SQL, None):
        trigger = row["base"] + row["scale"] * row["tuples"]
        total = row["live"] + row["dead"]
        if row["dead"] <= trigger or total == 0:
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
    r.suggestion = (
        "check autovacuum_enabled on them; raise autovacuum_max_workers or lower autovacuum_naptime (settings:)"
    )
    return r


ACTIVITY = (
    "SELECT pid, application_name AS app, usename AS user, state, left(query, 200) AS query, "
    "extract(epoch FROM now() - {since})::float AS seconds{extra} FROM pg_stat_activity "
    "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND {where}"
)


def _sessions(
    q: Query, lim: Limits, name: str, since: str, where: str, suggestion: str, what: str, extra: str = ""
) -> tuple[Result, list[dict[str, Any]]]:
    """Client sessions matching `where`, judged by how long since `since`; also their rows."""
    rows = q(ACTIVITY.format(since=since, where=where, extra=extra), None)
    worst = max((r["seconds"] for r in rows), default=0.0)
    r = Result(name, lim.judge(worst, "high"), round(worst, 1))
    r.objects = [dict(x) for x in _breaching(rows, "seconds", lim, "high")]
    r.detail = f"{what}: {worst:.0f}s (pid {max(rows, key=lambda x: x['seconds'])['pid']})" if rows else "none"
    r.suggestion = suggestion
    return r, rows


def long_transactions(q: Query, lim: Limits) -> Result:
    return _sessions(
        q,
        lim,
        "long_transactions",
        "xact_start",
        "xact_start IS NOT NULL",
        "find the application holding it; set statement_timeout / idle_in_transaction_session_timeout "
        "for its role (roles: <name>: settings:)",
        "oldest open transaction",
    )[0]


def idle_in_transaction(q: Query, lim: Limits) -> Result:
    return _sessions(
        q,
        lim,
        "idle_in_transaction",
        "state_change",
        "state LIKE 'idle in transaction%%'",
        "set idle_in_transaction_session_timeout (settings:, e.g. 5min)",
        "longest idle in transaction",
    )[0]


def lock_waits(q: Query, lim: Limits) -> Result:
    r, rows = _sessions(
        q,
        lim,
        "lock_waits",
        "query_start",
        "wait_event_type = 'Lock'",
        "end or fix the blocking session; DDL should run under lock_timeout (pgtune apply does)",
        "longest lock wait",
        extra=", pg_blocking_pids(pid) AS blocked_by",
    )
    chains = [f"pid {x['pid']} waits {x['seconds']:.0f}s for pid {', '.join(map(str, x['blocked_by']))}" for x in rows]
    r.detail = "; ".join(chains) if chains else "no session waits for a lock"
    return r


def deadlocks(q: Query, lim: Limits) -> Result:
    row = q("SELECT deadlocks::float AS n, stats_reset FROM pg_stat_database WHERE datname = current_database()", None)[
        0
    ]
    r = Result("deadlocks", lim.judge(row["n"], "high"), int(row["n"]))
    r.detail = f"{int(row['n'])} deadlocks since {row['stats_reset'] or 'the statistics were created'}"
    r.suggestion = "make transactions take rows/tables in one consistent order; see the server log for the statements"
    return r


def rollback_ratio(q: Query, lim: Limits) -> Result:
    row = q(
        "SELECT xact_commit::float AS c, xact_rollback::float AS r FROM pg_stat_database "
        "WHERE datname = current_database()",
        None,
    )[0]
    total = row["c"] + row["r"]
    value = None if total < MIN_XACTS else row["r"] / total
    r = Result("rollback_ratio", lim.judge(value, "high"), value and round(value, 4))
    r.detail = (
        "not enough transactions yet" if value is None else f"{int(row['r'])} of {int(total)} transactions rolled back"
    )
    r.suggestion = "look for failing statements in the application (errors roll back transactions)"
    return r


def connections_used(q: Query, lim: Limits) -> Result:
    row = q(
        "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::float AS used, "
        "current_setting('max_connections')::float - current_setting('superuser_reserved_connections')::float "
        "- coalesce(current_setting('reserved_connections', true), '0')::float AS room",
        None,
    )[0]
    value = row["used"] / row["room"] if row["room"] > 0 else 1.0
    r = Result("connections_used", lim.judge(value, "high"), round(value, 3))
    r.detail = f"{int(row['used'])} of {int(row['room'])} available connections in use"
    r.suggestion = "pool connections (pool: application / pgbouncer) or raise max_connections (settings:)"
    return r


def xid_age(q: Query, lim: Limits) -> Result:
    rows = q(
        "SELECT datname, age(datfrozenxid)::float / current_setting('autovacuum_freeze_max_age')::float AS xid, "
        "mxid_age(datminmxid)::float / current_setting('autovacuum_multixact_freeze_max_age')::float AS mxid "
        "FROM pg_database WHERE datallowconn",
        None,
    )
    worst = max((max(r["xid"], r["mxid"]) for r in rows), default=0.0)
    r = Result("xid_age", lim.judge(worst, "high"), round(worst, 4))
    r.objects = [dict(x) for x in rows if lim.judge(max(x["xid"], x["mxid"]), "high") != "ok"]  # either age
    r.detail = f"oldest database at {worst:.1%} of the freeze max age (xid or multixact)"
    r.suggestion = "VACUUM (FREEZE) the oldest tables; make sure autovacuum is not blocked by long transactions"
    return r


def replication_lag(q: Query, lim: Limits) -> Result:
    rows = q(
        "SELECT application_name AS standby, client_addr::text AS addr, "
        "extract(epoch FROM replay_lag)::float AS seconds FROM pg_stat_replication",
        None,
    )
    if not rows:
        return Result("replication_lag", "skipped", detail="no standbys connected")
    worst = max((r["seconds"] or 0.0 for r in rows), default=0.0)
    r = Result("replication_lag", lim.judge(worst, "high"), worst, objects=[dict(x) for x in rows])
    r.detail = f"{len(rows)} standbys, worst replay lag {worst:.1f}s"
    r.suggestion = "check the standby's I/O and network; consider wal_compression (settings:)"
    return r


def _count_result(name: str, lim: Limits, objects: list[dict[str, Any]], detail: str, suggestion: str | None) -> Result:
    r = Result(name, lim.judge(float(len(objects)), "high"), len(objects), objects=objects)
    r.detail, r.suggestion = detail, suggestion
    return r


def invalid_indexes(q: Query, lim: Limits) -> Result:
    rows = q(
        "SELECT n.nspname || '.' || c.relname AS index, t.relname AS table FROM pg_index x "
        "JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT x.indisvalid",
        None,
    )
    return _count_result(
        "invalid_indexes",
        lim,
        [dict(r) for r in rows],
        f"{len(rows)} invalid indexes",
        "declare each in the profile (pgtune replaces INVALID indexes), or declare it absent",
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
    rows = [r for r in rows if r["index"] not in lim.declared]
    names = ", ".join(r["index"] for r in rows[:3])
    return _count_result(
        "unused_indexes",
        lim,
        [dict(r) for r in rows],
        f"{len(rows)} never scanned in {watch} (indexes the profile declares are not judged)",
        f"set them absent in the profile (tables: <table>: indexes: <name>: absent): {names}" if rows else None,
    )


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds:.0f} s"


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
    objects = [{"indexes": r["indexes"], "table": r["table"], "drop": list(r["names"][1:])} for r in rows]
    drops = [name for o in objects for name in o["drop"]]
    return _count_result(
        "duplicate_indexes",
        lim,
        objects,
        f"{len(rows)} sets of identical indexes",
        f"keep the first of each set (a constraint's, when there is one); declare absent: {', '.join(drops[:5])}"
        if rows
        else None,
    )


FK_SQL = """
WITH fk AS (
    SELECT k.oid, k.conrelid, k.confrelid, k.conkey, k.conname
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
           sum(s.n_tup_hot_upd)::float AS hot_updates, sum(s.n_tup_del)::float AS deletes,
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
       rn.nspname || '.' || r.relname AS referenced,
       coalesce(ra.deletes, 0) AS referenced_deletes,
       coalesce(ra.updates - ra.hot_updates, 0) AS referenced_key_updates,
       coalesce(ta.inserts + ta.updates + ta.deletes, 0) AS writes,
       coalesce(ta.bytes, 0) AS bytes, coalesce(ta.tuples, 0) AS tuples,
       current_setting('block_size')::int AS block
FROM fk JOIN pg_class t ON t.oid = fk.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class r ON r.oid = fk.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
LEFT JOIN activity ta ON ta.root = fk.conrelid LEFT JOIN activity ra ON ra.root = fk.confrelid
ORDER BY 1, 2
""".replace("BYTES", _BYTES.format("c"))


def _size(n: float) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n:.0f} B"


def fk_without_index(q: Query, lim: Limits) -> Result:
    """A foreign key without an index on its columns costs something only when a referenced row is
    deleted or its key updated: each such change scans the referencing table. An index costs every
    write of the referencing table. So each key is weighed on the statistics: the referenced
    table's deletes and non-HOT updates (an upper bound of key updates; a HOT update changes no
    indexed column) against the referencing table's writes. Counted: keys whose scans cost more
    than the index would (pages scanned by those changes ≥ index entries written). Listed, not
    counted: keys whose referenced rows are never deleted nor re-keyed (`organizations` in Letta),
    or whose table is small enough to scan (below min_size). Absence of deletes is judged only
    after `min_age` of statistics; deletes already seen are judged at once."""
    watch = watched(q)
    young = watch.short_of(lim.min_age or 0.0, "fk_without_index")
    objects: list[dict[str, Any]] = []
    counted: list[dict[str, Any]] = []
    for row in q(FK_SQL, None):
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


def pending_restart(q: Query, lim: Limits) -> Result:
    rows = q("SELECT name, setting FROM pg_settings WHERE pending_restart", None)
    return _count_result(
        "pending_restart",
        lim,
        [dict(r) for r in rows],
        f"{len(rows)} settings wait for a restart",
        "restart PostgreSQL in a window" if rows else None,
    )


def file_settings_errors(q: Query, lim: Limits) -> Result:
    rows = q(
        "SELECT sourcefile, sourceline, name, error FROM pg_file_settings WHERE error IS NOT NULL "
        "AND error <> 'setting could not be applied'",
        None,
    )
    return _count_result(
        "file_settings_errors",
        lim,
        [dict(r) for r in rows],
        f"{len(rows)} errors in configuration files",
        "fix the lines named; a reload ignores a broken file" if rows else None,
    )


def top_queries(q: Query, lim: Limits) -> Result:
    present = q(
        "SELECT n.nspname AS schema, c.oid AS view FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "JOIN pg_class c ON c.relnamespace = e.extnamespace AND c.relname = 'pg_stat_statements' "
        "WHERE e.extname = 'pg_stat_statements'",
        None,
    )
    if not present:
        return Result("top_queries", "skipped", detail="pg_stat_statements is not installed in this database")
    # Found in the extension's own schema, whatever the search_path (Letta's is `letta` alone).
    view = quoted(present[0]["schema"], "pg_stat_statements").replace("%", "%%")
    columns = {
        r["attname"]
        for r in q("SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0", (present[0]["view"],))
    }
    total = "total_exec_time" if "total_exec_time" in columns else "total_time"  # renamed in PostgreSQL 13
    rows = q(
        f"SELECT left(query, 200) AS query, calls, {total}::float AS total_ms, "
        f"({total} / greatest(calls, 1))::float AS mean_ms FROM {view} ORDER BY {total} DESC LIMIT 5",
        (),
    )
    r = Result("top_queries", "ok", len(rows), objects=[dict(x) for x in rows])
    r.detail = "top queries by total time (information, never a breach)"
    return r


CHECKS: dict[str, Callable[[Query, Limits], Result]] = {
    f.__name__: f
    for f in (
        cache_hit_ratio,
        table_cache_hit_ratio,
        index_cache_hit_ratio,
        table_bloat,
        index_bloat,
        dead_tuples,
        autovacuum_recency,
        long_transactions,
        idle_in_transaction,
        lock_waits,
        deadlocks,
        rollback_ratio,
        connections_used,
        xid_age,
        replication_lag,
        invalid_indexes,
        unused_indexes,
        duplicate_indexes,
        fk_without_index,
        pending_restart,
        file_settings_errors,
        top_queries,
    )
}


def run(conn: psycopg.Connection, loaded: LoadedProfile | None) -> list[Result]:
    """Every enabled check, read-only, each under a short statement_timeout; a check that cannot
    run (privileges, version) is reported as skipped with the reason, not as a failure."""
    limits, disabled = resolve_limits(loaded)
    results = []
    for name, check in CHECKS.items():
        if name in disabled:
            results.append(Result(name, "skipped", detail="disabled in the profile"))
            continue
        # READ ONLY, and committed: a rolled-back transaction would raise the rollback ratio this
        # very command judges (a read-only transaction writes nothing, so committing changes nothing).
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
                (CHECK_STATEMENT_TIMEOUT, CHECK_LOCK_TIMEOUT),
            )

            def q(sql: str, params: Any) -> list[dict[str, Any]]:
                with conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(sql if params is not None else sql.replace("%%", "%"), params)
                    return cur.fetchall() if cur.description else []

            try:
                with conn.transaction():
                    result = check(q, limits[name])
            except psycopg.errors.LockNotAvailable:
                result = Result(name, "skipped", detail=_lock_verdict(conn))
            except psycopg.Error as exc:
                result = Result(name, "skipped", detail=f"could not run: {exc.diag.message_primary or exc}")
        result.threshold = result.threshold or _threshold(limits[name])
        if result.status in ("ok", "skipped"):
            result.suggestion = None
        results.append(result)
    return results


def _lock_verdict(conn: psycopg.Connection) -> str:
    """What a check waited for: the relations another session holds an exclusive lock on."""
    from pgtune.base.names import qualified_text

    rows = conn.execute(
        "SELECT DISTINCT n.nspname, c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE l.granted AND l.locktype = 'relation' "
        "AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_backend_pid() ORDER BY 1, 2 LIMIT 5"
    ).fetchall()
    held = ", ".join(qualified_text(schema, name) for schema, name in rows)
    where = f" on {held} (held ACCESS EXCLUSIVE by another session)" if held else ""
    return f"waited {CHECK_LOCK_TIMEOUT} for a lock{where}: try again when it is released"


def breached(results: list[Result], fail_on: str) -> bool:
    if fail_on == "never":
        return False
    return any(SEVERITY[r.status] >= SEVERITY[fail_on] for r in results)
