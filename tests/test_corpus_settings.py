"""The settings corpus: every settable bool, integer, real and enum setting of the server (read from
its pg_settings, so new versions are covered by running this) — its current value in several
spellings the server takes as equal plans no change; each value moved one step plans exactly that
change; a generated, safe subset applied in unusual spellings re-plans empty over TCP and over the
Unix socket. On PostgreSQL 15, 16 and 18. The counts are printed (pytest -s)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from pgtune.base.units import MEMORY_UNITS, TIME_UNITS, BaseUnit
from tests.conftest import CORPUS_REPORT, CliResult, Server

Cli = Callable[..., CliResult]

HOST_AND_FILES = re.compile(
    r"^(port|listen_addresses|unix_socket_.*|data_directory|config_file|hba_file|ident_file|external_pid_file|"
    r"ssl.*|krb_.*|log_directory|log_filename|event_source|cluster_name|archive_.*|restore_command|"
    r"recovery_.*|primary_.*|promote_trigger_file|.*_preload_libraries|dynamic_library_path|"
    r"shared_memory_type|dynamic_shared_memory_type|huge_pages|huge_page_size|wal_sync_method|"
    r"io_method|debug_io_direct|allow_alter_system|bonjour.*|.*_command)$"
)
"""Settings tied to this host or its files: their values are not pgtune's to move in a test."""
UNSAFE_TO_APPLY = re.compile(
    r"(timeout|^exit_on_error$|^default_transaction_|^transaction_|^zero_damaged_pages$|^ignore_|^allow_|"
    r"^fsync$|^full_page_writes$|^synchronous_commit$|^log_|^debug_|^trace_|^jit|^max_|^min_|^autovacuum$|"
    r"^track_|^compute_query_id$|^password_encryption$|^wal_|^client_min_messages$|^session_replication_role$|"
    r"^check_function_bodies$|^event_triggers$|^vacuum_buffer_usage_limit$|^backslash_quote$|^lo_compat|"
    r"^array_nulls$|^row_security$|^standard_conforming_strings$|^escape_string_warning$|^db_user_namespace$)"
)
"""Kept out of the applied subset: values that would stop sessions, logging or the test server itself."""


@dataclass
class Guc:
    name: str
    vartype: str
    unit: str | None
    context: str
    setting: str
    min_val: str | None
    max_val: str | None
    enumvals: list[str]
    category: str


def _settable(conn: psycopg.Connection) -> list[Guc]:
    rows = conn.execute(
        "SELECT name, vartype, unit, context, setting, min_val, max_val, coalesce(enumvals, '{}'), category "
        "FROM pg_settings WHERE vartype IN ('bool', 'integer', 'real', 'enum') AND context <> 'internal' "
        "ORDER BY name"
    ).fetchall()
    out = []
    for row in rows:
        g = Guc(*row)
        if HOST_AND_FILES.match(g.name):
            continue
        try:  # settable in postgresql.auto.conf at all? (transaction_isolation ... are not)
            conn.execute(f"ALTER SYSTEM SET {g.name} = '{g.setting}'".encode())
        except psycopg.Error:
            continue
        out.append(g)
    conn.execute("ALTER SYSTEM RESET ALL")
    return out


def _int_spellings(g: Guc) -> list[str]:
    value = int(g.setting, 8) if g.setting.startswith("0") and len(g.setting) > 1 else int(g.setting)  # 0600
    base = BaseUnit.parse(g.unit)
    plain = [g.setting, f" {value} ", f"+{value}" if value >= 0 else g.setting, hex(value) if value > 0 else g.setting]
    if base is None or value <= 0:
        return plain
    raw = value * base.size
    table = MEMORY_UNITS if base.family == "memory" else TIME_UNITS
    units = [f"{raw // size}{name}" for name, size in table.items() if raw % size == 0 and size >= base.size]
    spaced = [f"{raw // size} {name}" for name, size in table.items() if raw % size == 0 and size >= base.size]
    return plain + units[:2] + spaced[:1]


def _real_spellings(g: Guc) -> list[str]:
    value = float(g.setting)
    return [g.setting, f"{value:.10f}".rstrip("0") + "0", f"{value:e}", f" {g.setting}"]


BOOL = {"on": ["on", "ON", "true", "yes", "1", "t", "tr"], "off": ["off", "OFF", "false", "no", "0", "f", "of"]}


