"""Adopt what runs: read the live state into a profile (`pgtune inspect`).

The inspector reads through the same catalog code the kinds plan with (settings.read,
tables.resolve, indexes.read, partitions.read_layouts), and renders values the way those kinds
compare them, so planning the adopted profile against the same server yields no changes.
It then proves it: the adopted profile is planned, and anything that would still change is
reported, never silently dropped.

What it writes:
- settings whose value comes from a configuration file (`--settings changed`, the default) or
  every settable one (`all`), minus the host's identity (paths, ports, locale: `HOST_SETTINGS`);
  the value is what the files make the server run, pending restarts included;
- per-database and per-role settings;
- for tables matching `--tables` globs: storage parameters (those every leaf shares, for a
  partitioned table), indexes that do not back a constraint, and partitioning (strategy, key,
  interval inferred from the partitions' bounds, start, premake, naming, default, list values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

import psycopg
from ruamel.yaml.comments import CommentedMap

from pgtune.engine import server_info
from pgtune.guc import GucSpec
from pgtune.identifiers import qualified_text
from pgtune.indexdef import parse_live
from pgtune.kinds import load_sql, read_columns, settings, tables
from pgtune.kinds.indexes import read as read_indexes
from pgtune.kinds.partitions import Child, Layout, display, read_layouts
from pgtune.partitioning import default_naming, parse_interval, partition_name
from pgtune.profile.edit import dump_document, yaml_number
from pgtune.profile.loader import LoadedProfile
from pgtune.profile.model import Profile, TableSpec
from pgtune.profile.source import PositionIndex

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

NAMING_CANDIDATES = (
    "{table}_{year}_{month}",
    "{table}_{year}{month}",
    "{table}_y{year}m{month}",
    "{table}_p{year}{month}",
    "{table}_{year}_{month}_{day}",
    "{table}_p{year}{month}{day}",
    "{table}_{year}{month}{day}",
    "{table}_{year}",
    "{table}_{lower}",
)
"""Naming schemes tried when pgtune's (pg_partman 4.x) default does not reproduce the names."""

TIME_INTERVALS = ("1 hour", "1 day", "1 week", "1 month", "3 months", "1 year")


@dataclass
class Inspection:
    document: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _escape(value: Any) -> Any:
    """Profiles interpolate ${VAR}: a literal $ is written $$ (in every value, never in keys)."""
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, str):
        return value.replace("$", "$$")
    return value


