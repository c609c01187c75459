"""Resource kinds, each in four phases (`Kind`): what the profile wants, what the catalog holds,
a pure comparison into changes, and the way back (live state into profile form).

Adding a kind means a module with a `Kind` object and its listing in `engine.KINDS`; the plan
model, renderers, saved plans and the executor stay unchanged (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from pgtune.base.errors import ProfileError
from pgtune.plan.model import Change, Check, Notice, ServerInfo

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    from pgtune.kinds.early import EarlyReads, Read
    from pgtune.kinds.settings import SettingsCatalog
    from pgtune.kinds.tables import Table
    from pgtune.profile.loader import LoadedProfile
    from pgtune.profile.source import PathKey


@dataclass
class KindResult:
    changes: list[Change] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    errors: list[ProfileError] = field(default_factory=list)  # reported with every other kind's, then the plan stops


class Render:
    """Composed SQL as the text that runs: quoted for the plan's connection (its encoding and
    standard_conforming_strings), or standalone (no connection) in the pure comparison tests."""

    def __init__(self, conn: psycopg.Connection | None = None) -> None:
        self._conn = conn

    def __call__(self, composed: sql.Composable) -> str:
        return composed.as_string(self._conn)


@dataclass(frozen=True)
class DiffEnv:
    """All a comparison may know besides wanted and live state. No connection: `diff` is pure."""

    server: ServerInfo
    render: Render = field(default_factory=Render)
    exclude: tuple[str, ...] = ()  # glob patterns of schema.name never touched
    applier: str = ""  # the role whose privileges are judged (--privileges-of, else the connected one)

    def excluded(self, schema: str, name: str) -> str | None:
        return excluded_by(self.exclude, schema, name)


Adoption = tuple[dict["PathKey", Any], str | None]
"""Profile paths -> live values for one change (`inspect --into`), or why it is not pulled."""

W = TypeVar("W")
L = TypeVar("L")


class Kind(Protocol[W, L]):
    """A resource kind. Only `read` and `export` talk to the server; `desired` reads the profile;
    `diff` is a pure function of its arguments, tested table-driven without a server.

    Optional (the engine looks for them): `prepare(loaded, server)`, work on the profile alone done
    while the server resolves the tables (kept in `ctx.prepared[name]`), and `early(ctx)`, the reads
    `read` will ask for, sent as soon as the tables are known (see kinds/early.py)."""

    name: str  # the `kind` of its changes: setting | storage | index | partition | pool
    runs_on: str  # "primary": its state is in the replicated catalog; "every node": each node holds its own

    def desired(self, ctx: PlanContext) -> W | None:
        """What the profile wants, typed for this server's version. None: nothing declared."""
        ...

    def read(self, ctx: PlanContext, wants: W) -> L:
        """What the catalog holds for these wants, in a constant number of set-based queries
        (the server may also be asked to validate: the index probe)."""
        ...

    def diff(self, wants: W, live: L, env: DiffEnv) -> KindResult:
        """Changes (with rendered SQL, locks, hazards), notices, checks and errors."""
        ...

    def export(self, ctx: PlanContext, options: ExportOptions) -> dict[str, Any]:
        """Live state as a profile fragment (top-level keys; tables keyed as ctx.tables): `inspect`."""
        ...

    def adopt(self, change: Change, loaded: LoadedProfile) -> Adoption:
        """Where one of its changes' live value goes in the profile: `inspect --into`."""
        ...


@dataclass
class ExportOptions:
    settings: str = "changed"  # changed | all | none
    now: Any = None  # "now" for time partitions (a datetime read from the server)
    warnings: list[str] = field(default_factory=list)  # what could not be adopted, and why


class Column(NamedTuple):  # one per column of every declared table: the cheapest record to create
    name: str
    generated: bool
    attnum: int
    type_oid: int
    typmod: int
    collation: int


def oid_array(oids: Iterable[int]) -> str:
    """oids as the text of an oid[] (`%(name)s::oid[]` in a query): joined at C speed, where psycopg
    dumps a list element by element in Python — tens of milliseconds at 10,000 tables, on the
    thread that shares the interpreter with the plan. Integers only: nothing here is ever text
    from elsewhere (and it is a bound parameter, never pasted)."""
    return "{" + ",".join(map(str, map(int, oids))) + "}"


