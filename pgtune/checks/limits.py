"""What health checks are judged by: each check's definition and defaults, a profile's overrides
resolved into limits, the result a check returns, and how long statistics have been watching."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pgtune.base.errors import ProfileError, raise_if_any
from pgtune.base.identifiers import InvalidName, parse_qualified
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
        Definition(
            "dead_tuples", "ratio", "high", "0.20", None, "dead rows past the table's own autovacuum trigger", "1MB"
        ),  # min_size: a table this small is vacuumed in milliseconds; its dead rows cost nothing
        Definition(
            "autovacuum_recency", "duration", "high", "1d", None, "busy tables not vacuumed/analyzed lately"
        ),  # min_age: the warn threshold (an age longer than the statistics watched cannot be seen)
        Definition("long_transactions", "duration", "high", "1min", "10min", "oldest open transaction"),
        Definition("idle_in_transaction", "duration", "high", "5min", None, "sessions idle inside a transaction"),
        Definition("lock_waits", "duration", "high", "10s", None, "sessions waiting for a lock, with who blocks them"),
        Definition("deadlocks", "count", "high", "1", None, "deadlocks since the statistics were reset"),
        Definition("rollback_ratio", "ratio", "high", "0.05", None, "rolled back / all transactions"),
        Definition("connections_used", "ratio", "high", "0.80", "0.95", "client connections / available slots"),
        Definition("connection_churn", "rate", "high", "5", None, "new sessions a second (an application not pooling)"),
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


ADVICE: dict[str, str] = {
    "cache_hit_ratio": "raise shared_buffers (settings:) or workload.memory, or look for sequential scans",
    "table_cache_hit_ratio": "raise shared_buffers, or add the index these tables are scanned without",
    "index_cache_hit_ratio": "raise shared_buffers; drop unused indexes that compete for cache",
    "table_bloat": "pg_repack (online) or VACUUM FULL in a window; then lower autovacuum_vacuum_scale_factor "
    "(storage:)",
    "index_bloat": "REINDEX INDEX CONCURRENTLY the bloated index",
    "autovacuum_recency": "check autovacuum_enabled on them; raise autovacuum_max_workers or lower autovacuum_naptime "
    "(settings:)",
    "long_transactions": "find the application holding it; set statement_timeout / idle_in_transaction_session_timeout "
    "for its role (roles: <name>: settings:)",
    "idle_in_transaction": "set idle_in_transaction_session_timeout (settings:, e.g. 5min)",
    "lock_waits": "end or fix the blocking session; DDL should run under lock_timeout (pgtune apply does)",
    "deadlocks": "make transactions take rows/tables in one consistent order; see the server log for the statements",
    "rollback_ratio": "look for failing statements in the application (errors roll back transactions)",
    "connections_used": "pool connections (pool: application / pgbouncer) or raise max_connections (settings:)",
    "connection_churn": "put a pooler in front (PgBouncer in transaction mode: the profile's pool.pgbouncer, with "
    "pool.application.through: pgbouncer) or pool in the application (pool.application.pool: queue); each new "
    "session costs a process fork, authentication and cold caches",
    "xid_age": "VACUUM (FREEZE) the oldest tables; make sure autovacuum is not blocked by long transactions",
    "replication_lag": "check the standby's I/O and network; consider wal_compression (settings:)",
    "invalid_indexes": "declare each in the profile (pgtune replaces INVALID indexes), or declare it absent",
    "pending_restart": "restart PostgreSQL in a window",
    "file_settings_errors": "fix the lines named; a reload ignores a broken file",
}
"""What to do about a breach, per check, where it does not depend on what was found (those checks
build their own, in profile terms)."""


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
class Ownership:
    """Objects another tool owns (a profile's owned_by): suggestions never drop them."""

    who: str
    patterns: tuple[str, ...]
    change: str | None = None


@dataclass(frozen=True)
class Limits:
    """Resolved thresholds of one check (numbers in the check's unit)."""

    warn: float | None
    critical: float | None
    min_size: int = 0
    tables: tuple[str, ...] = ()
    min_age: float | None = None  # seconds of statistics history a judgement needs (None: the check's default)
    declared: frozenset[str] = frozenset()  # index names the profile declares: never suggested for removal
    owners: tuple[Ownership, ...] = ()  # the profile's owned_by

    def owned(self, obj: str) -> str | None:
        """What to say instead of "drop obj" ("schema.name") when another tool owns it — None when
        nobody does, or the profile declares it (then the profile is where it changes)."""
        from pgtune.profile.model import owned_note, owner_of

        if obj in self.declared:
            return None
        who = owner_of(((o.who, o.patterns) for o in self.owners), obj)
        found = next((o for o in self.owners if o.who == who), None)
        return owned_note(found.who, found.change, obj) if found is not None else None

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
    if unit == "rate" and value < 0:
        raise ValueError("a rate (a second) is not negative")
    return value


def resolve_limits(loaded: LoadedProfile | None) -> tuple[dict[str, Limits], set[str]]:
    """Defaults overlaid with the profile's `checks:`; bad values are profile errors at their position."""
    spec = loaded.profile.checks if loaded is not None else None
    errors: list[ProfileError] = []
    limits: dict[str, Limits] = {}
    owners = tuple(
        Ownership(who, tuple(o.objects), o.change)
        for who, o in (loaded.profile.owned_by.items() if loaded is not None else ())
    )
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
            owners,
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
Check = Callable[[Query, "Limits"], "Result"]


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


def _count_result(name: str, lim: Limits, objects: list[dict[str, Any]], detail: str, suggestion: str | None) -> Result:
    return Result(
        name,
        lim.judge(float(len(objects)), "high"),
        len(objects),
        objects=objects,
        detail=detail,
        suggestion=suggestion,
    )


_AS_JUDGED = object()


def verdict(
    name: str,
    lim: Limits,
    value: float | None,
    detail: str,
    *,
    shown: Any = _AS_JUDGED,
    objects: list[dict[str, Any]] | None = None,
) -> Result:
    """A check's result: `value` judged in the direction its definition says is worse, shown as
    `shown` (a rounding) when given, with the check's standing advice."""
    return Result(
        name,
        lim.judge(value, DEFINITIONS[name].worse),
        value if shown is _AS_JUDGED else shown,
        objects=objects or [],
        detail=detail,
        suggestion=ADVICE.get(name),
    )


STATEMENTS_VIEW_SQL = """
SELECT n.nspname AS schema, c.oid AS view,
       EXISTS (SELECT FROM pg_settings WHERE name = 'pg_stat_statements.max') AS loaded
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
JOIN pg_class c ON c.relnamespace = e.extnamespace AND c.relname = 'pg_stat_statements'
WHERE e.extname = 'pg_stat_statements'
"""


def statements_view(q: Query) -> dict[str, Any] | None:
    """pg_stat_statements in this database: its schema (found there, whatever the search_path:
    Letta's is `letta` alone), the view's oid, and whether the library is loaded (a view without it
    errors when read); None when the extension is not installed."""
    rows = q(STATEMENTS_VIEW_SQL, None)
    return dict(rows[0]) if rows else None


def first(q: Query, statement: str) -> dict[str, Any]:
    """The row of a one-row statistics query."""
    return q(statement, None)[0]


def listed(name: str, statement: str, detail: str, *, always: bool = False) -> Check:
    """A check that counts what `statement` lists, every row a finding; `detail` is formatted with
    `n`, the count; the check's advice is given when something was found (or `always`)."""

    def check(q: Query, lim: Limits) -> Result:
        rows = [dict(r) for r in q(statement, None)]
        advice = ADVICE[name] if rows or always else None
        return _count_result(name, lim, rows, detail.format(n=len(rows)), advice)

    check.__name__ = name
    return check


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds:.0f} s"


def _size(n: float) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n:.0f} B"
