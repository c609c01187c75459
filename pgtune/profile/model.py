"""The profile schema: pydantic models at the boundary between YAML and the engine.

Values stay the text the user wrote (see `source.py`); only the server knows a setting's type,
so settings are typed later against `pg_settings`. Field descriptions double as editor hover
docs through the JSON Schema (`pgtune schema`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    WithJsonSchema,
    create_model,
    model_validator,
)

from pgtune.base.names import name_bytes_problem
from pgtune.base.units import UnitError, parse_bytes, parse_seconds

SETTING_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
PROFILE_NAME_PATTERN = r"^[a-z0-9_-]+$"
PATTERN_MEANINGS = {
    SETTING_NAME_PATTERN: "a setting name is letters, digits and '_', optionally dotted (pg_stat_statements.max)",
    PROFILE_NAME_PATTERN: "must be lower-case letters, digits, '_' or '-'",
}


@dataclass(frozen=True)
class FormulaValue:
    """`{formula: '{DBInstanceClassMemory/32768}'}`: a value RDS computes per instance class. Only a
    parameter group runs one; checked with RDS's grammar as the profile loads."""

    formula: str

    def __str__(self) -> str:
        return self.formula


def _setting_value(value: Any) -> Any:
    """Accept a scalar, a list of scalars, a formula, or null; reject anything else with one clear message."""
    if value is None or isinstance(value, str | FormulaValue):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, dict) and list(value) == ["formula"] and isinstance(value["formula"], str):
        from pgtune.integrations.rds.formula import FormulaError, parse

        try:
            parse(value["formula"])
        except FormulaError as exc:
            raise ValueError(f"formula: {exc}") from None
        return FormulaValue(value["formula"].strip())
    raise ValueError(
        "a setting value must be a scalar, a list of scalars, or null (null = reset); "
        "in an RDS parameter group also {formula: '...'}"
    )


SettingName = Annotated[str, StringConstraints(pattern=SETTING_NAME_PATTERN, max_length=63)]
YAML_SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean"]}
"""How editors should see a value pgtune reads as text: YAML may type it as a number or boolean."""
Scalar = Annotated[str, WithJsonSchema(YAML_SCALAR)]
OptionalScalar = Annotated[str | None, WithJsonSchema({"type": ["string", "number", "boolean", "null"]})]

FORMULA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"formula": {"type": "string"}},
    "required": ["formula"],
    "additionalProperties": False,
}
SettingValue = Annotated[
    str | list[str] | FormulaValue | None,
    BeforeValidator(_setting_value),
    WithJsonSchema({"anyOf": [YAML_SCALAR, {"type": "array", "items": YAML_SCALAR}, FORMULA_SCHEMA, {"type": "null"}]}),
]


def _scoped_value(value: Any) -> Any:
    if isinstance(value, dict):
        raise ValueError("a formula is a parameter-group value: only server-wide settings: take one")
    return _setting_value(value)


ScopedValue = Annotated[
    str | list[str] | None,
    BeforeValidator(_scoped_value),
    WithJsonSchema({"anyOf": [YAML_SCALAR, {"type": "array", "items": YAML_SCALAR}, {"type": "null"}]}),
]
"""Per-database/role settings and storage parameters: no formulas (a parameter group holds only server-wide ones)."""
SettingsMap = dict[SettingName, SettingValue]
ScopedMap = dict[SettingName, ScopedValue]


class _Strict(BaseModel):
    # defer_build: a model's validator is built when first used — a profile of settings alone never
    # builds the schema of tables, pools or checks (`validate_profile`).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ScopedSettings(_Strict):
    """Settings for one database or role, written with ALTER DATABASE/ROLE ... SET."""

    settings: ScopedMap = Field(
        default_factory=dict,
        description="GUC name -> value in PostgreSQL syntax; null removes the override (RESET).",
    )


StorageName = Annotated[str, StringConstraints(pattern=r"^(toast\.)?[a-z_]+$", max_length=80)]


