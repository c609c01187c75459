"""Server settings (GUCs): server-wide via ALTER SYSTEM, per database and per role via ALTER ... SET.

The kind (desired state, its `Kind` object, export and adoption) lives here; its parts are modules of
their own, public to the engine, the cluster targets and Patroni's writer: `catalog` (the read: four
queries whatever the profile's size), `validation` (against the live server), `comparison` (the pure
diff), `dcs` (server-wide settings through Patroni's DCS), `outlook` (what other kinds need to know).

What "the current value" means, per scope:
- server-wide: what the configuration files will make the server run — the last row per name in
  `pg_file_settings` (postgresql.auto.conf is read last, so it wins), or the running value when no
  file sets it. A value written but not yet live is a pending reload (a change: reload it) or, for
  postmaster settings, a pending restart (not a change: reported, so plans never diff forever).
- database/role: the entry in `pg_db_role_setting`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgtune.base.errors import ProfileError
from pgtune.base.identifiers import quoted
from pgtune.kinds import Adoption, DiffEnv, ExportOptions, KindResult, PlanContext, load_sql
from pgtune.kinds.settings.catalog import read, runs
from pgtune.kinds.settings.comparison import configured_running, diff
from pgtune.kinds.settings.dcs import behind_patroni, patroni_diff
from pgtune.kinds.settings.desired import desired, desired_settings, workload_settings
from pgtune.kinds.settings.model import (
    KIND,
    UNOVERRIDABLE_SOURCES,
    DesiredSetting,
    FileRow,
    Running,
    ScopedTarget,
    SettingsCatalog,
    TypedSetting,
    Unparsable,
)
from pgtune.kinds.settings.outlook import Outlook, outlook, plan_catalog
from pgtune.kinds.settings.validation import _check_libraries, adapt, validate
from pgtune.plan.model import Change
from pgtune.profile.loader import LoadedProfile

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "KIND",
    "DesiredSetting",
    "FileRow",
    "Outlook",
    "Running",
    "ScopedTarget",
    "SettingsCatalog",
    "SettingsKind",
    "SettingsLive",
    "TypedSetting",
    "Unparsable",
    "adapt",
    "behind_patroni",
    "configured_running",
    "desired_settings",
    "diff",
    "outlook",
    "patroni_diff",
    "plan_catalog",
    "read",
    "resource",
    "runs",
    "validate",
    "workload_settings",
]


@dataclass(frozen=True)
class SettingsLive:
    """The catalog's side, and the desired settings typed by it (libraries looked up)."""

    catalog: SettingsCatalog
    typed: list[TypedSetting]


class SettingsKind:
    name = KIND
    runs_on = "every node"  # ALTER SYSTEM writes one node's postgresql.auto.conf; it is not replicated

    def desired(self, ctx: PlanContext) -> list[DesiredSetting] | None:
        return desired(ctx)

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
