"""The settings catalog: pg_settings, the configuration files, scoped settings and privileges, in a
constant number of queries whatever the profile's size."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from pgtune.base.guc import GucSpec, InvalidValue
from pgtune.kinds import load_sql
from pgtune.kinds.settings.model import SESSION_SOURCES, DesiredSetting, FileRow, Running, ScopedTarget, SettingsCatalog

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


def runs(conn: psycopg.Connection, name: str, value: object) -> bool | None:
    """Whether the server `conn` reaches runs `value` for `name` now — the one "has it taken
    effect?" check of every store (Patroni's DCS, a parameter group). None: it cannot tell (the
    name is unknown there, set per session, or `value` is no value of it, such as a formula)."""
    row = conn.execute("SELECT setting, unit, vartype, source FROM pg_settings WHERE name = %s", (name,)).fetchone()
    if row is None or row[3] in SESSION_SOURCES:
        return None
    spec = GucSpec(name, row[2], row[1])
    try:
        return spec.equal(spec.canonical(row[0], check_range=False), spec.canonical(str(value)))
    except InvalidValue:
        return None
