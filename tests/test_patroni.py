"""A 2-node Patroni cluster (Raft DCS, PostgreSQL 15): settings converge through Patroni's DCS and
never through ALTER SYSTEM, values are typed before Patroni sees them, restarts go through Patroni
in the safe order — and a pgtune killed in the middle of them converges on the next apply."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult, start_cli
from tests.patroni_cluster import REST_PASSWORD, SUPER_PASSWORD, PatroniCluster


def _target(patroni: PatroniCluster) -> list[str]:
    return ["--patroni", patroni.url, "--dsn", patroni.sql_dsn()]


def _plan(cli: Callable[..., CliResult], profile: Path, patroni: PatroniCluster) -> dict:
    result = cli("plan", str(profile), *_target(patroni), "--format", "json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def test_settings_converge_through_the_dcs_and_restart_in_order(
    patroni: PatroniCluster, cli: Callable[..., CliResult], write_profile: Callable[..., Path]
) -> None:
    current = int(patroni.show(patroni.leader(), "max_connections"))
    raised = current + 20
    # A pool that fits only the raised limit: the leader's capacity check must see the value the DCS will hold.
    profile = write_profile(
        f"name: ha\nsettings: {{work_mem: 64MB, max_connections: {raised}}}\n"
        f"pool: {{application: {{instances: 1, pool_size: {current + 2}, max_overflow: 0}}}}\n"
    )
    doc = _plan(cli, profile, patroni)
    leader_checks = {c["code"]: c["status"] for c in next(n for n in doc["nodes"] if n["role"] == "primary")["checks"]}
    assert leader_checks["POOL_CAPACITY"] == "ok" and leader_checks["POOL_CAPACITY_UNTIL_RESTART"] == "warn"
    changes = {c["object"]: c for c in doc["patroni"]["changes"]}
    assert sorted(changes) == ["patroni/max_connections", "patroni/work_mem"]
    assert changes["patroni/max_connections"]["restart_required"] is True
    assert changes["patroni/work_mem"]["statements"] == [
        {
            "sql": '{"postgresql": {"parameters": {"work_mem": "64MB"}}}',
            "transactional": False,
            "lock": "none",
            "retryable": True,
            "progress": None,
            "target": "patroni",
            "file": None,
            "locks": [],
        }
    ]
    assert all(not n["changes"] for n in doc["nodes"])  # never ALTER SYSTEM on a member
    leader, replica = patroni.leader(), patroni.replica()
    assert [s["node"] for s in doc["cluster"]["restart_order"]] == [replica.name, leader.name]

    applied = cli("apply", str(profile), *_target(patroni), "--yes", "--restart")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert f"restarting {replica.name} (standby) through Patroni" in applied.stdout
    assert applied.stdout.index(f"restarting {replica.name}") < applied.stdout.index(f"restarting {leader.name}")
    assert REST_PASSWORD not in applied.stdout + applied.stderr and SUPER_PASSWORD not in applied.stdout
    params = patroni.config()["postgresql"]["parameters"]
    assert (params["work_mem"], str(params["max_connections"])) == ("64MB", str(raised))
    for member in patroni.members:
        assert patroni.show(member, "work_mem") == "64MB"
        assert patroni.show(member, "max_connections") == str(raised)
        assert patroni.auto_conf_rows(member) == []  # postgresql.auto.conf untouched
    patroni.wait(patroni.settled, 30, "the cluster to settle (Patroni reports states a loop late)")
    again = cli("plan", str(profile), *_target(patroni), "--detailed-exitcode")
    assert again.code == 0, again.stdout + again.stderr


def test_an_invalid_value_never_reaches_patroni(
    patroni: PatroniCluster, cli: Callable[..., CliResult], write_profile: Callable[..., Path]
) -> None:
    before = patroni.config()
    profile = write_profile("name: ha\nsettings:\n  work_mem: banana\n")
    result = cli("apply", str(profile), *_target(patroni), "--yes")
    assert result.code == 1
    assert f"{profile}:3:13: " in result.stderr and "work_mem" in result.stderr
    assert patroni.config() == before


def test_alter_system_behind_patronis_back_is_reported(
    patroni: PatroniCluster, cli: Callable[..., CliResult], write_profile: Callable[..., Path]
) -> None:
    import psycopg

    replica = patroni.replica()
    with psycopg.connect(replica.dsn(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET work_mem = '12MB'")
    profile = write_profile("name: ha\nsettings: {random_page_cost: 1.1}\n")
    notices = _plan(cli, profile, patroni)["patroni"]["notices"]
    [behind] = [n for n in notices if n["code"] == "SET_BEHIND_PATRONI"]
    assert behind["object"] == f"{replica.name}/work_mem"
    assert "ALTER SYSTEM RESET work_mem" in behind["message"]


def test_killed_in_the_middle_of_the_restarts_the_next_apply_finishes(
    patroni: PatroniCluster, cli: Callable[..., CliResult], write_profile: Callable[..., Path]
) -> None:
    raised = int(patroni.show(patroni.leader(), "max_connections")) + 10
    profile = write_profile(f"name: ha\nsettings: {{max_connections: {raised}}}\n")
    assert cli("apply", str(profile), *_target(patroni), "--yes").code == 0
    patroni.wait(lambda: all(m.get("pending_restart") for m in patroni.cluster()["members"]), 60, "pending restarts")
    replica = patroni.replica()
    proc = start_cli("apply", str(profile), *_target(patroni), "--yes", "--restart")
    # Kill pgtune once the replica has restarted (no longer pending) and before the leader has.
    patroni.wait(
        lambda: any(m["name"] == replica.name and not m.get("pending_restart") for m in patroni.cluster()["members"]),
        120,
        "the replica's restart",
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # Had pgtune already asked for the leader's restart, let it finish: the next apply reads every member over SQL.
    patroni.wait(
        lambda: (
            patroni._ready()
            and all(m["state"] in ("running", "streaming") for m in patroni.cluster()["members"])
            and patroni.caught_up()
        ),  # over SQL: Patroni reports states a loop late, a restart may still be under way
        60,
        "every member running, the replica streaming",
    )
    finished = cli("apply", str(profile), *_target(patroni), "--yes", "--restart")
    assert finished.code == 0, finished.stdout + finished.stderr
    for member in patroni.members:
        assert patroni.show(member, "max_connections") == str(raised)
    patroni.wait(patroni.settled, 30, "the cluster to settle (Patroni reports states a loop late)")
    assert cli("plan", str(profile), *_target(patroni), "--detailed-exitcode").code == 0