def _fits_namedatalen(value: str) -> str:
    if len(value) <= 15:  # at most 4 bytes a character: fits, whatever it holds (most names; 40,000 in a fleet)
        return value
    problem = name_bytes_problem(value)
    if problem:
        raise ValueError(problem)
    return value


IndexName = Annotated[str, StringConstraints(min_length=1, max_length=63), AfterValidator(_fits_namedatalen)]
LowerName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$", max_length=63)]
"""A lower-case word: access methods, index options, PgBouncer settings."""


def _folded(value: Any) -> Any:
    """SQL folds unquoted words to lower case: `GIN`, `FILLFACTOR` are `gin`, `fillfactor`."""
    return value.lower() if isinstance(value, str) else value


FoldedName = Annotated[LowerName, BeforeValidator(_folded)]
"""An SQL word as the server reads it unquoted (case-insensitive): access methods, WITH keys."""


def scalar_of(what: str) -> Any:
    """A text value that must be a scalar; a mapping or list is refused naming `what` takes it."""

    def check(value: Any) -> Any:
        if isinstance(value, str):
            return value
        raise ValueError(f"{what} takes a scalar value")

    return Annotated[Scalar, BeforeValidator(check)]


class IndexSpec(_Strict):
    """One index, declared by its definition; the name is the identity (schema = the table's)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    columns: list[str] = Field(
        min_length=1,
        description='Key columns in order: a name, "name DESC NULLS LAST", "name text_pattern_ops", "(lower(name))".',
    )
    include: list[str] = Field(default_factory=list, description="Non-key columns stored in the index (INCLUDE).")
    where: str | None = Field(default=None, description="Predicate of a partial index, in SQL.")
    unique: bool = Field(default=False, description="A UNIQUE index (the build fails on duplicates).")
    method: FoldedName = Field(default="btree", description="Access method: btree, hash, gin, gist, brin, hnsw ...")
    with_: dict[FoldedName, scalar_of("an index storage parameter")] = Field(  # type: ignore[valid-type]
        default_factory=dict, alias="with", description="Index storage parameters, e.g. {fillfactor: 90}."
    )
    nulls_not_distinct: bool = Field(default=False, description="UNIQUE NULLS NOT DISTINCT (PostgreSQL 15+).")

    @property
    def parts(self) -> tuple[bool, str, tuple[str, ...], tuple[str, ...], bool, str | None]:
        """The definition (WITH options aside) as one hashable value, worked out once: what a plan
        caches printed forms and parses by (a fleet's tables declare a handful of distinct indexes).
        Kept as functools.cached_property keeps it (pydantic compares fields only), without the lock
        Python 3.11 takes on every first access: 40,000 of them in a fleet's plan. (`model_copy`
        is the one way to change a field of this frozen model: it forgets what was kept.)"""
        found: tuple[bool, str, tuple[str, ...], tuple[str, ...], bool, str | None] | None = self.__dict__.get("parts")
        if found is None:
            found = self.__dict__["parts"] = (
                self.unique,
                self.method,
                tuple(self.columns),
                tuple(self.include),
                self.nulls_not_distinct,
                self.where,
            )
        return found

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> IndexSpec:
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop("parts", None)
        return copied


def _index_tag(value: Any) -> str:
    return "<absent>" if isinstance(value, str) else "<index>"


IndexEntry = Annotated[
    Annotated[IndexSpec, Tag("<index>")] | Annotated[Literal["absent"], Tag("<absent>")],
    Discriminator(_index_tag),
]
"""An index definition, or the word `absent` (drop it); tags keep errors to the branch written."""
UNION_TAGS = frozenset({"<index>", "<absent>"})


PartitionName = Annotated[str, StringConstraints(min_length=1, max_length=63), AfterValidator(_fits_namedatalen)]


class PartitioningSpec(_Strict):
    """Partitions of a table the application already partitioned (its migrations own the parent)."""

    strategy: Literal["range", "list"] = Field(description="range (time or integer ranges) or list.")
    key: str = Field(description="The partition key column, as the parent declares it.")
    interval: OptionalScalar = Field(
        default=None,
        description="range: 1 hour | 1 day | 1 week | 1 month | 3 months | 1 year, or an integer for id ranges.",
    )
    premake: Annotated[int, Field(ge=0, le=1000)] = Field(
        default=4, description="range: partitions kept ahead of the one holding now (pg_partman's default is 4)."
    )
    start: OptionalScalar = Field(
        default=None, description="range: earliest partition to ensure (a date/time or an integer); default: now's."
    )
    retention: OptionalScalar = Field(
        default=None, description="range: partitions wholly older than now - retention are retired (e.g. 12 months)."
    )
    retention_action: Literal["detach", "drop"] = Field(
        default="detach", description="detach (keep the table) or drop (DELETES_DATA hazard)."
    )
    default_partition: bool = Field(default=False, description="Ensure a DEFAULT partition exists.")
    naming: str | None = Field(
        default=None,
        description="Partition name template: {table} {year} {month} {day} {hour} {isoyear} {week} {quarter} {lower}.",
    )
    move_default_rows: bool = Field(
        default=False,
        description="Move rows sitting in the default partition into a partition being created (DATA_MOVE hazard).",
    )
    partitions: dict[PartitionName, list[Scalar]] = Field(
        default_factory=dict, description="list: partition name -> the values it holds."
    )


class TableSpec(_Strict):
    """What pgtune manages on one table."""

    storage: dict[StorageName, ScopedValue] = Field(
        default_factory=dict,
        description="Storage parameters (reloptions): autovacuum_*, fillfactor, toast.* ... "
        "null removes the parameter (RESET). On a partitioned table they apply to every leaf partition.",
    )
    indexes: dict[IndexName, IndexEntry] = Field(
        default_factory=dict,
        description="Index name -> definition, built with CREATE INDEX CONCURRENTLY; 'absent' drops it.",
    )
    prune_indexes: bool = Field(
        default=False,
        description="Drop indexes on this table that the profile does not list (never one backing a constraint).",
    )
    partitioning: PartitioningSpec | None = Field(
        default=None, description="Keep time/integer range partitions ahead of now, retire old ones, list partitions."
    )


def _with_unit(value: Any, parse: Callable[[str], float], expected: str, example: str) -> float:
    """`value` parsed by `parse`, or a ValueError saying what was expected."""
    if not isinstance(value, str):
        raise ValueError(expected)
    try:
        return parse(value)
    except UnitError as exc:
        raise ValueError(f"{exc} ({example})") from None


def _duration(value: Any) -> Any:
    """Seconds from `30`, `30s`, `5min`, `1h`, `500ms`; -1 means off (SQLAlchemy's pool_recycle)."""
    expected = "a duration is a number of seconds or a number with a unit (30s, 5min, 1h)"
    seconds = _with_unit(value, parse_seconds, expected, "a duration: 30, 30s, 5min, 1h")
    if seconds < 0 and seconds != -1:
        raise ValueError("a duration cannot be negative (-1 means off)")
    return seconds


Duration = Annotated[
    float, BeforeValidator(_duration), WithJsonSchema({"type": ["string", "number"], "examples": ["30s", "5min", 30]})
]


class ApplicationPool(_Strict):
    """Application-side pools (SQLAlchemy-style), one per process; defaults are SQLAlchemy's."""

    instances: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=1, description="Processes (or workers) that each hold a pool."
    )
    pool_size: Annotated[int, Field(ge=0, le=100_000)] = Field(
        default=5, description="Connections each pool keeps (SQLAlchemy pool_size; 0 = no limit)."
    )
    max_overflow: Annotated[int, Field(ge=-1, le=100_000)] = Field(
        default=10, description="Extra connections a pool may open under load (-1 = no limit)."
    )
    pool_timeout: Duration = Field(default=30.0, description="How long a checkout waits for a connection.")
    pool_recycle: Duration = Field(default=-1.0, description="Connections older than this are replaced (-1 = never).")
    prepared_statements: bool = Field(
        default=False,
        description="The driver uses protocol-level prepared statements (asyncpg's statement cache, "
        "psycopg's prepare_threshold): unsafe with PgBouncer transaction pooling before 1.21.",
    )
    through: Literal["direct", "pgbouncer"] = Field(
        default="direct", description="Where the pools connect: straight to PostgreSQL, or to PgBouncer."
    )
    pool: Literal["queue", "none"] = Field(
        default="queue",
        description="queue: a bounded pool (pool_size + max_overflow); none: no pool — every session opens its own "
        "connection and closes it (SQLAlchemy's NullPool, Letta's default), so connections = concurrency.",
    )
    concurrency: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        default=None,
        description="With pool: none, the sessions a process runs at once (each holds a connection): the peak is "
        "instances x concurrency. Without it an unpooled application is unbounded.",
    )

    @model_validator(mode="after")
    def _concurrency_needs_no_pool(self) -> ApplicationPool:
        if self.concurrency is not None and self.pool != "none":
            raise ValueError("concurrency is for pool: none (a pooled application's peak is pool_size + max_overflow)")
        return self


