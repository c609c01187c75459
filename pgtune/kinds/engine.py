"""Plan: read the catalog inside one snapshot, validate every kind, diff.

The plan transaction is REPEATABLE READ. Kinds only read, except the index kind's probe, which
builds the desired indexes on empty temporary copies of their tables inside a savepoint to let
the server itself validate and canonicalise them; such a transaction is rolled back, leaving
nothing behind. One that wrote nothing (no transaction id was ever assigned) is committed instead:
the same outcome, without raising the database's rollback ratio that `pgtune check` judges.
Validation problems from every kind are collected and raised together.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple, TypeVar

import psycopg

from pgtune.base.errors import ProfileError, ProfileErrors, raise_if_any
from pgtune.kinds import Kind, KindResult, PlanContext, excluded_by, tables
from pgtune.kinds.early import EarlyReads, Read
from pgtune.plan.model import Notice, Plan, ServerInfo
from pgtune.profile.loader import LoadedProfile
from pgtune.profile.model import Profile


class Lazy(NamedTuple):
    """A kind by its module (holding a `resource`), imported only when a profile may want anything of
    it (`declares`; the kind's own `desired` then decides exactly)."""

    module: str
    declares: Callable[[Profile], bool]


KINDS: tuple[Lazy | Kind[Any, Any], ...] = (
    # the settings kind also reads the catalog the pools' capacity checks share
    Lazy("pgtune.kinds.settings", lambda p: bool(p.settings or p.databases or p.roles or p.workload or p.pool)),
    Lazy("pgtune.kinds.storage", lambda p: bool(p.tables)),
    Lazy("pgtune.kinds.indexes", lambda p: bool(p.tables)),
    Lazy("pgtune.kinds.partitions", lambda p: bool(p.tables)),
    Lazy("pgtune.kinds.pool", lambda p: p.pool is not None),
)
"""Kinds in the order their changes run (a one-setting plan loads no table kind; a Kind itself is
always asked). Indexes before partitions: a partition attached later gets every index of its parent,
while one created first would miss a new ON ONLY index. Pools last: their capacity check reads the
server settings as this plan leaves them."""


def kind_of(entry: Lazy | Kind[Any, Any]) -> Kind[Any, Any]:
    return importlib.import_module(entry.module).resource if isinstance(entry, Lazy) else entry


def all_kinds() -> tuple[Kind[Any, Any], ...]:
    """Every kind, imported (inspect and adoption export all of them)."""
    return tuple(kind_of(entry) for entry in KINDS)


def declared_kinds(profile: Profile) -> tuple[Kind[Any, Any], ...]:
    """The kinds this profile may want anything of, in their order."""
    return tuple(kind_of(e) for e in KINDS if not isinstance(e, Lazy) or e.declares(profile))


CATALOG_STATEMENT_TIMEOUT = "30s"
CATALOG_LOCK_TIMEOUT = "5s"
"""Planning takes ACCESS SHARE locks on declared tables (the index probe's LIKE, counting rows in
a default partition). Behind a session waiting for ACCESS EXCLUSIVE, such a request would queue
and hold up everyone after it; lock_timeout makes the plan give up instead."""


def server_info(conn: psycopg.Connection) -> ServerInfo:
    return _server_and_applier(conn)[0]


def _server_and_applier(conn: psycopg.Connection) -> tuple[ServerInfo, str]:
    """The server, and the role whose privileges the plan judges (--privileges-of, else the connected one)."""
    row = conn.execute(
        "SELECT current_setting('server_version'), current_setting('server_version_num')::int, "
        "coalesce(nullif(current_setting('pgtune.privileges_of', true), ''), current_user)"
    ).fetchone()
    assert row is not None
    return ServerInfo(version=row[0].split()[0], version_num=row[1]), str(row[2])


def build_plan(
    conn: psycopg.Connection,
    loaded: LoadedProfile,
    as_of: str | None = None,
    exclude: tuple[str, ...] = (),
    *,
    server_settings: bool = True,
    privileges_of: str | None = None,
    standby: bool = False,
) -> Plan:
    """Compute the ordered plan that converges the server to the profile.

    `server_settings=False`: server-wide settings are someone else's to change (Patroni's DCS):
    no ALTER SYSTEM changes, but the pool checks still see the profile's values as planned.
    `privileges_of`: judge the privileges an apply needs (ownership, CREATE, ALTER SYSTEM per
    parameter, pg_reload_conf) for this role instead of the connected one — a read-only CI role
    plans for the deploy role. Reading stays the connected role's.

    `standby`: the node is a standby of a cluster: only the kinds whose state each node holds
    (`runs_on = "every node"`: server-wide settings), the rest are the primary's.

    `as_of` replaces the server's now() for time partitions (deterministic plans in CI);
    `exclude` adds glob patterns of objects never touched to the profile's own `exclude:`."""
    errors: list[ProfileError] = []
    results: list[KindResult] = []
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute(  # one round trip; DateStyle: partition bounds are parsed as text
            "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true), "
            "set_config('DateStyle', 'ISO, YMD', true)",
            (CATALOG_STATEMENT_TIMEOUT, CATALOG_LOCK_TIMEOUT),
        )
        if privileges_of is not None:
            _privileges_of(conn, privileges_of)
        server, applier = _server_and_applier(conn)
        if as_of is not None:
            _check_as_of(conn, as_of)
        patterns = (*loaded.profile.exclude, *exclude)
        early = EarlyReads(conn)

        try:  # the server reads while Python works out what the kinds want, and while they compare
            asked = tables.request(loaded)
            if asked.read is not None and not standby:
                early.start([asked.read])
            kinds = declared_kinds(loaded.profile)  # their modules load while the server resolves the tables
            kinds = kinds if not standby else tuple(k for k in kinds if k.runs_on == "every node")
            prepared = _prepared(kinds, loaded, server)  # and the kinds work on the profile alone meanwhile

            def found(outline: dict[str, tables.Table]) -> None:
                """The kinds' reads depend only on the tables' outline: sent while the tables are built."""
                _excluded(outline, patterns)  # the same tables the kinds will see
                early.start(_early_reads(kinds, PlanContext(conn, loaded, server, outline, as_of, patterns)))

            resolved, table_errors = (
                ({}, [])
                if standby
                else tables.resolve(conn, loaded, applier, asked=asked, fetch=early.rows, found=found)
            )
            errors.extend(table_errors)
            results.append(_excluded(resolved, patterns))
            ctx = PlanContext(
                conn,
                loaded,
                server,
                resolved,
                as_of,
                patterns,
                server_settings=server_settings,
                applier=applier,
                standby=standby,
                early=early,
                prepared=prepared,
            )
            early.start(_early_reads(kinds, ctx))  # sent already, from the outline: the same reads
            wanted = _wants(kinds, ctx, errors)
            if any(k.name in ("setting", "pool") for k in kinds):
                from pgtune.kinds import settings

                ctx.settings_catalog = settings.plan_catalog(ctx)  # an input of the kinds that need it
            for kind, wants in wanted:
                result = _collecting(errors, partial(_read_and_diff, kind, wants, ctx))
                if result is not None:
                    errors.extend(result.errors)
                    results.append(result)
        except psycopg.errors.InFailedSqlTransaction:
            early.settle()
            if early.failure is not None:  # an early read failed first: that is the cause
                raise early.failure from None
            raise
        except BaseException:  # Ctrl-C, or any failure: no early read left running on the connection
            early.settle(cancel=True)
            raise
        finally:
            early.settle()
        _end_without_writes(conn)
    raise_if_any(errors)
    changes = tuple(c for r in results for c in r.changes)
    notices = tuple(n for r in results for n in r.notices)
    checks = tuple(c for r in results for c in r.checks)
    return Plan(profile=loaded.profile.name, server=server, changes=changes, notices=notices, checks=checks)


def _excluded(resolved: dict[str, tables.Table], patterns: tuple[str, ...]) -> KindResult:
    """Tables the exclusion patterns protect, taken out of `resolved` (kinds skip keys that did not
    resolve), each with its notice."""
    skipped = KindResult()
    for key, table in list(resolved.items()):
        pattern = excluded_by(patterns, table.schema, table.name)
        if pattern is not None:
            del resolved[key]
            skipped.notices.append(
                Notice("table", table.qualified, "EXCLUDED", f"declared, but excluded by {pattern!r}: not touched")
            )
    return skipped


def _privileges_of(conn: psycopg.Connection, role: str) -> None:
    """The catalog queries judge privileges for `pgtune.privileges_of` (transaction-local)."""
    if conn.execute("SELECT FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
        raise ProfileError(None, f"--privileges-of {role!r}: no such role on this server")
    conn.execute("SELECT set_config('pgtune.privileges_of', %s, true)", (role,))


def _end_without_writes(conn: psycopg.Connection) -> None:
    """Roll back a plan transaction that wrote (the probe); let one that wrote nothing commit."""
    row = conn.execute("SELECT txid_current_if_assigned() IS NOT NULL").fetchone()
    if row is None or row[0]:
        raise psycopg.Rollback()


def _wants(
    kinds: tuple[Kind[Any, Any], ...], ctx: PlanContext, errors: list[ProfileError]
) -> list[tuple[Kind[Any, Any], Any]]:
    """What the profile wants of each kind (kinds it wants nothing of left out); errors collected."""
    wanted = ((kind, _collecting(errors, partial(kind.desired, ctx))) for kind in kinds)
    return [(kind, wants) for kind, wants in wanted if wants is not None]


T = TypeVar("T")


def _read_and_diff(kind: Kind[Any, Any], wants: Any, ctx: PlanContext) -> KindResult:
    return kind.diff(wants, kind.read(ctx, wants), ctx.env)


def _collecting(errors: list[ProfileError], step: Callable[[], T]) -> T | None:
    """A kind's step, its profile errors added to every other kind's (None when it raised them)."""
    try:
        return step()
    except ProfileErrors as exc:
        errors.extend(exc.errors)
    except ProfileError as exc:
        errors.append(exc)
    return None


def _prepared(kinds: tuple[Kind[Any, Any], ...], loaded: LoadedProfile, server: ServerInfo) -> dict[str, Any]:
    """What each kind works out from the profile alone (`prepare`, where a kind has it), by kind name:
    done while the server resolves the tables, where it used to wait in line after them."""
    out: dict[str, Any] = {}
    for kind in kinds:
        prepare = getattr(kind, "prepare", None)
        if prepare is not None:
            out[kind.name] = prepare(loaded, server)
    return out


def _early_reads(kinds: tuple[Kind[Any, Any], ...], ctx: PlanContext) -> list[Read]:
    """The reads known as soon as the tables are resolved: each kind's (`early`, where a kind has it),
    in the order the kinds will ask for them; a read two kinds ask for (the columns) is sent once."""
    if not ctx.tables:
        return []
    reads = []
    for kind in kinds:
        early = getattr(kind, "early", None)
        if early is not None:
            reads.extend(early(ctx))
    return reads


def _check_as_of(conn: psycopg.Connection, as_of: str) -> None:
    """--as-of must be a timestamp the server understands; fail before anything else."""
    try:
        with conn.transaction():
            conn.execute("SELECT %s::timestamptz", (as_of,))
    except psycopg.Error as exc:
        raise ProfileError(None, f"--as-of {as_of!r} is not a date/time: {exc.diag.message_primary}") from None
