"""Golden plans of clusters: a primary with a standby (PostgreSQL 15) and a Patroni cluster — text,
Markdown, JSON and the dry-run SQL, from the real CLI.

Written by the code before the target refactor (issue 27: one apply sequence over targets) and held
byte for byte afterwards; what varies from run to run (ports, which member leads, the system
identifier) is replaced by placeholders first. Regenerate with PGTUNE_UPDATE_GOLDEN=1 only for an
intended output change, and review the diff.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult, Pair
from tests.patroni_cluster import PatroniCluster

GOLDEN = Path(__file__).parent / "golden"
PAIR_PROFILE = "name: golden-pair\nsettings: {work_mem: 48MB, max_connections: 80, random_page_cost: 1.2}\n"
PATRONI_PROFILE = "name: golden-patroni\nsettings: {{work_mem: 48MB, max_connections: {raised}}}\n"
FORMATS = {"txt": ("--format", "text"), "md": ("--format", "markdown"), "json": ("--format", "json")}


def _hold(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PGTUNE_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"


def _placeholders(text: str, names: dict[str, str]) -> str:
    for real, shown in sorted(names.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(real, shown)
    return re.sub(r"\b\d{19}\b", "<system identifier>", text)


def test_a_primary_and_standby_plan_is_unchanged(pair15: Pair, cli: Callable[..., CliResult], tmp_path: Path) -> None:
    pair15.reset()
    profile = tmp_path / "pair.yaml"
    profile.write_text(PAIR_PROFILE, encoding="utf-8")
    nodes = [a for dsn in pair15.dsns for a in ("--dsn", dsn)]
    names = {
        pair15.name(pair15.primary): "<primary>",
        pair15.name(pair15.standby): "<standby>",
        str(pair15.primary.port): "<primary port>",
        str(pair15.standby.port): "<standby port>",
    }
    for ext, flags in FORMATS.items():
        result = cli("plan", str(profile), *nodes, *flags, "--no-color")
        assert result.code == 0, result.stderr
        _hold(f"cluster-pair.{ext}", _placeholders(result.stdout, names))
    dry = cli("apply", str(profile), *nodes, "--dry-run", "--no-color")
    assert dry.code == 0, dry.stderr
    _hold("cluster-pair.sql", _placeholders(dry.stdout, names))


def test_a_patroni_plan_is_unchanged(patroni: PatroniCluster, cli: Callable[..., CliResult], tmp_path: Path) -> None:
    raised = int(patroni.show(patroni.leader(), "max_connections")) + 20
    profile = tmp_path / "patroni.yaml"
    profile.write_text(PATRONI_PROFILE.format(raised=raised), encoding="utf-8")
    target = ["--patroni", patroni.url, "--dsn", patroni.sql_dsn()]
    leader, replica = patroni.leader(), patroni.replica()
    names = {
        f"127.0.0.1:{leader.pg_port}": "<leader>",
        f"127.0.0.1:{replica.pg_port}": "<replica>",
        str(leader.pg_port): "<leader port>",
        str(replica.pg_port): "<replica port>",
        str(raised): "<raised>",
        str(raised - 20): "<current>",
    }
    names |= {f" {leader.name}": " <leader>", f" {replica.name}": " <replica>"}
    names |= {f'"{leader.name}"': '"<leader>"', f'"{replica.name}"': '"<replica>"'}
    names |= {f"`{leader.name}`": "`<leader>`", f"`{replica.name}`": "`<replica>`"}
    for ext, flags in FORMATS.items():
        result = cli("plan", str(profile), *target, *flags, "--no-color")
        assert result.code == 0, result.stderr
        _hold(f"cluster-patroni.{ext}", _placeholders(result.stdout, names))
    dry = cli("apply", str(profile), *target, "--dry-run", "--no-color")
    assert dry.code == 0, dry.stderr
    _hold("cluster-patroni.sql", _placeholders(dry.stdout, names))