class Owner(_Strict):
    """Objects another tool creates and changes (an application's migrations): pgtune never suggests dropping
    them and never prunes them; its suggestions name the owner and where to change them instead."""

    objects: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        min_length=1, description='Glob patterns ("schema.name") of the tables and indexes it owns: letta.*, *.ix_*.'
    )
    change: str | None = Field(
        default=None,
        max_length=300,
        description="Where a change to them belongs, shown in suggestions (a new Alembic revision in ...).",
    )


def owner_of(owners: Iterable[tuple[str, Iterable[str]]], target: str) -> str | None:
    """Who owns "schema.name": the first owner with a matching pattern (case-sensitive, like the
    catalog) — the one rule behind owned_by, for the checks' suggestions and for pruning."""
    from fnmatch import fnmatchcase

    return next((who for who, patterns in owners if any(fnmatchcase(target, p) for p in patterns)), None)


def owned_note(who: str, change: str | None, obj: str) -> str:
    """What a suggestion says of an object another tool owns: who, and where a change belongs."""
    where = change or f"{who}, not here (it would undo or trip over a change made behind its back)"
    return f"{obj} is owned by {who}: change it in {where}"


class PgBouncerSpec(_Strict):
    """A live PgBouncer pgtune converges through its admin console (and, optionally, its ini file)."""

    admin_dsn: str | None = Field(
        default=None,
        description="Admin console DSN (database pgbouncer). $PGTUNE_PGBOUNCER_DSN overrides it; "
        "without either, the settings only feed the capacity check.",
    )
    config_file: str | None = Field(
        default=None,
        description="pgbouncer.ini to keep in step (relative paths: to this profile), so changes survive RELOAD.",
    )
    pools: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=1, description="(database, user) pairs connecting through PgBouncer: each gets its own pool."
    )
    settings: dict[LowerName, scalar_of("a PgBouncer setting")] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="[pgbouncer] settings: pool_mode, default_pool_size, query_wait_timeout ..."
    )