def _setting_value(spec: GucSpec, value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return spec.display(value)


def _server_settings(conn: psycopg.Connection, mode: str, warnings: list[str]) -> dict[str, Any]:
    if mode == "none":
        return {}
    catalog = settings.read(conn, [], with_files=True)
    if catalog.files is None:
        warnings.append("this role may not read pg_file_settings: server-wide settings were not adopted")
        return {}
    out: dict[str, Any] = {}
    for key in sorted(catalog.specs):
        spec = catalog.specs[key]
        if spec.context == "internal" or key in HOST_SETTINGS:
            continue
        running = catalog.running.get(key)
        if running is not None and running.source in settings.UNOVERRIDABLE_SOURCES:
            continue  # set on the command line: ALTER SYSTEM cannot manage it
        if mode == "changed" and key not in catalog.files:
            continue
        configured, _ = settings.configured_running(spec, catalog, key)
        if configured is None or isinstance(configured, settings.Unparsable):
            warnings.append(f"setting {spec.name}: unreadable value {configured!s}; not adopted")
            continue
        out[spec.name] = _setting_value(spec, configured)
    return out


def _scoped_settings(conn: psycopg.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
    databases: dict[str, Any] = {}
    roles: dict[str, Any] = {}
    for scope, target, _may, setconfig in conn.execute(load_sql("scoped_settings")).fetchall():
        values = {}
        for item in setconfig:
            name, _, value = item.partition("=")
            values[name] = value
        if values:
            (databases if scope == "database" else roles)[target] = {"settings": values}
    return databases, roles


def _matching_tables(conn: psycopg.Connection, patterns: list[str]) -> list[str]:
    rows = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' "
        "ORDER BY 1, 2"
    ).fetchall()
    # Globs match the names as stored ("MixedCase".t is MixedCase.t); keys are written as the
    # profile format reads them: parts that need it double-quoted.
    return [qualified_text(s, t) for s, t in rows if any(fnmatchcase(f"{s}.{t}", p) for p in patterns)]


def _storage(table: tables.Table) -> dict[str, str]:
    leaves = table.leaves
    if not leaves:
        return {}
    per_leaf = []
    for leaf in leaves:
        options = dict(leaf.reloptions)
        options |= {f"toast.{k}": v for k, v in (leaf.toast_reloptions or {}).items()}
        per_leaf.append(options)
    common = {k: v for k, v in per_leaf[0].items() if all(o.get(k) == v for o in per_leaf[1:])}
    return dict(sorted(common.items()))


def _month_add(value: date, months: int) -> date:
    month = value.month - 1 + months
    return value.replace(year=value.year + month // 12, month=month % 12 + 1)


def _fits(interval: str, lower: Any, upper: Any) -> bool:
    if not isinstance(lower, date) or not isinstance(upper, date):
        return False
    if interval in ("1 hour", "1 day", "1 week"):
        step = {"1 hour": timedelta(hours=1), "1 day": timedelta(days=1), "1 week": timedelta(weeks=1)}[interval]
        if isinstance(lower, datetime):
            return upper - lower == step
        return interval != "1 hour" and upper - lower == step
    if lower.day != 1 or (isinstance(lower, datetime) and (lower.hour, lower.minute) != (0, 0)):
        return False
    months = {"1 month": 1, "3 months": 3, "1 year": 12}[interval]
    return _month_add(lower, months) == upper


def _partitioning(table: tables.Table, layout: Layout, now: datetime, warnings: list[str]) -> dict[str, Any] | None:
    where = table.qualified
    if layout.key_count != 1 or layout.key_is_expression or layout.strategy not in ("range", "list"):
        warnings.append(f"{where}: {layout.strategy} partitioning on this key is not something pgtune manages")
        return None
    spec: dict[str, Any] = {"strategy": layout.strategy, "key": layout.key_column}
    if layout.strategy == "list":
        lists = [c for c in layout.children if c.kind == "list"]
        spec["partitions"] = {c.name: sorted(c.values) for c in sorted(lists, key=lambda c: c.name)}
    else:
        ranges = sorted((c for c in layout.children if c.kind == "range"), key=lambda c: c.lower)  # type: ignore[arg-type, return-value]
        if not ranges:
            warnings.append(f"{where}: no range partitions to infer an interval from; partitioning not adopted")
            return None
        interval = _interval(ranges)
        if interval is None:
            warnings.append(f"{where}: its partitions do not share one supported interval; partitioning not adopted")
            return None
        spec["interval"] = interval
        step = parse_interval(interval)
        current = now.date() if layout.key_type == "date" else now
        if isinstance(ranges[0].lower, int):
            spec["start"] = str(ranges[0].lower)
            spec["premake"] = 0
        else:
            if layout.key_type == "timestamp without time zone":
                current = now.replace(tzinfo=None)
            spec["start"] = display(ranges[0].lower)
            spec["premake"] = sum(1 for c in ranges if c.lower is not None and c.lower > current)  # type: ignore[operator]
        naming = _naming(table.name, ranges, default_naming(step))
        if naming is None:
            warnings.append(f"{where}: partition names follow no known scheme; new ones get pgtune's default names")
        elif naming != default_naming(step):
            spec["naming"] = naming
    if layout.default is not None:
        spec["default_partition"] = True
    return spec


def _interval(ranges: list[Child]) -> str | None:
    if all(isinstance(c.lower, int) and isinstance(c.upper, int) for c in ranges):
        widths = {c.upper - c.lower for c in ranges}  # type: ignore[operator]
        return str(widths.pop()) if len(widths) == 1 else None
    for interval in TIME_INTERVALS:
        if all(_fits(interval, c.lower, c.upper) for c in ranges):
            return interval
    return None


def _naming(table: str, ranges: list[Child], default: str) -> str | None:
    for template in (default, *NAMING_CANDIDATES):
        try:
            if all(partition_name(template, table, c.lower) == c.name for c in ranges):  # type: ignore[arg-type]
                return template
        except (KeyError, ValueError):
            continue
    return None


def index_spec(definition: str) -> dict[str, Any]:
    parsed = parse_live(definition)
    spec: dict[str, Any] = {"columns": list(parsed.elements_sql)}
    if parsed.include:
        spec["include"] = list(parsed.include)
    if parsed.where_sql:
        spec["where"] = parsed.where_sql
    if parsed.unique:
        spec["unique"] = True
    if parsed.method != "btree":
        spec["method"] = parsed.method
    if parsed.options:
        spec["with"] = dict(parsed.options)
    if parsed.nulls_not_distinct:
        spec["nulls_not_distinct"] = True
    return spec


def _tables(conn: psycopg.Connection, patterns: list[str], as_of: str | None, warnings: list[str]) -> dict[str, Any]:
    names = _matching_tables(conn, patterns)
    if not names:
        return {}
    stub = LoadedProfile(Profile(name="inspect", tables={n: TableSpec() for n in names}), PositionIndex(), "<inspect>")
    resolved, problems = tables.resolve(conn, stub)
    found = [resolved[n] for n in names if n in resolved]
    for problem in problems:  # never silently incomplete
        warnings.append(f"not adopted: {problem.message}")
    version_num = server_info(conn).version_num
    catalog = read_indexes(conn, [], found, read_columns(conn, [t.oid for t in found]), version_num)
    layouts = read_layouts(conn, [t for t in found if t.partitioned], version_num)
    now_row = conn.execute("SELECT coalesce(%s::timestamptz, now())", (as_of,)).fetchone()
    assert now_row is not None
    out: dict[str, Any] = {}
    for table in found:
        entry: dict[str, Any] = {}
        storage = _storage(table)
        if storage:
            entry["storage"] = storage
        indexes: dict[str, Any] = {}
        for name, live in sorted(catalog.by_table.get(table.oid, {}).items()):
            if live.constraint or live.parent_index is not None or live.definition is None:
                continue
            if not live.valid:
                warnings.append(f"{live.qualified}: invalid index (an interrupted build?) not adopted")
                continue
            indexes[name] = index_spec(live.shape or live.definition)
        if indexes:
            entry["indexes"] = indexes
        layout = layouts.get(table.oid)
        if layout is not None:
            partitioning = _partitioning(table, layout, now_row[0], warnings)
            if partitioning:
                entry["partitioning"] = partitioning
        out[table.qualified] = entry
    return out


def inspect(
    conn: psycopg.Connection,
    *,
    name: str,
    settings_mode: str = "changed",
    table_patterns: list[str] | None = None,
    as_of: str | None = None,
) -> Inspection:
    """The live state as a profile document (plain data, $ escaped), read in one snapshot."""
    warnings: list[str] = []
    doc: dict[str, Any] = {"name": name}
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute("SELECT set_config('DateStyle', 'ISO, YMD', true)")
        server_settings = _server_settings(conn, settings_mode, warnings)
        if server_settings:
            doc["settings"] = server_settings
        if settings_mode != "none":
            databases, roles = _scoped_settings(conn)
            if databases:
                doc["databases"] = databases
            if roles:
                doc["roles"] = roles
        if table_patterns:
            found = _tables(conn, table_patterns, as_of, warnings)
            if found:
                doc["tables"] = found
    return Inspection(_escape(doc), warnings)


def to_yaml(doc: dict[str, Any], header: str) -> str:
    return dump_document(_commented(doc), header)


def _commented(data: Any) -> Any:
    """Index specs in flow style (one line per index reads like its definition); numbers unquoted."""
    if isinstance(data, dict):
        cm = CommentedMap((k, _commented(v)) for k, v in data.items())
        if "columns" in data:
            cm.fa.set_flow_style()
        return cm
    if isinstance(data, list):
        return [_commented(v) for v in data]
    if isinstance(data, str):
        return yaml_number(data)
    return data
