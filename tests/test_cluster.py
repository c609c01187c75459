"""A primary with a hot standby (pg_basebackup -R), on PostgreSQL 15 and 16: one plan for the
cluster, settings written on every node, restarts in the order the plan states — and the standby
never paused, the re-plan empty for the whole cluster."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pgtune.plan.cluster import ClusterError
from pgtune.targets import topology as cluster
from tests.conftest import CliResult, Pair, Server


def _nodes(dsns: list[str]) -> list[str]:
    return [arg for dsn in dsns for arg in ("--dsn", dsn)]


def _plan(cli: Callable[..., CliResult], profile: Path, dsns: list[str]) -> dict:
    result = cli("plan", str(profile), *_nodes(dsns), "--format", "json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _apply(cli: Callable[..., CliResult], profile: Path, dsns: list[str]) -> CliResult:
    return cli("apply", str(profile), *_nodes(dsns), "--yes")


def _changes(doc: dict, role: str) -> list[tuple[str, str, object]]:
    node = next(n for n in doc["nodes"] if n["role"] == role)
    return [(c["object"], c["action"], c["after"]) for c in node["changes"]]


def test_the_nodes_are_told_apart_in_any_order(pair: Pair, pg16: Server) -> None:
    forward = cluster.discover(pair.dsns)
    backward = cluster.discover(list(reversed(pair.dsns)))
    assert forward == backward
    assert [(n.role, n.name) for n in forward.nodes] == [
        ("primary", pair.name(pair.primary)),
        ("standby", pair.name(pair.standby)),
    ]
    assert forward.standbys[0].upstream == pair.name(pair.primary)
    with pytest.raises(ClusterError, match="not one cluster"):
        cluster.discover([pg16.dsn, pair.standby.dsn()])
    with pytest.raises(ClusterError, match="exactly one primary"):
        cluster.discover([pair.standby.dsn()])
    with pytest.raises(ClusterError, match="the same node was given twice"):
        cluster.discover([pair.primary.dsn(), pair.primary.dsn()])


def test_settings_converge_on_every_node(
    pair: Pair, cli: Callable[..., CliResult], write_profile: Callable[..., Path]
) -> None:
    profile = write_profile(
        """
        name: pair
        settings: {work_mem: 64MB, random_page_cost: 1.1}
        databases: {postgres: {settings: {maintenance_work_mem: 96MB}}}
        """
    )
    doc = _plan(cli, profile, list(reversed(pair.dsns)))
    assert [n["role"] for n in doc["cluster"]["nodes"]] == ["primary", "standby"]
    assert _changes(doc, "primary") == [
        ("random_page_cost", "update", "1.1"),
        ("work_mem", "update", "64MB"),
        ("database:postgres/maintenance_work_mem", "update", "96MB"),
    ]
    # ALTER SYSTEM is per node; ALTER DATABASE is in the replicated catalog: the primary's alone.
    assert _changes(doc, "standby") == [("random_page_cost", "update", "1.1"), ("work_mem", "update", "64MB")]
    assert doc["cluster"]["restart_order"] == []
    applied = _apply(cli, profile, pair.dsns)
    assert applied.code == 0, applied.stderr
    assert "Restart: none needed." in applied.stdout
    for node in (pair.primary, pair.standby):
        assert pair.show(node, "work_mem") == "64MB"
        assert pair.show(node, "random_page_cost") == "1.1"
    assert pair.wait_for_value(pair.standby, "maintenance_work_mem", "96MB")
    again = cli("plan", str(profile), "--dsn", pair.dsns[0], "--dsn", pair.dsns[1], "--detailed-exitcode")
    assert again.code == 0, again.stdout + again.stderr


def test_drift_on_the_standby_alone_is_planned_there(
    pair: Pair, cli: Callable[..., CliResult], write_profile: Callable[..., Path]
) -> None:
    profile = write_profile("name: pair\nsettings: {work_mem: 64MB}\n")
    assert _apply(cli, profile, pair.dsns).code == 0
    with pair.standby.connect() as conn:
        conn.execute("ALTER SYSTEM SET work_mem = '128MB'")
        conn.execute("SELECT pg_reload_conf()")
    doc = _plan(cli, profile, pair.dsns)
    assert _changes(doc, "primary") == []
    standby = next(n for n in doc["nodes"] if n["role"] == "standby")
    assert [(c["object"], c["before"], c["after"]) for c in standby["changes"]] == [("work_mem", "128MB", "64MB")]
    [drift] = doc["cluster"]["notices"]
    assert drift["code"] == "NODE_DRIFT" and drift["object"] == "work_mem"
    assert f"{pair.name(pair.standby)} 128MB" in drift["message"]
    md = cli("plan", str(profile), *_nodes(pair.dsns), "--format", "markdown").stdout
    assert md.startswith("<!-- pgtune-plan profile=pair cluster -->")
    assert (
        f"#### standby `{pair.name(pair.standby)}`" in md and "| `~` | setting | `work_mem` | `128MB` → `64MB` |" in md
    )
    assert "**Restart: none needed.**" in md
    assert _apply(cli, profile, pair.dsns).code == 0
    assert pair.show(pair.standby, "work_mem") == "64MB"
    assert cli("plan", str(profile), *_nodes(pair.dsns), "--detailed-exitcode").code == 0


def _restart_in_order(pair: Pair, doc: dict) -> list[str]:
    order = [step["node"] for step in doc["cluster"]["restart_order"]]
    for name in order:
        pair.restart(pair.primary if name == pair.name(pair.primary) else pair.standby)
    return order


def test_raise_then_cut_max_connections_never_pauses_the_standby(
    pair: Pair, cli: Callable[..., CliResult], write_profile: Callable[..., Path]
) -> None:
    log_start = len(pair.standby_log())
    raised = write_profile("name: pair\nsettings: {max_connections: 80}\n")
    doc = _plan(cli, raised, pair.dsns)
    assert [s["role"] for s in doc["cluster"]["restart_order"]] == ["standby", "primary"]
    assert "max_connections increases: the standbys first" in doc["cluster"]["restart_reason"]
    text = cli("plan", str(raised), "--dsn", pair.dsns[0], "--dsn", pair.dsns[1])
    assert (
        f"Restart order: {pair.name(pair.standby)} (standby), then {pair.name(pair.primary)} (primary)." in text.stdout
    )
    assert _apply(cli, raised, pair.dsns).code == 0
    _restart_in_order(pair, doc)
    assert pair.show(pair.primary, "max_connections") == pair.show(pair.standby, "max_connections") == "80"
    assert cli("plan", str(raised), *_nodes(pair.dsns), "--detailed-exitcode").code == 0

    cut = write_profile("name: pair\nsettings: {max_connections: 60}\n", name="cut.yaml")  # back to the files' 60
    doc = _plan(cli, cut, pair.dsns)
    assert [s["role"] for s in doc["cluster"]["restart_order"]] == ["primary", "standby"]
    assert _apply(cli, cut, pair.dsns).code == 0
    _restart_in_order(pair, doc)
    assert pair.show(pair.primary, "max_connections") == pair.show(pair.standby, "max_connections") == "60"
    with pair.standby.connect() as conn:
        assert conn.execute("SELECT pg_is_wal_replay_paused()").fetchone() == (False,)
    log = pair.standby_log()[log_start:]
    assert "insufficient parameter settings" not in log and "recovery has paused" not in log
    assert cli("plan", str(cut), *_nodes(pair.dsns), "--detailed-exitcode").code == 0


def test_a_raise_and_a_cut_in_one_plan_are_refused(
    pair: Pair, cli: Callable[..., CliResult], write_profile: Callable[..., Path]
) -> None:
    profile = write_profile("name: pair\nsettings: {max_connections: 80, max_locks_per_transaction: 32}\n")
    position = len(pair.primary.log.read_text(errors="replace")) if pair.primary.log.exists() else 0
    result = _apply(cli, profile, pair.dsns)
    assert result.code == 1
    assert "raises max_connections and cuts max_locks_per_transaction" in result.stderr
    assert "no order of restarts is safe" in result.stderr
    for node in (pair.primary, pair.standby):
        with node.connect() as conn:
            assert conn.execute(
                "SELECT count(*) FROM pg_file_settings WHERE name = 'max_connections' AND sourcefile LIKE '%auto.conf'"
            ).fetchone() == (0,)
    assert "ALTER SYSTEM" not in pair.primary.log.read_text(errors="replace")[position:]


def test_a_saved_cluster_plan_runs_only_as_reviewed(
    pair: Pair, cli: Callable[..., CliResult], write_profile: Callable[..., Path], tmp_path: Path
) -> None:
    profile = write_profile("name: pair\nsettings: {work_mem: 48MB}\n")
    saved = tmp_path / "plan.json"
    made = cli("plan", str(profile), *_nodes(pair.dsns), "--out", str(saved))
    assert made.code == 0, made.stderr
    shown = cli("show", str(saved))
    assert f"== standby {pair.name(pair.standby)} ==" in shown.stdout and "work_mem: 4MB -> 48MB" in shown.stdout
    # Edited: the standby's statement retargeted to another value — refused, naming the node, nothing run.
    doc = json.loads(saved.read_text())
    standby = next(n for n in doc["nodes"] if n["role"] == "standby")
    standby["changes"][0]["statements"][0]["sql"] = "ALTER SYSTEM SET \"work_mem\" = '1GB'"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    refused = cli("apply", str(profile), *_nodes(pair.dsns), "--plan", str(tampered))
    assert refused.code == 1
    assert "was edited after pgtune wrote it" in refused.stderr and pair.name(pair.standby) in refused.stderr
    assert pair.show(pair.standby, "work_mem") == "4MB"
    one = cli("apply", str(profile), "--dsn", pair.dsns[0], "--plan", str(saved))
    assert one.code == 1 and "a cluster's plan" in one.stderr
    applied = cli("apply", str(profile), *_nodes(list(reversed(pair.dsns))), "--plan", str(saved))
    assert applied.code == 0, applied.stdout + applied.stderr
    assert pair.show(pair.primary, "work_mem") == pair.show(pair.standby, "work_mem") == "48MB"
    assert cli("plan", str(profile), *_nodes(pair.dsns), "--detailed-exitcode").code == 0