class PoolSpec(_Strict):
    """Connection capacity: application pools, PgBouncer, and how they fit the server."""

    application: ApplicationPool | None = Field(default=None, description="Application-side pools.")
    pgbouncer: PgBouncerSpec | None = Field(default=None, description="PgBouncer in front of the server.")
    other_connections: Annotated[int, Field(ge=0, le=100_000)] = Field(
        default=0, description="Direct connections from everything else (migrations, cron, monitoring, psql)."
    )
    capacity: Literal["error", "warn"] = Field(
        default="error", description="What a capacity violation is: a plan error, or a warning."
    )


def _memory(value: Any) -> Any:
    if value == "auto":
        return value
    size = _with_unit(value, parse_bytes, "memory is a size (16GB, 512MB) or auto", "a size: 16GB, 512MB, or auto")
    if size < 64 * 1024 * 1024:
        raise ValueError("memory must be at least 64MB")
    return value


class WorkloadSpec(_Strict):
    """The machine and the workload: settings are derived from them with le0pard's PGTune formulas."""

    type: Literal["web", "oltp", "dw", "desktop", "mixed"] = Field(description="What the database serves.")
    memory: Annotated[
        str, BeforeValidator(_memory), WithJsonSchema({"type": "string", "examples": ["16GB", "auto"]})
    ] = Field(description="RAM available to PostgreSQL (16GB), or auto (read on the database host).")
    cpus: Annotated[int, Field(ge=1, le=4096)] | Literal["auto"] | None = Field(
        default=None, description="CPUs available to PostgreSQL, or auto; parallel settings need 4 or more."
    )
    storage: Literal["ssd", "nvme", "hdd", "san"] = Field(default="ssd", description="What the data lives on.")
    connections: Annotated[int, Field(ge=1, le=262143)] | None = Field(
        default=None, description="max_connections; default per type as PGTune (web 200, oltp 300, dw 40 ...)."
    )
    pg_version: Annotated[int, Field(ge=10, le=30)] | None = Field(
        default=None, description="PostgreSQL major version the values are for; default: the connected server's."
    )
    db_size: Literal["less_than_ram", "around_ram", "more_than_ram"] = Field(
        default="around_ram", description="How the data compares with RAM (tunes random_page_cost and work_mem)."
    )


