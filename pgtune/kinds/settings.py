"""Server settings (GUCs): server-wide via ALTER SYSTEM, per database and per role via ALTER ... SET.

Everything about settings lives here: the catalog read (four queries whatever the profile's
size), validation against the live server, and the pure comparison that decides changes.

What "the current value" means, per scope:
- server-wide: what the configuration files will make the server run — the last row per name in
  `pg_file_settings` (postgresql.auto.conf is read last, so it wins), or the running value when no
  file sets it. A value written but not yet live is a pending reload (a change: reload it) or, for
  postmaster settings, a pending restart (not a change: reported, so plans never diff forever).
- database/role: the entry in `pg_db_role_setting`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pgtune import libraries, workload
from pgtune.errors import Deferred, Location, ProfileError, raise_if_any
from pgtune.guc import LIST_SETTINGS, Canonical, GucSpec, InvalidValue, newline_problem
from pgtune.hazards import hazard
from pgtune.identifiers import identifier, quoted, setting_name
from pgtune.kinds import Adoption, DiffEnv, ExportOptions, KindResult, PlanContext, Render, load_sql
from pgtune.patroni import patch_statement
from pgtune.plan import Address, Change, Hazard, Notice, Statement
from pgtune.profile.loader import LoadedProfile

KIND = "setting"

SESSION_SOURCES = frozenset({"database", "user", "database user", "client", "session", "interactive", "test"})
"""pg_settings sources that describe this session, not the server: the server's value is unknown."""

CONNECTION_DEPENDENT = frozenset(
    {"tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count", "tcp_user_timeout"}
)
"""Settings whose SHOW reads the session's own socket: 0 on a Unix socket, the kernel's effective
value over TCP (7200 for an unset tcp_keepalives_idle) — never what the server is configured with.
They are judged from the configuration files on every connection (a write never reloaded goes
unseen for these four)."""

UNOVERRIDABLE_SOURCES = frozenset({"command line", "override"})
"""Sources that beat postgresql.auto.conf: ALTER SYSTEM cannot change what they set."""

SCOPED_CONTEXTS = frozenset({"user", "superuser", "backend", "superuser-backend"})
"""Contexts whose settings ALTER DATABASE/ROLE ... SET may hold."""

PRELOAD_SETTINGS = frozenset(LIST_SETTINGS - {"search_path", "temp_tablespaces"})


