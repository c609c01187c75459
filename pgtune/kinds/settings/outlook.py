"""What other kinds need to know of the settings: the plan's shared catalog and the planned values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgtune.base.guc import GucSpec
from pgtune.kinds import PlanContext
from pgtune.kinds.settings.catalog import read
from pgtune.kinds.settings.comparison import _after_reset, _show, configured_running
from pgtune.kinds.settings.model import SettingsCatalog, Unparsable
from pgtune.kinds.settings.validation import _try_canonical
from pgtune.profile.model import FormulaValue

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
    from pgtune.kinds.settings.desired import desired

    wants = desired(ctx) or []
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
    from pgtune.kinds.settings.desired import workload_settings

    declared: dict[str, str | list[str] | None] = {name.lower(): raw for name, raw in workload_settings(ctx).items()}
    declared |= {  # a formula's number depends on the instance class: the configured value stands
        name.lower(): raw for name, raw in ctx.loaded.profile.settings.items() if not isinstance(raw, FormulaValue)
    }
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