class CheckLimits(_Strict):
    """Thresholds of one health check: ratios 0..1, durations (1min), counts; see README "Health checks"."""

    warn: OptionalScalar = Field(default=None, description="Status warn at or beyond this value.")
    critical: OptionalScalar = Field(default=None, description="Status critical at or beyond this value.")
    min_size: OptionalScalar = Field(default=None, description="Ignore relations smaller than this (10MB).")
    min_age: OptionalScalar = Field(
        default=None,
        description="Checks that need history (unused_indexes, fk_without_index, autovacuum_recency): judge only "
        "after the statistics have watched this long (since stats_reset, else since the server started); default "
        "7d, the warn threshold for autovacuum_recency.",
    )
    tables: list[str] = Field(default_factory=list, description="Only these tables (schema.table).")


CheckName = Literal[
    "cache_hit_ratio",
    "table_cache_hit_ratio",
    "index_cache_hit_ratio",
    "table_bloat",
    "index_bloat",
    "dead_tuples",
    "autovacuum_recency",
    "long_transactions",
    "idle_in_transaction",
    "lock_waits",
    "deadlocks",
    "rollback_ratio",
    "connections_used",
    "connection_churn",
    "xid_age",
    "replication_lag",
    "invalid_indexes",
    "unused_indexes",
    "duplicate_indexes",
    "fk_without_index",
    "pending_restart",
    "file_settings_errors",
    "top_queries",
]


class ChecksSpec(_Strict):
    """`pgtune check` thresholds; every check has a documented default, this section overrides."""

    cache_hit_ratio: CheckLimits | None = None
    table_cache_hit_ratio: CheckLimits | None = None
    index_cache_hit_ratio: CheckLimits | None = None
    table_bloat: CheckLimits | None = None
    index_bloat: CheckLimits | None = None
    dead_tuples: CheckLimits | None = None
    autovacuum_recency: CheckLimits | None = None
    long_transactions: CheckLimits | None = None
    idle_in_transaction: CheckLimits | None = None
    lock_waits: CheckLimits | None = None
    deadlocks: CheckLimits | None = None
    rollback_ratio: CheckLimits | None = None
    connections_used: CheckLimits | None = None
    connection_churn: CheckLimits | None = None
    xid_age: CheckLimits | None = None
    replication_lag: CheckLimits | None = None
    invalid_indexes: CheckLimits | None = None
    unused_indexes: CheckLimits | None = None
    duplicate_indexes: CheckLimits | None = None
    fk_without_index: CheckLimits | None = None
    pending_restart: CheckLimits | None = None
    file_settings_errors: CheckLimits | None = None
    top_queries: CheckLimits | None = None
    disabled: list[CheckName] = Field(default_factory=list, description="Checks not to run.")


