"""The pure comparison: which settings change, with their statements, reloads, restarts and hazards."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from pgtune.base.guc import Canonical, GucSpec
from pgtune.base.identifiers import identifier, setting_name
from pgtune.kinds import KindResult, Render
from pgtune.kinds.settings.model import (
    CONNECTION_DEPENDENT,
    PRELOAD_SETTINGS,
    SESSION_SOURCES,
    UNOVERRIDABLE_SOURCES,
    SettingsCatalog,
    TypedSetting,
    Unparsable,
)
from pgtune.kinds.settings.validation import _try_canonical
from pgtune.plan.hazards import hazard
from pgtune.plan.model import Change, Hazard, Notice, Statement

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
    statements = (render(_set_statement(prefix, spec, t.value), False),)

    def set_from(before: Any, restart: bool, note: str | None) -> Change:
        after = spec.display(t.value)
        hazards = _hazards(t)
        return Change(
            d.address,
            "update",
            _show(spec, before),
            after,
            statements,
            restart_required=restart,
            reload_required=True,
            hazards=hazards,
            source=d.source,
            note=note,
        )

    if not _same(spec, t.value, configured):
        note = None if _same(spec, configured, running) else f"running value: {_show(spec, running)}"
        return set_from(configured, spec.restart_required and not _same(spec, t.value, running), note)
    if _same(spec, t.value, running):
        return None
    if spec.restart_required:
        return pending_restart()
    # Written to the files but never reloaded: the reload is the change.
    return set_from(running, False, "written to the configuration files but not reloaded")


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