def spellings(g: Guc) -> list[str]:
    if g.vartype == "bool":
        return BOOL[g.setting]
    if g.vartype == "integer":
        return _int_spellings(g)
    if g.vartype == "real":
        return _real_spellings(g)
    words = [g.setting, g.setting.upper(), g.setting.capitalize()]
    if g.setting in ("on", "off") and "on" in g.enumvals and "off" in g.enumvals:
        words += ["true", "yes", "1"] if g.setting == "on" else ["false", "no", "0"]
    return words


def moved(g: Guc) -> str | None:
    """The value one step away (a real change), spelled unusually; None where there is none."""
    if g.vartype == "bool":
        return "OFF" if g.setting == "on" else "True"
    if g.vartype == "enum":
        others = [v for v in g.enumvals if v.lower() not in (g.setting.lower(), "on", "off")]
        return others[0].upper() if others else None
    lo = float(g.min_val) if g.min_val is not None else float("-inf")
    hi = float(g.max_val) if g.max_val is not None else float("inf")
    value = float(g.setting)
    # Reals: a step pg_settings can show (it prints 6 significant digits, and pgtune compares there).
    step = 1.0 if g.vartype == "integer" else max(abs(value) / 2, 0.5 if hi - lo >= 1 else (hi - lo) / 4)
    for candidate in (value + step, value - step):
        if lo <= candidate <= hi:
            return str(int(candidate)) if g.vartype == "integer" else f"{candidate:g}"
    return None


def _profile(values: dict[str, str]) -> str:
    body = "\n".join(f"  {name}: {json.dumps(value)}" for name, value in values.items())
    return f"name: corpus\nsettings:\n{body}\n"


def _socket_dsn(server: Server) -> str:
    return f"host={server.cluster.root} port={server.cluster.port} user=postgres dbname=postgres"


def _changes(cli: Cli, profile: Path, dsn: str) -> list[str]:
    result = cli("plan", str(profile), "--dsn", dsn, "--format", "json")
    assert result.code == 0, result.stderr[-3000:]
    return [c["object"] for c in json.loads(result.stdout)["changes"]]


def test_settings_corpus(pg: Server, cli: Cli, write_profile: Callable[..., Path]) -> None:
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        gucs = _settable(conn)
    assert len(gucs) > 150
    # SHOW of these reads this session's socket, not the configuration: no "current value" to spell.
    same = [g for g in gucs if not g.name.startswith("tcp_")]
    width = max(len(spellings(g)) for g in same)
    # 1. The current value in every spelling: no change, over TCP and over the Unix socket.
    equal_checks = 0
    for k in range(width):
        values = {g.name: spellings(g)[k % len(spellings(g))] for g in same}
        profile = write_profile(_profile(values), name=f"same{k}.yaml")
        for dsn in (pg.dsn, _socket_dsn(pg)):
            assert _changes(cli, profile, dsn) == [], (k, dsn)
            equal_checks += len(values)
    # 2. Each value moved one step: exactly those changes.
    steps = {g.name: m for g in gucs if (m := moved(g)) is not None}
    planned = _changes(cli, write_profile(_profile(steps), name="moved.yaml"), pg.dsn)
    assert sorted(planned) == sorted(n.lower() for n in steps), set(planned) ^ {n.lower() for n in steps}
    # 3. A safe subset applied in those spellings: the re-plan is empty on both connections.
    safe = {
        g.name: steps[g.name]
        for g in gucs
        if g.name in steps and g.context in ("user", "superuser", "sighup") and not UNSAFE_TO_APPLY.search(g.name)
    }
    applied = write_profile(_profile(safe), name="applied.yaml")
    result = cli("apply", str(applied), "--dsn", _socket_dsn(pg), "--yes")
    assert result.code == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for dsn in (pg.dsn, _socket_dsn(pg)):
        assert _changes(cli, applied, dsn) == [], dsn
    CORPUS_REPORT.append(
        f"settings corpus on PostgreSQL {pg.version}: {len(gucs)} settings, {equal_checks} equal spellings "
        f"(TCP + socket) -> 0 changes; {len(steps)} moved -> {len(planned)} changes; {len(safe)} applied -> "
        "re-plan empty on both"
    )
