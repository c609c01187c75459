"""Validation against the live server: names (with suggestions), types, units, ranges, contexts,
privileges (naming the role and the GRANT), preload libraries; adapting values a version lacks."""

from __future__ import annotations

import difflib
from dataclasses import replace
from typing import TYPE_CHECKING

import pgtune.kinds.settings.libraries as libraries
from pgtune.base.errors import ProfileError, raise_if_any
from pgtune.base.guc import Canonical, GucSpec, InvalidValue
from pgtune.base.identifiers import quoted
from pgtune.kinds.settings.model import (
    PRELOAD_SETTINGS,
    SCOPED_CONTEXTS,
    UNOVERRIDABLE_SOURCES,
    DesiredSetting,
    ScopedTarget,
    SettingsCatalog,
    TypedSetting,
    Unparsable,
)
from pgtune.kinds.value_rules import checked_value

if TYPE_CHECKING:
    import psycopg

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
    desired: list[DesiredSetting], catalog: SettingsCatalog, *, through: str | None = None
) -> list[TypedSetting]:
    """Check every desired setting against the live server; raise all problems at once.

    `through`: the values go to a store, not ALTER SYSTEM — "patroni" (its DCS) or "parameter group"
    (RDS). ALTER SYSTEM's rules (privilege per parameter, allow_alter_system, values set on the
    command line) do not apply; names, types, units, ranges and contexts do. A parameter group also
    needs no pg_file_settings (RDS does not grant it), and takes formulas: typed with no value here,
    their text checked and evaluated by `pgtune.targets.rds.group`."""
    errors = _server_wide_errors(desired, catalog, through)
    typed: list[TypedSetting] = []
    seen: dict[tuple[str, str | None, str], DesiredSetting] = {}
    for d in desired:
        where = (d.scope, d.target, d.key)
        if where in seen:
            errors.append(
                ProfileError(d.key_location, f"setting {d.name!r} is declared twice (also as {seen[where].name!r})")
            )
            continue
        seen[where] = d
        outcome = _typed(d, catalog, through)
        if isinstance(outcome, ProfileError):
            errors.append(outcome)
        elif outcome is not None:
            typed.append(outcome)
    errors.extend(_scope_errors(desired, catalog))
    errors.sort(key=lambda e: (str(e.location.path), e.location.line, e.location.col) if e.location else ("", 0, 0))
    raise_if_any(errors)
    return typed


def _server_wide_errors(
    desired: list[DesiredSetting], catalog: SettingsCatalog, through: str | None
) -> list[ProfileError]:
    """What stops every server-wide setting at once: pg_file_settings unreadable, ALTER SYSTEM disabled."""
    errors: list[ProfileError] = []
    system_declared = any(d.scope == "system" for d in desired)
    if system_declared and catalog.files is None and through in (None, "patroni"):  # a service keeps no files
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
    if system_declared and allow is not None and allow.setting == "off" and through is None:
        errors.append(
            ProfileError(desired[0].key_location, "allow_alter_system is off on this server: ALTER SYSTEM is disabled")
        )
    return errors


def _typed(d: DesiredSetting, catalog: SettingsCatalog, through: str | None) -> TypedSetting | ProfileError | None:
    """One setting typed against the server's own definition, or why it cannot be (None: its scope's
    target is unknown, reported once per target by `_scope_errors`)."""
    to_store = through is not None
    spec, placeholder, problem = _spec_for(d, catalog)
    if spec is None:
        return ProfileError(d.key_location, (problem or "unknown setting") + _provenance(d))
    if d.scope != "system" and (d.scope, d.target) not in catalog.scoped:
        return None
    problem = _context_error(d, spec) or (None if to_store else _privilege_error(d, spec, catalog))
    if problem is None and d.scope == "system" and not to_store:
        problem = _overridden(d, spec, catalog)
    if problem:
        return ProfileError(d.key_location, problem)
    try:
        value = checked_value(spec, d.raw, system=d.scope == "system", formulas=through == "parameter group")
    except InvalidValue as exc:
        return ProfileError(d.location, str(exc) + _provenance(d))
    return TypedSetting(d, spec, value, placeholder)


def _overridden(d: DesiredSetting, spec: GucSpec, catalog: SettingsCatalog) -> str | None:
    """A value set on the command line (or another source above postgresql.auto.conf) that differs."""
    source = catalog.running.get(d.key)
    if source is None or source.source not in UNOVERRIDABLE_SOURCES or not isinstance(d.raw, str | list):
        return None
    value = _try_canonical(spec, d.raw)
    live = _try_canonical(spec, source.setting)
    if isinstance(value, Unparsable) or (not isinstance(live, Unparsable) and spec.equal(value, live)):
        return None
    return (
        f"{spec.name} is set on the server's {source.source}, which overrides "
        "postgresql.auto.conf: ALTER SYSTEM cannot change it"
    )


def _scope_errors(desired: list[DesiredSetting], catalog: SettingsCatalog) -> list[ProfileError]:
    """Databases and roles named by settings: they must exist, and the role must be allowed to ALTER them."""
    errors: list[ProfileError] = []
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
    return errors


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
