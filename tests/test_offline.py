"""`pgtune validate` checks settings with no server, against bundled descriptions that are what real
servers of each tested version report (held to them here)."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from pgtune.kinds.offline import BUNDLED, description
from tests.conftest import CliResult, Server

Cli = Callable[..., CliResult]

BAD = """
name: offline
settings:
  work_mem: 32mb
  shared_bufers: 1GB
  huge_pages: t
  wal_level: hot_standby
  log_min_messages: debug
  myext.flag: on
tables:
  public.t:
    storage: {autovacuum_vacuum_max_threshold: 5, fillfactor: 5}
"""


def test_validate_offline_catches_what_every_server_would_refuse(cli: Cli, write_profile: Callable[..., Path]) -> None:
    path = write_profile(BAD)
    result = cli("validate", str(path), "--pg-version", "16")
    assert result.code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f'{path}:3:13: work_mem: invalid unit "mb". Valid units for this parameter are "B", "kB", "MB", "GB", and "TB".'
    )
    unknown = f"{path}:4:3: unknown setting 'shared_bufers' in PostgreSQL 16's settings; did you mean"
    assert unknown in result.stderr
    assert f"{path}:5:15: invalid value 't' for huge_pages; allowed values: off, on, try" in result.stderr
    assert f"{path}:11:15: storage parameter 'autovacuum_vacuum_max_threshold' needs PostgreSQL 18" in result.stderr
    assert "fillfactor = '5' is outside the valid range 10 .. 100" in result.stderr
    assert len(lines) == 5, lines  # hidden enum words and an extension's setting pass
    newest = cli("validate", str(write_profile("name: ok\nsettings: {io_method: worker}\n", name="ok.yaml")))
    assert newest.code == 0 and "checked against PostgreSQL 18's settings" in newest.stdout
    older = cli(
        "validate",
        str(write_profile("name: ok\nsettings: {io_method: worker}\n", name="ok.yaml")),
        "--pg-version",
        "17",
    )
    assert older.code == 1 and "in PostgreSQL 16's settings (the nearest bundled to 17)" in older.stderr


def test_the_bundled_descriptions_are_what_the_servers_report(pg: Server) -> None:
    version = int(pg.version)
    assert version in BUNDLED and description(version).version == version
    text = resources.files("pgtune").joinpath("data", f"settings-pg{version}.json").read_text()
    bundled = {r["name"]: r for r in json.loads(text)["settings"]}
    live = {
        r[0]: r
        for r in pg.sql(
            "SELECT name, vartype, unit, context, min_val, max_val, enumvals FROM pg_settings "
            "WHERE context <> 'internal'"
        )
    }
    assert set(bundled) == set(live), "run scripts/gen_settings_catalog.py"
    for name, (_, vartype, unit, context, lo, hi, enumvals) in live.items():
        row = bundled[name]
        assert (row["vartype"], row["unit"], row["context"], row["min_val"], row["max_val"], row["enumvals"]) == (
            vartype,
            unit,
            context,
            lo,
            hi,
            enumvals,
        ), name


def test_a_service_catalogs_rules() -> None:
    """One set of rules for every service's list: fixed and read-only names refused, a closed namespace
    checked name by name, an open one left to PostgreSQL's rules (False), the service's own names fine."""
    from hypothesis import given
    from hypothesis import strategies as st

    from pgtune.kinds.offline import ServiceCatalog

    svc = ServiceCatalog(
        "Svc", "its list", {"svc.a": "dynamic", "svc.ro": "read-only", "own": ""}, frozenset({"svc"}), {"port": "no"}
    )
    assert svc.verdict("SVC.A") is True and svc.verdict("own") is True
    assert svc.verdict("svc.ro") == "svc.ro is read-only on Svc (its list)"
    assert svc.verdict("port") == "port cannot be set on Svc: no"
    assert svc.verdict("svc.b") == "unknown parameter 'svc.b' on Svc (not in its list); did you mean 'svc.a'?"
    assert svc.verdict("ext.x") is False and svc.verdict("work_mem") is False
    everything = ServiceCatalog("All", "its list", {"svc.a": ""}, frozenset({"*"}))

    @given(st.from_regex(r"[a-z_]{1,8}\.[a-z_]{1,8}", fullmatch=True))
    def closed_everywhere(name: str) -> None:
        verdict = everything.verdict(name)
        assert verdict is True if name == "svc.a" else isinstance(verdict, str)

    closed_everywhere()
