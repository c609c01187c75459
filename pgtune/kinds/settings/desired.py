"""The desired side of server settings: the profile's entries, at each scope, and what `workload:`
derives for this server (PGTune's formulas), read once per plan."""

from __future__ import annotations

from typing import Any

from pgtune.base.errors import ProfileError
from pgtune.kinds import PlanContext
from pgtune.kinds.settings.model import DesiredSetting
from pgtune.profile import workload
from pgtune.profile.loader import LoadedProfile


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


def desired(ctx: PlanContext) -> list[DesiredSetting] | None:
    """The settings this node must hold: the profile's and its workload's, per scope."""
    wanted = desired_settings(ctx.loaded, workload_settings(ctx))
    if ctx.standby:  # per-database and per-role settings live in the replicated catalog: the primary's
        wanted = [d for d in wanted if d.scope == "system"]
    if not ctx.server_settings:
        wanted = [d for d in wanted if d.scope != "system"]  # through Patroni's DCS instead
    return wanted or None
