"""Connection pools: capacity cross-checks, and a live PgBouncer converged like the server.

Two jobs, one section of the profile (`pool:`):
- Checks, in every plan that declares pools: the connections the application pools and
  PgBouncer can open must fit the server's limit *as the plan leaves it* (a planned
  max_connections counts, not only the live one) and PgBouncer's max_client_conn; timeouts that
  undercut each other and prepared statements under transaction pooling are reported.
- PgBouncer settings (`"kind": "pool", "object": "pgbouncer/<name>"`): read with SHOW CONFIG and
  SHOW VERSION, compared in PgBouncer's own value form, changed with SET on the admin console
  and, when `config_file` is given, written into pgbouncer.ini so a RELOAD or restart keeps them
  (the executor then RELOADs once and confirms with SHOW CONFIG).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgtune.base.errors import Location, ProfileError, raise_if_any
from pgtune.integrations.pgbouncer import ini
from pgtune.integrations.pgbouncer.console import ConfigRow, Console, resolve_dsn, set_command
from pgtune.integrations.pgbouncer.values import PGBOUNCER_DEFAULTS, BouncerSetting, InvalidBouncerValue, number
from pgtune.kinds import Adoption, DiffEnv, ExportOptions, KindResult, PlanContext, capacity, settings
from pgtune.plan.hazards import hazard
from pgtune.plan.model import Address, Change, Check, Hazard, IniEdit, Notice, Statement
from pgtune.profile.loader import LoadedProfile
from pgtune.profile.model import PgBouncerSpec, PoolSpec

KIND = "pool"
SERVER_SETTINGS = ["max_connections", "superuser_reserved_connections", "reserved_connections", "idle_session_timeout"]
PREPARED_STATEMENTS_VERSION = (1, 21)


@dataclass
class Bouncer:
    """What pgtune knows of PgBouncer for the checks: desired values over live ones over defaults."""

    values: dict[str, str]
    version: tuple[int, ...] | None  # None: not connected
    version_text: str | None

    def get(self, name: str) -> str | None:
        return self.values.get(name, PGBOUNCER_DEFAULTS.get(name))

    def num(self, name: str) -> float:
        return number(self.get(name))


@dataclass(frozen=True)
class Wanted:
    spec: PoolSpec
    location: Callable[..., Location | None]  # the profile's positions, for errors
    config_path: Path | None  # pgbouncer.ini, resolved against the profile's directory


@dataclass
class PoolLive:
    """PgBouncer as its console shows it (None: no admin_dsn), the declared settings typed by it,
    and the server settings the checks need, as the plan leaves them (settings.outlook)."""

    outlook: dict[str, settings.Outlook]
    desired: dict[str, str]  # PgBouncer settings in its own value form
    config: dict[str, ConfigRow] | None = None
    version: tuple[int, ...] | None = None
    version_text: str | None = None
    login: str = ""
    over_socket: bool = False
    in_file: dict[str, ini.IniSetting] = field(default_factory=dict)
    file_writable: bool = True


class PoolKind:
    name = KIND
    runs_on = "primary"  # checked against the primary

    def desired(self, ctx: PlanContext) -> Wanted | None:
        spec = ctx.loaded.profile.pool
        if spec is None:
            return None
        path = None
        if spec.pgbouncer is not None and spec.pgbouncer.config_file is not None:
            path = Path(spec.pgbouncer.config_file)
            path = path if path.is_absolute() else Path(ctx.loaded.path).parent / path
        return Wanted(spec, ctx.loaded.location, path)

    def read(self, ctx: PlanContext, wants: Wanted) -> PoolLive:
        outlook = settings.outlook(ctx, SERVER_SETTINGS)
        bouncer = wants.spec.pgbouncer
        if bouncer is None:
            return PoolLive(outlook, {})
        dsn = resolve_dsn(bouncer.admin_dsn)
        if dsn is None:
            return PoolLive(outlook, _typed(wants, bouncer, None))
        with Console(dsn) as console:
            config = console.config()
            version_text, version = console.version()
            login = console.conn.info.user
            over_socket = str(console.conn.info.host).startswith("/")
        live = PoolLive(outlook, _typed(wants, bouncer, config), config, version, version_text, login, over_socket)
        path = wants.config_path
        if path is not None:
            try:
                live.in_file = ini.read_settings(ini.read_file(path))
            except ini.IniError as exc:
                raise ProfileError(wants.location(("pool", "pgbouncer", "config_file")), str(exc)) from None
            live.file_writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
        return live

    def diff(self, wants: Wanted, live: PoolLive, env: DiffEnv) -> KindResult:
        result = KindResult()
        bouncer = None
        if wants.spec.pgbouncer is not None:
            bouncer = _converge_pgbouncer(wants, live, result)
        _checks(wants, live.outlook, bouncer, result)
        return result

    def export(self, ctx: PlanContext, options: ExportOptions) -> dict[str, Any]:
        return {}  # pools are the application's and PgBouncer's configuration: `inspect` reads the server

    def adopt(self, change: Change, loaded: LoadedProfile) -> Adoption:
        if change.address.scope == "pgbouncer":
            return {("pool", "pgbouncer", "settings", change.address.name): change.before}, None
        return {}, "pool changes are not pulled into a profile"


resource = PoolKind()


# --- PgBouncer ------------------------------------------------------------------------------


def _typed(wants: Wanted, spec: PgBouncerSpec, live: dict[str, ConfigRow] | None) -> dict[str, str]:
    """Desired settings in PgBouncer's form; unknown names and bad values are profile errors."""
    errors: list[ProfileError] = []
    out: dict[str, str] = {}
    for name, raw in spec.settings.items():
        path = ("pool", "pgbouncer", "settings", name)
        if live is not None and name not in live:
            close = difflib.get_close_matches(name, list(live), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            message = f"unknown PgBouncer setting {name!r}{hint}"
            errors.append(ProfileError(wants.location(path, key=True), message))
            continue
        setting = BouncerSetting.of(name, live[name].default if live else None)
        try:
            out[name] = setting.canonical(raw)
        except InvalidBouncerValue as exc:
            errors.append(ProfileError(wants.location(path), str(exc)))
    raise_if_any(errors)
    return out


def _converge_pgbouncer(wants: Wanted, live: PoolLive, result: KindResult) -> Bouncer:
    if live.config is None:
        if live.desired:
            result.notices.append(
                Notice(
                    KIND,
                    "pgbouncer",
                    "NOT_MANAGED",
                    "no admin_dsn (or $PGTUNE_PGBOUNCER_DSN): the PgBouncer settings feed the capacity check only",
                )
            )
        return Bouncer(live.desired, None, None)
    errors: list[ProfileError] = []
    for name, value in live.desired.items():
        outcome = _diff(name, value, live.config[name], wants.config_path, live.in_file.get(name))
        if isinstance(outcome, str):
            errors.append(ProfileError(wants.location(("pool", "pgbouncer", "settings", name), key=True), outcome))
        elif isinstance(outcome, Change):
            result.changes.append(outcome)
        elif isinstance(outcome, Notice):
            result.notices.append(outcome)
    if any(c.kind == KIND for c in result.changes):
        errors += _bouncer_rights(wants, live, result)
    raise_if_any(errors)
    values = {k: row.value for k, row in live.config.items() if row.value is not None}
    return Bouncer({**values, **live.desired}, live.version, live.version_text)


def _bouncer_rights(wants: Wanted, live: PoolLive, result: KindResult) -> list[ProfileError]:
    """SET and RELOAD need an admin user of the console (stats_users may only SHOW); editing
    pgbouncer.ini needs write access to it and its directory (it is replaced atomically)."""
    errors = []
    login, path = live.login, wants.config_path
    row = (live.config or {}).get("admin_users")
    admins = [a.strip() for a in (row.value or "").split(",") if a.strip()] if row else []
    if login not in admins and not (login == "pgbouncer" and live.over_socket):
        errors.append(
            ProfileError(
                wants.location(("pool", "pgbouncer", "admin_dsn")) or wants.location(("pool", "pgbouncer")),
                f"PgBouncer user {login!r} is not in admin_users ({', '.join(admins) or 'none'}): SET and RELOAD "
                "would be refused (admin access needed); use an admin user's DSN",
            )
        )
    edits = any(s.target == "pgbouncer.ini" for c in result.changes for s in c.statements)
    if edits and path is not None and not live.file_writable:
        errors.append(
            ProfileError(
                wants.location(("pool", "pgbouncer", "config_file")),
                f"{path}: pgtune may not write it or its directory (it replaces the file atomically)",
            )
        )
    return errors


def _diff(
    name: str, value: str, row: ConfigRow, path: Path | None, in_file: ini.IniSetting | None
) -> Change | Notice | str | None:
    """One PgBouncer setting: a change, a pending-restart notice, an error message, or nothing."""
    setting = BouncerSetting.of(name, row.default)
    running_same = setting.same(row.value, value)
    # After a RELOAD PgBouncer runs what the file says, or the default for a key it does not set.
    file_value = in_file.value if in_file is not None else row.default
    file_same = path is None or setting.same(file_value, value)
    if running_same and file_same:
        return None
    obj = Address(KIND, name, scope="pgbouncer")
    edit = Statement(
        f"{name} = {value}", transactional=False, target="pgbouncer.ini", file=str(path), action=IniEdit(name, value)
    )
    if not row.changeable:
        if path is None:
            return (
                f"PgBouncer cannot change {name} while running; give pool.pgbouncer.config_file so pgtune "
                "writes it to pgbouncer.ini for the next restart"
            )
        if file_same:
            return Notice.about(
                obj,
                "RESTART_PENDING",
                f"{name} = {value} is in {path} but PgBouncer still runs {row.value}: restart PgBouncer to apply it",
            )
        return Change(obj, "update", row.value, value, (edit,), restart_required=True)
    statements: list[Statement] = []
    hazards: tuple[Hazard, ...] = ()
    note = None
    if not running_same:
        statements.append(Statement(set_command(name, value), transactional=False, target="pgbouncer"))
    if path is None:
        hazards = (hazard("NOT_PERSISTED"),)
    elif not file_same:
        statements.append(edit)
        if running_same:
            where = f"line {in_file.line}" if in_file is not None else "its default"
            note = f"PgBouncer runs {value}, but {path} ({where}) says {file_value}: a RELOAD would revert it"
    return Change(obj, "update", row.value, value, tuple(statements), hazards=hazards, note=note)


# --- checks ---------------------------------------------------------------------------------


def _limits(outlook: dict[str, settings.Outlook], which: str) -> capacity.ServerLimits:
    def value(name: str) -> int:
        return int(getattr(outlook[name], which))

    reserved = value("reserved_connections") if "reserved_connections" in outlook else None
    return capacity.ServerLimits(value("max_connections"), value("superuser_reserved_connections"), reserved)


def _checks(wants: Wanted, outlook: dict[str, settings.Outlook], bouncer: Bouncer | None, result: KindResult) -> None:
    spec = wants.spec
    planned, running = _limits(outlook, "planned"), _limits(outlook, "running")
    app = spec.application
    through = app is not None and app.through == "pgbouncer"
    if through and bouncer is None:
        raise ProfileError(
            wants.location(("pool", "application", "through")),
            "through: pgbouncer needs a pool.pgbouncer section (its pool sizes decide the server's connections)",
        )
    app_pools = (
        None
        if app is None
        else capacity.AppPools(
            app.instances, app.pool_size, app.max_overflow, through, app.pool == "queue", app.concurrency
        )
    )
    bouncer_pools = None
    if bouncer is not None and spec.pgbouncer is not None:
        bouncer_pools = capacity.BouncerPools(
            spec.pgbouncer.pools,
            int(bouncer.num("default_pool_size")),
            int(bouncer.num("reserve_pool_size")),
            int(bouncer.num("max_db_connections")),
            int(bouncer.num("max_client_conn")),
        )
    verdict = capacity.check(planned, app_pools, bouncer_pools, spec.other_connections)
    if verdict.lines or verdict.violations:
        _capacity_verdict(wants, verdict, planned, running, app_pools, bouncer_pools, result)
    _timeout_checks(spec, bouncer, outlook, result)


def _capacity_verdict(
    wants: Wanted,
    verdict: capacity.Capacity,
    planned: capacity.ServerLimits,
    running: capacity.ServerLimits,
    app: capacity.AppPools | None,
    bouncer: capacity.BouncerPools | None,
    result: KindResult,
) -> None:
    spec = wants.spec
    pending = planned != running
    suffix = ""
    if pending:
        suffix = f" (limits as planned; the server runs {running.explain()} until it restarts)"
    if not verdict.fits:
        message = "connection capacity exceeded: " + "; ".join(verdict.violations + verdict.lines) + suffix
        if spec.capacity == "error":
            raise ProfileError(
                wants.location(("pool",), key=True),
                message + " (set pool.capacity: warn to report this without failing the plan)",
            )
        result.checks.append(Check("POOL_CAPACITY", "warn", message, verdict.numbers))
        return
    result.checks.append(Check("POOL_CAPACITY", "ok", "; ".join(verdict.lines) + suffix, verdict.numbers))
    if pending:
        now = capacity.check(running, app, bouncer, spec.other_connections)
        if not now.fits:
            result.checks.append(
                Check(
                    "POOL_CAPACITY_UNTIL_RESTART",
                    "warn",
                    "the pools fit only once PostgreSQL restarts with the planned limits; until then: "
                    + "; ".join(now.violations),
                    now.numbers,
                )
            )


def _seconds(outlook: settings.Outlook) -> float:
    """A time setting's planned value in seconds (PostgreSQL keeps them in ms or s)."""
    base = outlook.spec.base
    return float(outlook.planned) * (base.size / 1_000_000 if base else 1.0)


def _timeout_checks(
    spec: PoolSpec, bouncer: Bouncer | None, outlook: dict[str, settings.Outlook], result: KindResult
) -> None:
    app = spec.application
    through = app is not None and app.through == "pgbouncer"
    idle = outlook.get("idle_session_timeout")
    idle_s = _seconds(idle) if idle is not None else 0.0
    pooled = app is not None and app.pool == "queue"  # an unpooled application keeps no idle connections
    if (
        idle_s > 0
        and app is not None
        and pooled
        and not through
        and (app.pool_recycle < 0 or app.pool_recycle > idle_s)
    ):
        recycle = "never" if app.pool_recycle < 0 else f"{app.pool_recycle:g}s"
        result.checks.append(
            Check(
                "POOL_RECYCLE_IDLE_TIMEOUT",
                "warn",
                f"pool_recycle ({recycle}) is longer than the server's idle_session_timeout ({idle_s:g}s): "
                "the server closes idle pooled connections first and checkouts fail on them "
                "(lower pool_recycle or enable pool_pre_ping)",
                {"pool_recycle": app.pool_recycle, "idle_session_timeout": idle_s},
            )
        )
    if bouncer is None:
        return
    server_idle = bouncer.num("server_idle_timeout")
    if idle_s > 0 and (server_idle == 0 or server_idle > idle_s):
        result.checks.append(
            Check(
                "POOL_RECYCLE_IDLE_TIMEOUT",
                "warn",
                f"PgBouncer's server_idle_timeout ({server_idle:g}s) is longer than the server's "
                f"idle_session_timeout ({idle_s:g}s): PostgreSQL closes PgBouncer's idle server connections first",
                {"server_idle_timeout": server_idle, "idle_session_timeout": idle_s},
            )
        )
    if not through or app is None:
        return
    wait = bouncer.num("query_wait_timeout")
    if wait > 0 and app.pool_timeout > wait:
        result.checks.append(
            Check(
                "POOL_TIMEOUT_QUERY_WAIT",
                "warn",
                f"pool_timeout ({app.pool_timeout:g}s) is longer than PgBouncer's query_wait_timeout ({wait:g}s): "
                "PgBouncer drops a waiting client before the application's own timeout fires",
                {"pool_timeout": app.pool_timeout, "query_wait_timeout": wait},
            )
        )
    mode = bouncer.get("pool_mode")
    if app.prepared_statements and mode in ("transaction", "statement"):
        version = bouncer.version
        if version is None:
            message = (
                f"prepared statements with pool_mode {mode}: PgBouncer's version is unknown (no admin console); "
                "protocol-level prepared statements need PgBouncer 1.21+ with max_prepared_statements > 0"
            )
        elif version < PREPARED_STATEMENTS_VERSION:
            message = (
                f"prepared statements with pool_mode {mode} on {bouncer.version_text}: they need PgBouncer 1.21+ "
                "(or disable the driver's statement cache, e.g. asyncpg statement_cache_size=0)"
            )
        elif bouncer.num("max_prepared_statements") <= 0:
            message = (
                f"prepared statements with pool_mode {mode}: set max_prepared_statements > 0 on "
                f"{bouncer.version_text} so PgBouncer tracks them"
            )
        else:
            return
        result.checks.append(Check("POOL_PREPARED_STATEMENTS", "warn", message, {"pool_mode": mode}))