def columns_read(table_oids: list[int]) -> Read:
    """Columns of these tables, in attnum order (one query)."""
    from pgtune.kinds.early import Read

    return Read("columns", load_sql("columns"), {"tables": oid_array(table_oids)})


def read_columns(conn: psycopg.Connection, table_oids: list[int]) -> dict[int, list[Column]]:
    from pgtune.kinds.early import fetch

    return columns_of(fetch(conn, columns_read(table_oids)))


record = tuple.__new__
"""`record(SomeNamedTuple, (field, ...))`: a NamedTuple made from all its fields in order, without its
own __new__'s argument parsing (~0.5 µs a record) — for the tens of thousands of rows a fleet's plan
turns into columns, tables, leaves and live indexes."""


def columns_of(rows: list[Any]) -> dict[int, list[Column]]:
    out: dict[int, list[Column]] = {}
    for row in rows:
        out.setdefault(row[0], []).append(record(Column, row[1:]))
    return out


@dataclass
class PlanContext:
    """What every kind gets: the snapshot connection, the profile, the server, resolved tables."""

    conn: psycopg.Connection
    loaded: LoadedProfile
    server: ServerInfo
    tables: dict[str, Table]  # profile key -> table (keys that failed to resolve are absent)
    as_of: str | None = None  # "now" for time partitions (--as-of); None: the server's now()
    exclude: tuple[str, ...] = ()  # glob patterns of schema.name never touched (profile + --exclude)
    server_settings: bool = True  # False: server-wide settings go another way (Patroni's DCS), not ALTER SYSTEM
    _columns: dict[int, list[Column]] | None = field(default=None, repr=False)
    workload: dict[str, str] | None = None  # what `workload:` derives, once per plan (settings, pool)
    settings_catalog: SettingsCatalog | None = None  # read by the engine for every kind that needs it
    applier: str = ""  # the role whose privileges are judged (--privileges-of, else the connected one)
    standby: bool = False  # a standby of a cluster: only kinds that run on every node, and their node-local parts
    early: EarlyReads | None = None  # the reads the engine sent before the kinds' turns (kinds.early)
    prepared: dict[str, Any] = field(default_factory=dict)  # kind name -> what its `prepare` worked out

    @property
    def env(self) -> DiffEnv:
        return DiffEnv(self.server, Render(self.conn), self.exclude, self.applier)

    def excluded(self, schema: str, name: str) -> str | None:
        """The exclusion pattern that protects schema.name, if any."""
        return excluded_by(self.exclude, schema, name)

    def columns(self) -> dict[int, list[Column]]:
        """Columns of every declared table, in order: one query per plan, for whichever kind asks first."""
        if self._columns is None:
            self._columns = columns_of(self.fetch(self.columns_read()))
        return self._columns

    def columns_read(self) -> Read:
        return columns_read(sorted({t.oid for t in self.tables.values()}))

    def fetch(self, read: Read) -> list[Any]:
        """The rows of a catalog read: sent early by the engine (waited for here), else sent now."""
        from pgtune.kinds.early import fetch

        return self.early.rows(read) if self.early is not None else fetch(self.conn, read)

    def settle(self) -> None:
        """Before the connection writes (the index probe's savepoint): no early read still running."""
        if self.early is not None:
            self.early.settle()


def excluded_by(patterns: tuple[str, ...], schema: str, name: str) -> str | None:
    """The first glob pattern matching "schema.name" (case-sensitive, like the catalog)."""
    if not patterns:
        return None
    target = f"{schema}.{name}"
    return next((p for p in patterns if fnmatchcase(target, p)), None)


@cache
def load_sql(name: str) -> str:
    """A catalog query kept as a .sql file beside the code (read once)."""
    return resources.files("pgtune.kinds").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def load_versioned_sql(name: str, version_num: int, **columns: tuple[int, str, str]) -> str:
    """A catalog query with `/*marker*/` placeholders for columns newer than some supported
    versions: `marker=(since, expression, fallback)` puts in the expression on servers since
    that version, the fallback value before (no to_jsonb(row) tricks: those cost ~20 µs a row)."""
    text = load_sql(name)
    for marker, (since, expression, fallback) in columns.items():
        text = text.replace(f"/*{marker}*/", expression if version_num >= since else fallback)
    return text