class Profile(_Strict):
    """A pgtune profile (format v1)."""

    name: Annotated[str, StringConstraints(pattern=PROFILE_NAME_PATTERN, max_length=63)] = Field(
        description="Profile name: lower-case letters, digits, '_' and '-'."
    )
    description: str | None = Field(default=None, description="Free text shown in plans.")
    extends: list[str] = Field(
        default_factory=list,
        description="Base profiles, relative to this file; deep-merged in order, this file last.",
    )
    workload: WorkloadSpec | None = Field(
        default=None,
        description="Machine and workload: a base layer of settings (PGTune's formulas); settings: entries win.",
    )
    settings: SettingsMap = Field(
        default_factory=dict,
        description="Server-wide settings (ALTER SYSTEM). Values in PostgreSQL syntax "
        "(4GB, 30s, on, 1.1, [a, b]); null removes the entry from postgresql.auto.conf.",
    )
    databases: dict[str, ScopedSettings] = Field(
        default_factory=dict, description="Per-database settings (ALTER DATABASE name SET ...)."
    )
    roles: dict[str, ScopedSettings] = Field(
        default_factory=dict, description="Per-role settings (ALTER ROLE name SET ...)."
    )
    tables: dict[str, TableSpec] = Field(
        default_factory=dict,
        description='Per-table state, keyed "schema.table" (a bare name resolves through search_path).',
    )
    exclude: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        description='Glob patterns ("schema.name": letta.audit_*, *.tmp_*) of tables, indexes and partitions '
        "pgtune must never touch, even under prune_indexes or retention. An exclusion beats a declaration.",
    )
    owned_by: dict[Annotated[str, StringConstraints(min_length=1, max_length=100)], Owner] = Field(
        default_factory=dict,
        description="Who else owns which objects (e.g. migrations: {objects: [letta.*]}): never pruned, never "
        "suggested for removal; suggestions about them say who owns them and where to change them.",
    )
    checks: ChecksSpec | None = Field(default=None, description="Thresholds for `pgtune check`.")
    trusted_extensions: list[Annotated[str, StringConstraints(min_length=1, max_length=63)]] = Field(
        default_factory=list,
        description="Extensions whose SQL and PL functions `advise` may let the planner run while it plans the "
        "workload's statements (their C functions, and PostgreSQL's own, always may).",
    )
    pool: PoolSpec | None = Field(
        default=None, description="Connection pools (application, PgBouncer) checked against the server's limits."
    )


@cache
def _root(keys: frozenset[str]) -> type[BaseModel]:
    """A Profile of only these top-level keys (the others keep their defaults): validating it
    builds the schema of what the document declares, nothing else."""
    fields: dict[str, Any] = {k: (Profile.model_fields[k].annotation, Profile.model_fields[k]) for k in keys}
    return create_model("Profile", __config__=ConfigDict(extra="forbid", frozen=True), **fields)


def validate_profile(data: object) -> Profile:
    """Profile.model_validate, paying only for the sections the document has: a one-setting profile
    does not build the validators of tables, pools and checks (tens of milliseconds at every start).
    The same errors at the same paths: an unknown top-level key is still refused by the root."""
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        return Profile.model_validate(data)
    keys = frozenset(k for k in data if k in Profile.model_fields) | {"name"}
    validated = _root(keys).model_validate(data)
    return Profile.model_construct(validated.model_fields_set, **dict(validated))