class Unparsable:
    """A value on the server pgtune cannot read (e.g. garbage in postgresql.conf): never equal."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class DesiredSetting:
    scope: str  # system | database | role
    target: str | None  # database or role name
    name: str  # as written in the profile
    raw: str | list[str] | None  # None = reset
    location: Location | Deferred | None
    key_location: Location | Deferred | None
    source: str = "settings"  # settings (declared) | workload (derived from workload:)

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def address(self) -> Address:
        scoped = self.scope != "system"
        return Address(KIND, self.key, scope=self.scope if scoped else None, target=self.target if scoped else None)

    @property
    def object(self) -> str:
        return str(self.address)


@dataclass(frozen=True)
class Running:
    setting: str | None
    source: str
    pending_restart: bool


@dataclass(frozen=True)
class FileRow:
    setting: str
    sourcefile: str
    applied: bool
    error: str | None

    @property
    def auto(self) -> bool:
        return self.sourcefile.endswith("postgresql.auto.conf")


@dataclass(frozen=True)
class ScopedTarget:
    may_alter: bool
    values: dict[str, str]  # lower-cased name -> raw value
    owner: str | None = None  # a database's owner (named in the GRANT that fixes a refusal)


@dataclass
class SettingsCatalog:
    """What the server holds, for every kind of scope, read in a constant number of queries."""

    version_num: int
    current_user: str  # the role whose privileges are judged (--privileges-of, else the connected one)
    superuser: bool
    specs: dict[str, GucSpec]
    running: dict[str, Running]
    files: dict[str, list[FileRow]] | None  # None: the role may not read pg_file_settings
    scoped: dict[tuple[str, str], ScopedTarget] = field(default_factory=dict)
    privileges: dict[str, tuple[bool, bool]] = field(default_factory=dict)  # name -> (alter system, set)
    sees_all: bool = True  # superuser or pg_read_all_settings: superuser-only settings are visible
    can_look_at_files: bool = False  # may pg_stat_file the server's library directory (libraries.check)
    can_reload: bool = True  # may EXECUTE pg_reload_conf()
    reader: str = ""  # the connected role: what pgtune itself reads needs its rights


@dataclass(frozen=True)
class TypedSetting:
    desired: DesiredSetting
    spec: GucSpec
    value: Canonical | None
    placeholder: bool = False
    unverified: tuple[str, ...] = ()  # preload libraries pgtune could not look for (UNVERIFIED_LIBRARY)


# --- desired state --------------------------------------------------------------------------


def workload_settings(ctx: PlanContext) -> dict[str, str]:
    """What `workload:` derives for this server (PGTune's formulas), computed once per plan."""
    if ctx.workload is not None:
        return ctx.workload
    spec = ctx.loaded.profile.workload
    derived: dict[str, str] = {}
    if spec is not None:
        local = _on_database_host(ctx)
        _auto(ctx, "memory", spec.memory, local)
        _auto(ctx, "cpus", spec.cpus, local)
        w = workload.from_spec(spec, ctx.server.version_num // 10000)
        derived = workload.recommend(w).settings
    ctx.workload = derived
    return derived


def _on_database_host(ctx: PlanContext) -> bool:
    host = ctx.conn.info.host or ""
    return host.startswith("/") or host in ("localhost", "127.0.0.1", "::1")


def _auto(ctx: PlanContext, key: str, value: object, local: bool) -> None:
    """`auto` reads this machine: only right when the server runs here."""
    if value == "auto" and not local:
        raise ProfileError(
            ctx.loaded.location(("workload", key)),
            f"{key}: auto reads this machine, but the server is on {ctx.conn.info.host}: give the value "
            "(auto works with --sandbox or when pgtune runs on the database host)",
        )


def desired_settings(loaded: LoadedProfile, derived: dict[str, str] | None = None) -> list[DesiredSetting]:
    profile = loaded.profile
    out: list[DesiredSetting] = []
    explicit = {name.lower() for name in profile.settings}
    where = loaded.where(("workload",), key=True)
    for name, value in (derived or {}).items():
        if name.lower() not in explicit:  # an explicit settings: entry always wins
            out.append(DesiredSetting("system", None, name, value, where, where, source="workload"))

    def add(scope: str, target: str | None, prefix: tuple[str, ...], values: dict[str, Any]) -> None:
        for name, raw in values.items():
            path = (*prefix, name)
            out.append(DesiredSetting(scope, target, name, raw, loaded.where(path), loaded.where(path, key=True)))

    add("system", None, ("settings",), profile.settings)
    for db, scoped in profile.databases.items():
        add("database", db, ("databases", db, "settings"), scoped.settings)
    for role, scoped in profile.roles.items():
        add("role", role, ("roles", role, "settings"), scoped.settings)
    return out


# --- catalog --------------------------------------------------------------------------------


def read(conn: psycopg.Connection, desired: list[DesiredSetting], *, with_files: bool = False) -> SettingsCatalog:
    with conn.cursor(row_factory=dict_row) as cur:
        server = cur.execute(load_sql("server")).fetchone()
        assert server is not None
        specs: dict[str, GucSpec] = {}
        running: dict[str, Running] = {}
        for row in cur.execute(load_sql("settings")):
            key = row["name"].lower()
            specs[key] = GucSpec(
                name=row["name"],
                vartype=row["vartype"],
                unit=row["unit"],
                context=row["context"],
                min_val=row["min_val"],
                max_val=row["max_val"],
                enumvals=tuple(row["enumvals"]),
                boot_val=row["boot_val"],
            )
            running[key] = Running(row["setting"], row["source"], row["pending_restart"])
        files: dict[str, list[FileRow]] | None = None
        wants_system = with_files or any(d.scope == "system" for d in desired)
        if server["can_read_file_settings"] and wants_system:
            files = {}
            for row in cur.execute(load_sql("file_settings")):
                files.setdefault(row["name"].lower(), []).append(
                    FileRow(row["setting"], row["sourcefile"], row["applied"], row["error"])
                )
        catalog = SettingsCatalog(
            server["version_num"], server["current_user"], server["superuser"], specs, running, files
        )
        catalog.reader = server["reader"]
        catalog.sees_all = server["reader_superuser"] or server["can_read_all_settings"]
        catalog.can_look_at_files = bool(server["can_look_at_files"])
        catalog.can_reload = server["superuser"] or server["can_reload"]
        if any(d.scope != "system" for d in desired):
            for row in cur.execute(load_sql("scoped_settings")):
                values = {}
                for item in row["setconfig"]:
                    name, _, value = item.partition("=")
                    values[name.lower()] = value
                catalog.scoped[(row["scope"], row["target"])] = ScopedTarget(
                    bool(row["may_alter"]), values, row["owner"]
                )
        if not server["superuser"] and server["version_num"] >= 150000 and desired:
            names = sorted({d.key for d in desired})
            for row in cur.execute(load_sql("parameter_privileges"), {"names": names}):
                catalog.privileges[row["name"]] = (row["may_alter_system"], row["may_set"])
    return catalog


# --- validation -----------------------------------------------------------------------------


def _spec_for(d: DesiredSetting, catalog: SettingsCatalog) -> tuple[GucSpec | None, bool, str | None]:
    """The GUC spec for a desired name, whether it is an unverified placeholder, or an error."""
    spec = catalog.specs.get(d.key)
    if spec is not None:
        return spec, False, None
    if "." in d.key:
        prefix = d.key.split(".", 1)[0] + "."
        siblings = [n for n in catalog.specs if n.startswith(prefix)]
        if not siblings:  # the module is not loaded: the server may accept a placeholder
            if d.scope == "system" and catalog.version_num < 170000:
                return (
                    None,
                    False,
                    (
                        f"unknown setting {d.name!r}: its module is not loaded, and before PostgreSQL 17 "
                        "ALTER SYSTEM accepts a custom setting only once its module is loaded "
                        "(add the module to shared_preload_libraries, restart, then apply again)"
                    ),
                )
            return GucSpec(d.key, "string", context="user"), True, None
        candidates = siblings
    else:
        candidates = list(catalog.specs)
    close = difflib.get_close_matches(d.key, candidates, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    if not catalog.sees_all:
        hint += (
            f" (or it is hidden from the connected role {catalog.reader!r}: superuser-only settings such as "
            f"shared_preload_libraries are visible with GRANT pg_read_all_settings TO {quoted(catalog.reader)})"
        )
    return None, False, f"unknown setting {d.name!r}{hint}"


def _privilege_error(d: DesiredSetting, spec: GucSpec, catalog: SettingsCatalog) -> str | None:
    if catalog.superuser:
        return None
    may_alter_system, may_set = catalog.privileges.get(d.key, (False, False))
    if d.scope == "system" and not may_alter_system:
        return (
            f"role {catalog.current_user!r} may not change {spec.name} with ALTER SYSTEM "
            f"(GRANT ALTER SYSTEM ON PARAMETER {spec.name} TO {quoted(catalog.current_user)}, or apply as a superuser)"
        )
    if d.scope != "system" and spec.context in ("superuser", "superuser-backend") and not may_set:
        return (
            f"role {catalog.current_user!r} may not set {spec.name}, a superuser setting "
            f"(GRANT SET ON PARAMETER {spec.name} TO {quoted(catalog.current_user)}, or apply as a superuser)"
        )
    return None


def _scope_grant(scope: str, entry: ScopedTarget, role: str) -> str:
    """What gives `role` the right to ALTER DATABASE|ROLE ... SET: the database owner's rights, or CREATEROLE."""
    if scope == "database":
        return f"GRANT {quoted(entry.owner)} TO {quoted(role)}" if entry.owner else "the database owner's rights"
    return f"ALTER ROLE {quoted(role)} CREATEROLE"


def validate(
    desired: list[DesiredSetting], catalog: SettingsCatalog, *, through_patroni: bool = False
) -> list[TypedSetting]:
    """Check every desired setting against the live server; raise all problems at once.

    `through_patroni`: the values go to Patroni's DCS, not ALTER SYSTEM — its rules (privilege per
    parameter, allow_alter_system, values set on the command line, which Patroni itself does) do
    not apply; names, types, units, ranges and contexts do."""
    errors: list[ProfileError] = []
    typed: list[TypedSetting] = []
    seen: dict[tuple[str, str | None, str], DesiredSetting] = {}
    system_declared = any(d.scope == "system" for d in desired)
    if system_declared and catalog.files is None:
        errors.append(
            ProfileError(
                desired[0].key_location,
                (
                    f"the connected role {catalog.reader!r} may not read pg_file_settings, which planning "
                    f"server-wide settings needs (GRANT SELECT ON pg_file_settings TO {quoted(catalog.reader)}; "
                    "GRANT EXECUTE ON FUNCTION pg_show_all_file_settings() TO "
                    f"{quoted(catalog.reader)}; or connect as a superuser)"
                ),
            )
        )
    allow = catalog.running.get("allow_alter_system")
    if system_declared and allow is not None and allow.setting == "off" and not through_patroni:
        errors.append(
            ProfileError(desired[0].key_location, "allow_alter_system is off on this server: ALTER SYSTEM is disabled")
        )
    for d in desired:
        where = (d.scope, d.target, d.key)
        if where in seen:
            errors.append(
                ProfileError(d.key_location, f"setting {d.name!r} is declared twice (also as {seen[where].name!r})")
            )
            continue
        seen[where] = d
        spec, placeholder, problem = _spec_for(d, catalog)
        if spec is None:
            errors.append(ProfileError(d.key_location, (problem or "unknown setting") + _provenance(d)))
            continue
        if d.scope != "system" and (d.scope, d.target) not in catalog.scoped:
            continue  # reported once per target below
        problem = _context_error(d, spec) or (None if through_patroni else _privilege_error(d, spec, catalog))
        if problem is None and d.scope == "system" and not through_patroni:
            source = catalog.running.get(d.key)
            if source is not None and source.source in UNOVERRIDABLE_SOURCES and d.raw is not None:
                value = _try_canonical(spec, d.raw)
                live = _try_canonical(spec, source.setting)
                if not isinstance(value, Unparsable) and (isinstance(live, Unparsable) or not spec.equal(value, live)):
                    problem = (
                        f"{spec.name} is set on the server's {source.source}, which overrides "
                        "postgresql.auto.conf: ALTER SYSTEM cannot change it"
                    )
        if problem:
            errors.append(ProfileError(d.key_location, problem))
            continue
        if d.raw is None:
            typed.append(TypedSetting(d, spec, None, placeholder))
            continue
        problem = newline_problem(spec.name, d.raw) if d.scope == "system" else None
        if problem:
            errors.append(ProfileError(d.location, problem))
            continue
        if spec.is_list and (d.raw == [] or (isinstance(d.raw, str) and not d.raw.strip())):
            errors.append(
                ProfileError(
                    d.location,
                    (
                        f"{spec.name}: an empty list would be written as '\"\"' and can stop the server from starting; "
                        "use null to remove the override"
                    ),
                )
            )
            continue
        try:
            typed.append(TypedSetting(d, spec, spec.canonical(d.raw), placeholder))
        except InvalidValue as exc:
            errors.append(ProfileError(d.location, str(exc) + _provenance(d)))
    for scope in ("database", "role"):
        targets = {d.target: d for d in desired if d.scope == scope}
        known = [t for (s, t) in catalog.scoped if s == scope]
        for target, d in targets.items():
            assert target is not None
            entry = catalog.scoped.get((scope, target))
            loc = d.key_location
            if entry is None:
                close = difflib.get_close_matches(target, known, n=3)
                hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                errors.append(ProfileError(loc, f"unknown {scope} {target!r}{hint}"))
            elif not entry.may_alter:
                errors.append(
                    ProfileError(
                        loc,
                        (
                            f"role {catalog.current_user!r} may not ALTER {scope.upper()} {target} "
                            f"({_scope_grant(scope, entry, catalog.current_user)}, or apply as a superuser)"
                        ),
                    )
                )
    errors.sort(key=lambda e: (str(e.location.path), e.location.line, e.location.col) if e.location else ("", 0, 0))
    raise_if_any(errors)
    return typed


def _provenance(d: DesiredSetting) -> str:
    if d.source != "workload":
        return ""
    return f" ({d.name} = {d.raw} is derived from workload:; set it under settings: to override)"


def _context_error(d: DesiredSetting, spec: GucSpec) -> str | None:
    if spec.context == "internal":
        return f"{spec.name} is read-only (fixed when PostgreSQL was built or initialised)"
    if d.scope != "system" and spec.context not in SCOPED_CONTEXTS:
        return (
            f"{spec.name} cannot be set per {d.scope}: it is a {spec.context} setting; "
            "declare it under settings: instead"
        )
    return None


def _try_canonical(spec: GucSpec, raw: str | list[str] | None) -> Canonical | Unparsable | None:
    if raw is None:
        return None
    try:
        return spec.canonical(raw, check_range=False)
    except InvalidValue:
        return Unparsable(str(raw))


# --- comparison -----------------------------------------------------------------------------


def _same(spec: GucSpec, a: object, b: object) -> bool:
    if isinstance(a, Unparsable) or isinstance(b, Unparsable):
        return False
    return spec.equal(a, b)  # type: ignore[arg-type]


def _show(spec: GucSpec, value: object) -> str:
    return str(value) if isinstance(value, Unparsable) else spec.display(value)  # type: ignore[arg-type]


def _set_statement(prefix: sql.Composable, spec: GucSpec, value: Canonical) -> sql.Composed:
    values = sql.SQL(", ").join(sql.Literal(v) for v in spec.sql_values(value))
    return sql.SQL("{} SET {} = {}").format(prefix, setting_name(spec.name), values)


def _reset_statement(prefix: sql.Composable, spec: GucSpec) -> sql.Composed:
    return sql.SQL("{} RESET {}").format(prefix, setting_name(spec.name))


def _hazards(t: TypedSetting) -> tuple[Hazard, ...]:
    out = []
    if t.desired.scope == "system" and t.spec.name in PRELOAD_SETTINGS:
        out.append(hazard("STARTUP_RISK"))
    if t.placeholder:
        out.append(hazard("UNVERIFIED_SETTING"))
    if t.unverified:
        out.append(
            hazard(
                "UNVERIFIED_LIBRARY",
                "pgtune may not look at the server's files (needs superuser, or pg_read_server_files and SELECT on "
                f"pg_config) and the server does not run {', '.join(t.unverified)} now: that it is installed is "
                "unverified.",
            )
        )
    return tuple(out)


def configured_running(spec: GucSpec, catalog: SettingsCatalog, key: str) -> tuple[Any, Any]:
    """What the configuration files make the server run (after a restart), and what it runs now."""
    rows = (catalog.files or {}).get(key, [])
    run = catalog.running.get(key)
    if key in CONNECTION_DEPENDENT:
        run = None  # SHOW reads this session's socket (0 on a Unix socket, the kernel's value over TCP)
    running = None if run is None or run.source in SESSION_SOURCES else _try_canonical(spec, run.setting)
    if run is not None and run.source in UNOVERRIDABLE_SOURCES:
        configured = running
    elif rows:
        configured = _try_canonical(spec, rows[-1].setting)
    elif run is not None and run.source not in SESSION_SOURCES:
        configured = running
    else:
        configured = _try_canonical(spec, spec.boot_val)
    if running is None:
        running = configured
    return configured, running


def _after_reset(spec: GucSpec, catalog: SettingsCatalog, key: str) -> Any:
    """The value once ALTER SYSTEM RESET removed the postgresql.auto.conf entry."""
    others = [r for r in (catalog.files or {}).get(key, []) if not r.auto]
    return _try_canonical(spec, others[-1].setting) if others else _try_canonical(spec, spec.boot_val)


def _system_diff(t: TypedSetting, catalog: SettingsCatalog, render: _Render) -> Change | Notice | None:
    spec, d = t.spec, t.desired
    assert catalog.files is not None
    rows = catalog.files.get(d.key, [])
    configured, running = configured_running(spec, catalog, d.key)
    prefix = sql.SQL("ALTER SYSTEM")

    def pending_restart() -> Notice | None:
        if spec.restart_required and not _same(spec, configured, running):
            return Notice.about(
                d.address,
                "RESTART_PENDING",
                f"{spec.name} = {_show(spec, configured)} is written but the server still runs "
                f"{_show(spec, running)}: restart PostgreSQL to apply it",
            )
        return None

    if t.value is None:  # reset: only when postgresql.auto.conf holds an entry
        auto = [r for r in rows if r.auto]
        if not auto:
            return pending_restart()
        after = _after_reset(spec, catalog, d.key)
        return Change(
            d.address,
            "delete",
            _show(spec, _try_canonical(spec, auto[-1].setting)),
            _show(spec, after),
            (render(_reset_statement(prefix, spec), False),),
            restart_required=spec.restart_required and not _same(spec, after, running),
            reload_required=True,
            hazards=_hazards(t),
            source=t.desired.source,
            reset=True,
        )
    if not _same(spec, t.value, configured):
        note = None
        if not _same(spec, configured, running):
            note = f"running value: {_show(spec, running)}"
        return Change(
            d.address,
            "update",
            _show(spec, configured),
            spec.display(t.value),
            (render(_set_statement(prefix, spec, t.value), False),),
            restart_required=spec.restart_required and not _same(spec, t.value, running),
            reload_required=True,
            hazards=_hazards(t),
            source=t.desired.source,
            note=note,
        )
    if _same(spec, t.value, running):
        return None
    if spec.restart_required:
        return pending_restart()
    # Written to the files but never reloaded: the reload is the change.
    return Change(
        d.address,
        "update",
        _show(spec, running),
        spec.display(t.value),
        (render(_set_statement(prefix, spec, t.value), False),),
        reload_required=True,
        hazards=_hazards(t),
        source=t.desired.source,
        note="written to the configuration files but not reloaded",
    )


def _scoped_diff(t: TypedSetting, catalog: SettingsCatalog, render: _Render) -> Change | None:
    spec, d = t.spec, t.desired
    assert d.target is not None
    stored_raw = catalog.scoped[(d.scope, d.target)].values.get(d.key)
    stored = _try_canonical(spec, stored_raw)
    prefix = sql.SQL("ALTER {} {}").format(sql.SQL(d.scope.upper()), identifier(d.target))
    if t.value is None:
        if stored_raw is None:
            return None
        return Change(
            d.address,
            "delete",
            _show(spec, stored),
            None,
            (render(_reset_statement(prefix, spec), True),),
            hazards=_hazards(t),
            source=t.desired.source,
            reset=True,
        )
    if stored_raw is not None and _same(spec, t.value, stored):
        return None
    return Change(
        d.address,
        "update",
        None if stored_raw is None else _show(spec, stored),
        spec.display(t.value),
        (render(_set_statement(prefix, spec, t.value), True),),
        hazards=_hazards(t),
        source=t.desired.source,
    )


class _Render:
    """Composed SQL into plan statements."""

    def __init__(self, render: Render) -> None:
        self.render = render

    def __call__(self, stmt: sql.Composable, transactional: bool) -> Statement:
        return Statement(self.render(stmt), transactional, "none")


def diff(typed: list[TypedSetting], catalog: SettingsCatalog, render: Render) -> KindResult:
    """Pure comparison of validated desired settings with the catalog (ordered: system, db, role)."""
    result = KindResult()
    statement = _Render(render)
    order = {"system": 0, "database": 1, "role": 2}
    for t in sorted(typed, key=lambda t: (order[t.desired.scope], t.desired.target or "", t.desired.key)):
        if t.desired.scope == "system":
            outcome: Change | Notice | None = _system_diff(t, catalog, statement)
        else:
            outcome = _scoped_diff(t, catalog, statement)
        if isinstance(outcome, Change):
            result.changes.append(outcome)
        elif isinstance(outcome, Notice):
            result.notices.append(outcome)
    return result


FALLBACKS = {("wal_compression", "lz4"): "on", ("io_method", "io_uring"): "worker"}
"""Derived values that need a build option (--with-lz4, --with-liburing): when the server's enum
lacks them, the workload layer uses the portable choice instead of failing (PGTune only warns)."""


def adapt(desired: list[DesiredSetting], catalog: SettingsCatalog) -> list[DesiredSetting]:
    out = []
    for d in desired:
        spec = catalog.specs.get(d.key)
        fallback = FALLBACKS.get((d.key, str(d.raw)))
        if d.source == "workload" and spec is not None and fallback and str(d.raw) not in spec.enumvals:
            d = DesiredSetting(d.scope, d.target, d.name, fallback, d.location, d.key_location, d.source)
        out.append(d)
    return out


@dataclass(frozen=True)
class SettingsLive:
    """The catalog's side, and the desired settings typed by it (libraries looked up)."""

    catalog: SettingsCatalog
    typed: list[TypedSetting]


class SettingsKind:
    name = KIND
    runs_on = "every node"  # ALTER SYSTEM writes one node's postgresql.auto.conf; it is not replicated

    def desired(self, ctx: PlanContext) -> list[DesiredSetting] | None:
        wanted = desired_settings(ctx.loaded, workload_settings(ctx))
        if ctx.standby:  # per-database and per-role settings live in the replicated catalog: the primary's
            wanted = [d for d in wanted if d.scope == "system"]
        if not ctx.server_settings:
            wanted = [d for d in wanted if d.scope != "system"]  # through Patroni's DCS instead
        return wanted or None

    def read(self, ctx: PlanContext, wants: list[DesiredSetting]) -> SettingsLive:
        catalog = ctx.settings_catalog or read(ctx.conn, wants)  # the engine's (engine.build_plan), else our own
        typed = _check_libraries(ctx.conn, validate(adapt(wants, catalog), catalog), catalog)
        return SettingsLive(catalog, typed)

    def diff(self, wants: list[DesiredSetting], live: SettingsLive, env: DiffEnv) -> KindResult:
        result = diff(live.typed, live.catalog, env.render)
        reloads = [c for c in result.changes if c.reload_required]
        if reloads and not live.catalog.can_reload:
            first = next(t for t in live.typed if t.desired.address == reloads[0].address)
            result.errors.append(
                ProfileError(
                    first.desired.key_location,
                    f"role {live.catalog.current_user!r} may not run pg_reload_conf(): {len(reloads)} setting(s) "
                    "would be written and never take effect (GRANT EXECUTE ON FUNCTION pg_reload_conf() TO "
                    f"{quoted(live.catalog.current_user)}, or apply as a superuser)",
                )
            )
        return result

    def export(self, ctx: PlanContext, options: ExportOptions) -> dict[str, Any]:
        if options.settings == "none":
            return {}
        out: dict[str, Any] = {}
        server = _export_server(ctx.conn, options)
        if server:
            out["settings"] = server
        for scope, target, _may, setconfig, _owner in ctx.conn.execute(load_sql("scoped_settings")).fetchall():
            values = dict(item.partition("=")[::2] for item in setconfig)
            if values:
                out.setdefault("databases" if scope == "database" else "roles", {})[target] = {"settings": values}
        return out

    def adopt(self, change: Change, loaded: LoadedProfile) -> Adoption:
        at = change.address
        if at.scope is None:
            return {("settings", at.name): change.before}, None
        section = "databases" if at.scope == "database" else "roles"
        return {(section, str(at.target), "settings", at.name): change.before}, None


resource = SettingsKind()

HOST_SETTINGS = frozenset(
    {
        "data_directory",
        "config_file",
        "hba_file",
        "ident_file",
        "external_pid_file",
        "port",
        "listen_addresses",
        "unix_socket_directories",
        "unix_socket_group",
        "unix_socket_permissions",
        "ssl_cert_file",
        "ssl_key_file",
        "ssl_ca_file",
        "ssl_crl_file",
        "ssl_crl_dir",
        "lc_messages",
        "lc_monetary",
        "lc_numeric",
        "lc_time",
        "datestyle",
        "timezone",
        "log_timezone",
        "default_text_search_config",
        "cluster_name",
        "application_name",
        "client_encoding",
        "transaction_isolation",
        "transaction_read_only",
        "transaction_deferrable",
        "session_authorization",
        "role",
        # A standby's link to its primary: node identity, and primary_conninfo may hold a password.
        "primary_conninfo",
        "primary_slot_name",
        "ssl_passphrase_command",
    }
)
"""Settings that describe the host or the session, not its tuning: never adopted."""


def _export_server(conn: psycopg.Connection, options: ExportOptions) -> dict[str, Any]:
    catalog = read(conn, [], with_files=True)
    if catalog.files is None:
        options.warnings.append("this role may not read pg_file_settings: server-wide settings were not adopted")
        return {}
    out: dict[str, Any] = {}
    for key in sorted(catalog.specs):
        spec = catalog.specs[key]
        if spec.context == "internal" or key in HOST_SETTINGS:
            continue
        running = catalog.running.get(key)
        if running is not None and running.source in UNOVERRIDABLE_SOURCES:
            continue  # set on the command line: ALTER SYSTEM cannot manage it
        if options.settings == "changed" and key not in catalog.files:
            continue
        configured, _ = configured_running(spec, catalog, key)
        if configured is None or isinstance(configured, Unparsable):
            options.warnings.append(f"setting {spec.name}: unreadable value {configured!s}; not adopted")
            continue
        out[spec.name] = list(configured) if isinstance(configured, tuple) else spec.display(configured)
    return out


def _check_libraries(
    conn: psycopg.Connection, typed: list[TypedSetting], catalog: SettingsCatalog
) -> list[TypedSetting]:
    """Every declared preload library must be loadable: a missing one is an error (a restart would
    not come up, or no session could start); one pgtune may not look for is marked unverified."""
    lists = [t for t in typed if t.spec.name in PRELOAD_SETTINGS and t.value is not None]
    if not lists:
        return typed
    wanted: dict[str, list[str]] = {}
    for t in lists:
        wanted.setdefault(t.spec.name, []).extend(t.spec.sql_values(t.value))  # type: ignore[arg-type]
    running = [
        r.setting or ""
        for name in ("shared_preload_libraries", "session_preload_libraries", "local_preload_libraries")
        if (r := catalog.running.get(name)) is not None
    ]
    library_path = catalog.running.get("dynamic_library_path")
    verdict = libraries.check(
        conn, wanted, library_path.setting if library_path else None, running, catalog.can_look_at_files
    )
    errors = []
    for t in lists:
        for lib in t.spec.sql_values(t.value):  # type: ignore[arg-type]
            if lib in verdict.missing:
                looked = ", ".join(dict.fromkeys(path.rsplit("/", 1)[0] for path in verdict.missing[lib]))
                consequence = (
                    "the next restart would fail (FATAL: could not access file)"
                    if t.spec.name == "shared_preload_libraries"
                    else "every new session it applies to would fail to start"
                )
                errors.append(
                    ProfileError(
                        t.desired.location,
                        f"{t.spec.name}: library {lib!r} is not installed on this server (looked in {looked}): "
                        f"{consequence}. Install it (e.g. the PostgreSQL contrib package) or remove it from the list",
                    )
                )
    raise_if_any(errors)
    unverified = set(verdict.unverified)
    return [
        replace(t, unverified=tuple(lib for lib in t.spec.sql_values(t.value) if lib in unverified))
        if t.spec.name in PRELOAD_SETTINGS and t.value is not None
        else t
        for t in typed
    ]


# --- through Patroni's DCS ------------------------------------------------------------------


def patroni_diff(
    typed: list[TypedSetting], dcs: dict[str, Any], members: dict[str, SettingsCatalog]
) -> KindResult:
    """Server-wide settings through Patroni's DCS (pure): one change per key that differs, each a
    PATCH of exactly that key. What the DCS holds is the configured value; a key it does not hold
    is compared with what every member runs."""
    result = KindResult()
    stored_keys = {k.lower(): k for k in dcs}
    for t in sorted((t for t in typed if t.desired.scope == "system"), key=lambda t: t.desired.key):
        spec, key = t.spec, t.desired.key
        stored_key = stored_keys.get(key)
        runs = {m: configured_running(spec, cat, key)[1] for m, cat in members.items() if key in cat.specs}
        address = Address(KIND, key, scope="patroni")
        stored = None if stored_key is None else _try_canonical(spec, str(dcs[stored_key]))
        if t.value is None:
            if stored_key is None:
                continue
            result.changes.append(
                Change(
                    address,
                    "delete",
                    _show(spec, stored),
                    None,
                    (patch_statement(stored_key, None),),
                    restart_required=spec.restart_required,
                    hazards=_hazards(t),
                    source=t.desired.source,
                    reset=True,
                    note="removed from Patroni's configuration: members fall back to their local or built-in value",
                )
            )
            continue
        if stored is not None and not isinstance(stored, Unparsable) and _same(spec, t.value, stored):
            continue
        if stored is None and runs and all(_same(spec, t.value, r) for r in runs.values()):
            continue
        note = None
        if stored is None:
            running = sorted({_show(spec, r) for r in runs.values()})
            note = f"not in Patroni's configuration; the members run {', '.join(running)}"
        result.changes.append(
            Change(
                address,
                "update",
                None if stored is None else _show(spec, stored),
                spec.display(t.value),
                (patch_statement(stored_key or spec.name, spec.display(t.value)),),
                restart_required=spec.restart_required and any(not _same(spec, t.value, r) for r in runs.values()),
                hazards=_hazards(t),
                source=t.desired.source,
                note=note,
            )
        )
    return result


def behind_patroni(member: str, catalog: SettingsCatalog) -> list[Notice]:
    """Values a member's postgresql.auto.conf sets (ALTER SYSTEM behind Patroni's back): they beat
    Patroni's configuration on that member alone."""
    out = []
    for key, rows in sorted((catalog.files or {}).items()):
        auto = [r for r in rows if r.auto]
        if auto:
            out.append(
                Notice(
                    KIND,
                    f"{member}/{key}",
                    "SET_BEHIND_PATRONI",
                    f"postgresql.auto.conf on {member} sets {key} = {auto[-1].setting} (ALTER SYSTEM behind "
                    "Patroni's back): it overrides the cluster's configuration on that member; "
                    f"ALTER SYSTEM RESET {key} there, and let the profile set it",
                )
            )
    return out


# --- what other kinds need to know -----------------------------------------------------------


@dataclass(frozen=True)
class Outlook:
    """A server-wide setting now and once the plan is applied (and the server restarted, if needed)."""

    spec: GucSpec
    running: Any
    planned: Any
    planned_by_profile: bool

    def show(self, value: Any) -> str:
        return _show(self.spec, value)


def plan_catalog(ctx: PlanContext) -> SettingsCatalog | None:
    """The settings catalog one plan shares: read once by the engine, before any kind runs, for
    every kind that needs it — the settings kind's comparison, the pools' capacity checks — so no
    kind depends on another having run first. None: nothing in the profile needs it."""
    wants = resource.desired(ctx) or []
    pools = ctx.loaded.profile.pool is not None
    if not wants and not pools:
        return None
    return read(ctx.conn, wants, with_files=pools)


def outlook(ctx: PlanContext, names: list[str]) -> dict[str, Outlook]:
    """Running and planned values of server-wide settings, for cross-checks (pool capacity).

    Planned: the profile's value when it declares one (valid or not: the settings kind reports
    errors), else what the configuration files hold, which includes a pending restart."""
    given = ctx.settings_catalog
    catalog = given if given is not None and given.files is not None else read(ctx.conn, [], with_files=True)
    declared: dict[str, str | list[str] | None] = {name.lower(): raw for name, raw in workload_settings(ctx).items()}
    declared |= {name.lower(): raw for name, raw in ctx.loaded.profile.settings.items()}
    out: dict[str, Outlook] = {}
    for name in names:
        spec = catalog.specs.get(name)
        if spec is None:
            continue  # e.g. reserved_connections before PostgreSQL 16
        configured, running = configured_running(spec, catalog, name)
        planned, by_profile = configured, False
        if name in declared:
            raw = declared[name]
            value = _after_reset(spec, catalog, name) if raw is None else _try_canonical(spec, raw)
            if not isinstance(value, Unparsable):
                planned, by_profile = value, True
        out[name] = Outlook(spec, running, planned, by_profile)
    return out
