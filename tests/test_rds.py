"""The RDS parameter-group target: the formula grammar and the unit translation (pure), the behaviour
fake's documented behaviours (each with its source), then plan/apply/re-plan through the real CLI
against the fake's group and a real PostgreSQL, and against moto's server mode.

No AWS account is reached here; docs/managed.md says what was tested against what."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgtune.integrations.rds import classes
from pgtune.integrations.rds.formula import FormulaError, parse
from pgtune.kinds import offline
from pgtune.targets.executor import _batches
from pgtune.targets.rds.group import group_text, statement
from pgtune.targets.rds.target import GroupStore
from tests.conftest import Server, run_cli
from tests.rds_fake import FakeInstance, FakeRds, engine_defaults

GROUP = "pgtune-test"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}

# --- the formula grammar (RDS User Guide, "DB parameter formulas") ------------------------------------

MEM = 16 * 1024**3


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("{DBInstanceClassMemory*3/4}", MEM * 3 // 4),
        ("{DBInstanceClassMemory/32768}", MEM // 32768),  # shared_buffers' RDS default
        ("LEAST({DBInstanceClassMemory/9531392},5000)", 1802),  # max_connections' RDS default
        ("GREATEST({DBInstanceClassMemory*1024/63963136},65536)", 275036),  # maintenance_work_mem's
        ("SUM({DBInstanceClassMemory/12038},-50003)", MEM // 12038 - 50003),
        ("IF({TrueIfReplica},0,1)", 1),
        ("GREATEST( {DBInstanceVCPU} , 4 )", 4),
    ],
)
def test_formula_evaluates_like_rds(text: str, value: int) -> None:
    assert parse(text).evaluate({"DBInstanceClassMemory": MEM, "TrueIfReplica": 0, "DBInstanceVCPU": 2}) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("least({DBInstanceClassMemory},1)", "case-sensitive, write LEAST"),
        ("GREATEST()", "at least one argument"),
        ("GREATEST({DBInstanceClassMemory},)", "empty argument"),
        ("{dbinstanceclassmemory}", "case-sensitive, write DBInstanceClassMemory"),
        ("DBInstanceClassMemory/2", "must be in braces"),
        ("{DBInstanceClassMemory+1}", "unexpected '+'"),
        ("{DBInstanceClassMemory", "expected '}'"),
        ("{Memory}", "unknown variable 'Memory'"),
        ("MAX({DBInstanceVCPU},2)", "unknown function 'MAX'"),
        ("IF({TrueIfReplica},1)", "three arguments"),
        ("5", "a plain number is a value"),
    ],
)
def test_formula_refused_where_rds_refuses(text: str, message: str) -> None:
    with pytest.raises(FormulaError, match=re.escape(message)):
        parse(text)


@given(st.integers(1, 2**40), st.integers(1, 4096), st.integers(1, 2**20))
def test_formula_arithmetic_is_integer_and_left_to_right(memory: int, mul: int, div: int) -> None:
    f = parse(f"{{DBInstanceClassMemory*{mul}/{div}}}")
    assert f.evaluate({"DBInstanceClassMemory": memory}) == memory * mul // div


@given(st.lists(st.integers(-(2**31), 2**31), min_size=1, max_size=6))
def test_formula_functions_combine_their_arguments(values: list[int]) -> None:
    args = ",".join(str(v) for v in values)
    assert parse(f"GREATEST({args})").evaluate({}) == max(values)
    assert parse(f"LEAST({args})").evaluate({}) == min(values)
    assert parse(f"SUM({args})").evaluate({}) == sum(values)


def test_instance_classes_are_sized_from_their_names() -> None:
    assert classes.lookup("db.r6g.large") == classes.InstanceClass("db.r6g.large", 2, 16 * classes.GIB)
    assert classes.lookup("db.m7g.4xlarge") == classes.InstanceClass("db.m7g.4xlarge", 16, 64 * classes.GIB)
    assert classes.lookup("db.t3.micro") == classes.InstanceClass("db.t3.micro", 2, 1 * classes.GIB)
    assert classes.lookup("db.serverless") is None


# --- values in the group's units ----------------------------------------------------------------------


def test_values_are_sent_in_the_servers_unit() -> None:
    specs = offline.description(16).specs
    assert group_text(specs["shared_buffers"], specs["shared_buffers"].canonical("4GB")) == "524288"  # 8 kB pages
    assert group_text(specs["work_mem"], specs["work_mem"].canonical("64MB")) == "65536"  # kB
    assert group_text(specs["statement_timeout"], specs["statement_timeout"].canonical("30s")) == "30000"  # ms
    assert group_text(specs["jit"], specs["jit"].canonical("off")) == "0"
    libraries = specs["shared_preload_libraries"]
    assert group_text(libraries, libraries.canonical(["pg_stat_statements", "auto_explain"])) == (
        "pg_stat_statements,auto_explain"
    )


def test_parameters_go_twenty_to_a_call() -> None:
    from pgtune.plan.model import Address, Change

    changes = tuple(
        Change(Address("setting", f"p{i}"), "update", None, "1", (statement(GROUP, f"p{i}", "1", "immediate"),))
        for i in range(25)
    )
    resets = tuple(
        Change(Address("setting", f"r{i}"), "delete", "1", None, (statement(GROUP, f"r{i}", None, "immediate"),))
        for i in range(3)
    )
    store = GroupStore(None, None)  # type: ignore[arg-type]  # grouping reads neither
    assert [len(b) for b, stored in _batches(changes + resets, store)] == [20, 5, 3]  # a Reset is its own call


# --- the fake's documented behaviours, through boto3 --------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeRds]:
    rds = FakeRds(16)
    rds.add_group(GROUP)
    rds.add_instance(FakeInstance("writer-1", GROUP))
    yield rds
    rds.close()


def _boto(fake: FakeRds):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("rds", endpoint_url=fake.url)


def _params(*pairs: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"ParameterName": n, "ParameterValue": v, "ApplyMethod": m} for n, v, m in pairs]


def test_fake_refuses_more_than_twenty_parameters_a_call(fake: FakeRds) -> None:
    """RDS API reference, ModifyDBParameterGroup: "You can modify up to 20 parameters in a single request"."""
    from botocore.exceptions import ClientError

    many = _params(*((f"{n}", "1", "immediate") for n in list(engine_defaults(16))[:21]))
    with pytest.raises(ClientError, match="between 1 and 20"):
        _boto(fake).modify_db_parameter_group(DBParameterGroupName=GROUP, Parameters=many)
    assert fake.groups[GROUP].user == {}  # all or nothing


def test_fake_refuses_immediate_for_a_static_parameter(fake: FakeRds) -> None:
    """RDS API reference: static parameters take pending-reboot only (InvalidParameterCombination)."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="InvalidParameterCombination"):
        _boto(fake).modify_db_parameter_group(
            DBParameterGroupName=GROUP, Parameters=_params(("shared_buffers", "16384", "immediate"))
        )


def test_fake_ignores_an_apply_method_change_alone(fake: FakeRds) -> None:
    """crossplane-contrib/provider-upjet-aws #2182: the same value with another ApplyMethod changes nothing."""
    client = _boto(fake)
    client.modify_db_parameter_group(DBParameterGroupName=GROUP, Parameters=_params(("work_mem", "8192", "immediate")))
    client.modify_db_parameter_group(
        DBParameterGroupName=GROUP, Parameters=_params(("work_mem", "8192", "pending-reboot"))
    )
    rows = client.describe_db_parameters(DBParameterGroupName=GROUP, Source="user")["Parameters"]
    assert [(r["ParameterName"], r["ApplyMethod"]) for r in rows] == [("work_mem", "immediate")]


def test_fake_keeps_static_values_pending_until_a_reboot(fake: FakeRds) -> None:
    """terraform-provider-aws #40089: pending-reboot values wait for RebootDBInstance, not a window."""
    client = _boto(fake)
    client.modify_db_parameter_group(
        DBParameterGroupName=GROUP, Parameters=_params(("shared_buffers", "32768", "pending-reboot"))
    )
    status = client.describe_db_instances()["DBInstances"][0]["DBParameterGroups"][0]["ParameterApplyStatus"]
    assert status == "pending-reboot"
    client.reboot_db_instance(DBInstanceIdentifier="writer-1")
    status = client.describe_db_instances()["DBInstances"][0]["DBParameterGroups"][0]["ParameterApplyStatus"]
    assert status == "in-sync"
    assert fake.instances["writer-1"].running == {"shared_buffers": "32768"}


def test_fake_refuses_a_formula_rds_cannot_parse(fake: FakeRds) -> None:
    """RDS User Guide, "DB parameter formulas": functions and variables are case-sensitive."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="InvalidParameterValue"):
        _boto(fake).modify_db_parameter_group(
            DBParameterGroupName=GROUP,
            Parameters=_params(("work_mem", "least({DBInstanceClassMemory},1)", "immediate")),
        )


def test_fake_pages_and_filters_like_rds(fake: FakeRds) -> None:
    client = _boto(fake)
    first = client.describe_db_parameters(DBParameterGroupName=GROUP, MaxRecords=100)
    assert len(first["Parameters"]) == 100 and first["Marker"]
    assert client.describe_db_parameters(DBParameterGroupName=GROUP, Source="user")["Parameters"] == []


# --- plan / apply / re-plan against the fake's group and a real PostgreSQL ---------------------------


@dataclass
class Lane:
    server: Server
    fake: FakeRds
    env: dict[str, str]

    def cli(self, *args: str, profile: Path) -> object:
        return run_cli(*args, str(profile), "--dsn", self.server.dsn, "--rds-parameter-group", GROUP, env=self.env)


def _writer(server: Server):  # type: ignore[no-untyped-def]
    def apply(values: dict[str, str | None], restart: bool) -> None:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            for name, value in values.items():
                if value is None:
                    conn.execute(f'ALTER SYSTEM RESET "{name}"'.encode())
                else:
                    conn.execute(f"ALTER SYSTEM SET \"{name}\" = '{value}'".encode())
            if not restart:
                conn.execute("SELECT pg_reload_conf()")
        if restart:
            server.restart()

    return apply


@pytest.fixture
def lane(pg16: Server) -> Iterator[Lane]:
    pg16.reset()
    fake = FakeRds(16)
    fake.add_group(GROUP)
    fake.add_instance(FakeInstance("reader-1", GROUP, "db.r6g.large", "10.0.0.2", 5432, replica_of="writer-1"))
    fake.add_instance(
        FakeInstance("writer-1", GROUP, "db.r6g.large", "127.0.0.1", pg16.cluster.port, apply=_writer(pg16))
    )
    yield Lane(pg16, fake, {**AWS_ENV, "AWS_ENDPOINT_URL": fake.url})
    fake.close()
    pg16.reset()


def _run(lane: Lane, *args: str, profile: Path, code: int = 0) -> str:
    result = lane.cli(*args, profile=profile)
    assert result.code == code, result.stdout + result.stderr  # type: ignore[attr-defined]
    return result.stdout  # type: ignore[attr-defined,no-any-return]


def _json(lane: Lane, profile: Path) -> dict:  # type: ignore[type-arg]
    doc: dict = json.loads(_run(lane, "plan", "--format", "json", profile=profile))  # type: ignore[type-arg]
    return doc


def test_plan_apply_replan_translates_units_and_shows_the_formula(lane: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    profile = write_profile(
        """
        name: rds
        settings:
          work_mem: 64MB
          statement_timeout: 30s
          jit: off
          effective_cache_size: {formula: '{DBInstanceClassMemory*3/32768}'}
        """
    )
    text = _run(lane, "plan", profile=profile)
    assert "RDS parameter group pgtune-test (postgres16)" in text
    assert '"ParameterName": "work_mem", "ParameterValue": "65536", "ApplyMethod": "immediate"' in text
    assert '"ParameterValue": "30000"' in text and '"ParameterName": "jit", "ParameterValue": "0"' in text
    assert "db.r6g.large (writer): about 12GB (1572864 (8kB units))" in text  # the formula, evaluated
    assert "Restart: none needed." in text
    _run(lane, "apply", "--yes", profile=profile)
    assert lane.fake.groups[GROUP].user["work_mem"] == {"value": "65536", "method": "immediate"}
    assert lane.server.show("work_mem") == "64MB"  # applied by "RDS", read back over SQL
    assert lane.server.show("jit") == "off"
    # RDS computes the formula from DBInstanceClassMemory (less than the class's memory): what runs is read back
    assert lane.server.one("SELECT setting::bigint FROM pg_settings WHERE name = 'effective_cache_size'") == (
        int(16 * classes.GIB * 0.95) * 3 // 32768
    )
    again = _json(lane, profile)
    assert again["parameter_group"]["changes"] == [] and all(not n["changes"] for n in again["nodes"])
    assert [c[0] for c in lane.fake.calls].count("ModifyDBParameterGroup") == 1


def test_twenty_five_parameters_are_two_calls_and_converge(lane: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    values = {
        "autovacuum_naptime": "30s", "autovacuum_vacuum_cost_delay": "1ms", "autovacuum_vacuum_scale_factor": "0.05",
        "autovacuum_analyze_scale_factor": "0.02", "checkpoint_completion_target": "0.8", "cpu_tuple_cost": "0.02",
        "cpu_index_tuple_cost": "0.006", "cpu_operator_cost": "0.003", "default_statistics_target": "200",
        "effective_io_concurrency": "64", "from_collapse_limit": "10", "join_collapse_limit": "10",
        "log_min_duration_statement": "1s", "log_autovacuum_min_duration": "5s", "maintenance_io_concurrency": "32",
        "max_parallel_workers_per_gather": "1", "parallel_setup_cost": "500", "parallel_tuple_cost": "0.05",
        "random_page_cost": "1.1", "seq_page_cost": "1.5", "temp_file_limit": "10GB", "vacuum_cost_limit": "500",
        "idle_in_transaction_session_timeout": "10min", "lock_timeout": "3s", "deadlock_timeout": "2s",
    }  # fmt: skip
    assert len(values) == 25
    body = "\n".join(f"  {n}: '{v}'" for n, v in values.items())
    profile = write_profile(f"name: rds\nsettings:\n{body}\n")
    _run(lane, "apply", "--yes", profile=profile)
    modify = lane.fake.calls_of("ModifyDBParameterGroup")
    assert [len(c["Parameters"]) for c in modify] == [20, 5]
    assert lane.server.show("temp_file_limit") == "10GB" and lane.server.show("random_page_cost") == "1.1"
    assert _json(lane, profile)["parameter_group"]["changes"] == []


def test_static_parameter_pending_until_apply_restart(lane: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    profile = write_profile("name: rds\nsettings:\n  shared_buffers: 256MB\n")
    plan = _run(lane, "plan", profile=profile)
    assert '"ParameterValue": "32768", "ApplyMethod": "pending-reboot"' in plan
    assert "Reboot order: reader-1 (reader), then writer-1 (writer)." in plan
    _run(lane, "apply", "--yes", profile=profile)
    assert lane.server.show("shared_buffers") == "128MB"  # static: not running until a reboot
    pending = _json(lane, profile)
    assert pending["parameter_group"]["changes"] == []
    assert {n["object"] for n in pending["parameter_group"]["notices"] if n["code"] == "RESTART_PENDING"} == {
        "reader-1",
        "writer-1",
    }
    assert [s["node"] for s in pending["cluster"]["restart_order"]] == ["reader-1", "writer-1"]
    out = _run(lane, "apply", "--yes", "--restart", profile=profile)
    assert "rebooting reader-1 (reader)" in out and out.index("reader-1 (reader)") < out.index("writer-1 (writer)")
    assert [c["DBInstanceIdentifier"] for c in lane.fake.calls_of("RebootDBInstance")] == ["reader-1", "writer-1"]
    assert not any(c.get("ForceFailover") for c in lane.fake.calls_of("RebootDBInstance"))
    assert lane.server.show("shared_buffers") == "256MB"
    after = _json(lane, profile)
    assert after["parameter_group"]["changes"] == [] and after["cluster"]["restart_order"] == []


def test_removing_a_parameter_resets_only_it(lane: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    both = write_profile("name: rds\nsettings:\n  work_mem: 32MB\n  random_page_cost: '1.1'\n")
    _run(lane, "apply", "--yes", profile=both)
    one = write_profile("name: rds\nsettings:\n  random_page_cost: '1.1'\n", name="one.yaml")
    plan = _json(lane, one)["parameter_group"]["changes"]
    assert [(c["action"], c["object"]) for c in plan] == [("delete", "parameter-group/work_mem")]
    _run(lane, "apply", "--yes", profile=one)
    assert lane.fake.calls_of("ResetDBParameterGroup")[-1]["Parameters"] == [
        {"ParameterName": "work_mem", "ApplyMethod": "immediate"}
    ]
    assert set(lane.fake.groups[GROUP].user) == {"random_page_cost"}
    assert lane.server.show("work_mem") == "4MB" and lane.server.show("random_page_cost") == "1.1"
    assert _json(lane, one)["parameter_group"]["changes"] == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("work_mem: 1PB", "work_mem"),
        ("work_mem: {formula: 'least({DBInstanceClassMemory},1)'}", "case-sensitive, write LEAST"),
        ("jit: {formula: '{DBInstanceVCPU}'}", "a formula gives a number"),
        ("effective_cache_size: {formula: '{DBInstanceClassMemory*3/4}'}", "8kB units, not bytes"),
        ("port: '5433'", "not modifiable"),
    ],
)
def test_invalid_value_or_formula_refused_at_plan(lane: Lane, write_profile, value: str, message: str) -> None:  # type: ignore[no-untyped-def]
    profile = write_profile(f"name: rds\nsettings:\n  {value}\n")
    result = lane.cli("plan", profile=profile)
    assert result.code == 1, result.stdout  # type: ignore[attr-defined]
    assert f"{profile.name}:3:" in result.stderr and message in result.stderr  # type: ignore[attr-defined]
    assert not {a for a, _ in lane.fake.calls} & {"ModifyDBParameterGroup", "ResetDBParameterGroup"}


def test_a_saved_group_plan_is_a_record(lane: Lane, write_profile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    profile = write_profile("name: rds\nsettings:\n  work_mem: 32MB\n")
    saved = tmp_path / "plan.json"
    _run(lane, "plan", "--out", str(saved), profile=profile)
    doc = json.loads(saved.read_text())
    stmt = doc["parameter_group"]["changes"][0]["statements"][0]
    stmt["sql"] = stmt["sql"].replace("32768", "999999")
    saved.write_text(json.dumps(doc))
    refused = lane.cli("apply", "--yes", "--plan", str(saved), profile=profile)
    assert refused.code != 0 and "Nothing was executed" in refused.stderr  # type: ignore[attr-defined]
    assert not lane.fake.calls_of("ModifyDBParameterGroup")
    _run(lane, "plan", "--out", str(saved), profile=profile)
    shown = run_cli("show", str(saved))
    assert "== RDS parameter group ==" in shown.stdout and '"ParameterValue": "32768"' in shown.stdout
    _run(lane, "apply", "--yes", "--plan", str(saved), profile=profile)
    assert lane.fake.groups[GROUP].user["work_mem"]["value"] == "32768"


def test_formula_refused_on_a_server_target(pg16: Server, write_profile) -> None:  # type: ignore[no-untyped-def]
    profile = write_profile("name: f\nsettings:\n  effective_cache_size: {formula: '{DBInstanceClassMemory/16384}'}\n")
    result = run_cli("plan", str(profile), "--dsn", pg16.dsn)
    assert result.code == 1 and f"{profile.name}:3:" in result.stderr and "--rds-parameter-group" in result.stderr


# --- the same against moto's server mode (AWS_ENDPOINT_URL) -------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def moto(pg16: Server) -> Iterator[dict[str, str]]:
    server = Path(sys.executable).parent / "moto_server"
    if not server.exists():
        pytest.fail(
            "moto_server is not installed: pip install 'moto[server]' (scripts/bootstrap --test)", pytrace=False
        )
    for _ in range(5):  # a port picked free may be taken before moto binds it: try another
        port = _free_port()
        proc = subprocess.Popen([str(server), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        if proc.poll() is None:
            break
    else:
        pytest.fail("moto_server did not start", pytrace=False)
    env = {**AWS_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    pg16.reset()
    try:
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        pg16.reset()


def test_plan_apply_replan_against_moto(moto: dict[str, str], pg16: Server, write_profile) -> None:  # type: ignore[no-untyped-def]
    import boto3

    os.environ.get("AWS_ENDPOINT_URL")
    client = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("rds", endpoint_url=moto["AWS_ENDPOINT_URL"])
    client.create_db_parameter_group(DBParameterGroupName=GROUP, DBParameterGroupFamily="postgres16", Description="t")
    client.create_db_instance(
        DBInstanceIdentifier="moto-1",
        DBInstanceClass="db.r6g.large",
        Engine="postgres",
        DBParameterGroupName=GROUP,
        AllocatedStorage=20,
        MasterUsername="postgres",
        MasterUserPassword="not-a-secret-1",
    )
    profile = write_profile(
        """
        name: rds
        settings:
          work_mem: 64MB
          shared_buffers: 256MB
          effective_cache_size: {formula: '{DBInstanceClassMemory/16384}'}
        """
    )
    args = ("--dsn", pg16.dsn, "--rds-parameter-group", GROUP, "--rds-instance", "moto-1")
    plan = run_cli("plan", "--format", "json", str(profile), *args, env=moto)
    assert plan.code == 0, plan.stderr
    changes = json.loads(plan.stdout)["parameter_group"]["changes"]
    assert [c["object"] for c in changes] == [
        "parameter-group/effective_cache_size",
        "parameter-group/shared_buffers",
        "parameter-group/work_mem",
    ]
    applied = run_cli("apply", "--yes", str(profile), *args, env=moto)
    assert applied.code == 0, applied.stdout + applied.stderr
    rows = {
        r["ParameterName"]: r["ParameterValue"]
        for r in client.describe_db_parameters(DBParameterGroupName=GROUP, Source="user")["Parameters"]
    }
    assert rows == {
        "work_mem": "65536",
        "shared_buffers": "32768",
        "effective_cache_size": "{DBInstanceClassMemory/16384}",
    }
    again = run_cli("plan", "--format", "json", str(profile), *args, env=moto)
    doc = json.loads(again.stdout)
    assert doc["parameter_group"]["changes"] == []
    codes = {(n["code"], n["object"]) for n in doc["parameter_group"]["notices"]}
    # moto always reports in-sync and runs nothing: pgtune reads what runs from pg_settings
    assert ("RESTART_PENDING", "moto-1") in codes
    assert ("GROUP_DISAGREES", "moto-1/work_mem") in codes


# --- offline: rds.* names per engine family -----------------------------------------------------------


def test_validate_checks_rds_names_per_family(tmp_path: Path) -> None:
    profile = tmp_path / "rds.yaml"
    profile.write_text(
        "name: v\nsettings:\n  rds.force_ssl: '1'\n  rds.forse_ssl: '1'\n  rds.global_db_rpo: '60'\n"
        "  jit: {formula: '{DBInstanceVCPU}'}\n",
        encoding="utf-8",
    )
    result = run_cli("validate", str(profile), "--rds-family", "postgres")
    assert result.code == 1
    assert (
        "rds.yaml:4:3: unknown RDS parameter 'rds.forse_ssl' in RDS family postgres; did you mean 'rds.force_ssl'?"
        in (result.stderr)
    )
    assert "rds.yaml:5:3: rds.global_db_rpo is not a parameter of RDS family postgres" in result.stderr
    assert "rds.yaml:6:8: jit is a bool setting: a formula gives a number" in result.stderr
    assert "rds.yaml:3:" not in result.stderr  # rds.force_ssl is known
    aurora = run_cli("validate", str(profile), "--rds-family", "aurora-postgresql")
    assert "rds.global_db_rpo" not in aurora.stderr and "rds.forse_ssl" in aurora.stderr


def test_a_bad_formula_is_refused_as_the_profile_loads(tmp_path: Path) -> None:
    profile = tmp_path / "f.yaml"
    profile.write_text("name: f\nsettings:\n  max_connections: {formula: 'GREATEST({DBInstanceClassMemory},)'}\n")
    result = run_cli("validate", str(profile))
    assert result.code == 1 and "f.yaml:3:20: settings.max_connections: formula: GREATEST: empty argument" in (
        result.stderr
    )


# --- two truths: what the group holds, what the instance runs -----------------------------------------


def _codes(doc: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {n["code"]: n["message"] for n in doc["parameter_group"]["notices"]}


def test_the_instance_running_another_value_is_a_notice_not_a_diff(lane: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    profile = write_profile("name: rds\nsettings:\n  work_mem: 64MB\n")
    _run(lane, "apply", "--yes", profile=profile)
    lane.server.sql("ALTER SYSTEM SET work_mem = '8MB'")  # what a failed apply or a hand edit leaves
    lane.server.sql("SELECT pg_reload_conf()")
    assert lane.server.wait_for("SELECT current_setting('work_mem') = '8MB'")
    doc = _json(lane, profile)
    assert doc["parameter_group"]["changes"] == []
    assert "holds work_mem = 64MB but writer-1 runs 8MB" in _codes(doc)["GROUP_DISAGREES"]


def test_an_apply_method_alone_is_never_a_diff(lane: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    """terraform-provider-aws #18035 / #36419: a group row with the same value and another method."""
    lane.fake.groups[GROUP].user["work_mem"] = {"value": "65536", "method": "pending-reboot"}
    profile = write_profile("name: rds\nsettings:\n  work_mem: 64MB\n")
    assert _json(lane, profile)["parameter_group"]["changes"] == []


def test_an_instance_on_another_group_is_named(lane: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    lane.fake.add_group("other")
    lane.fake.instances["writer-1"].group = "other"
    doc = _json(lane, write_profile("name: rds\nsettings:\n  work_mem: 64MB\n"))
    assert "writer-1 (--dsn) uses parameter group other, not pgtune-test" in _codes(doc)["GROUP_NOT_ATTACHED"]


def test_an_instance_pgtune_cannot_match_is_said_and_can_be_named(lane: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    lane.fake.instances["writer-1"].host = "writer-1.example.rds.amazonaws.com"  # a CNAME, a proxy ...
    profile = write_profile("name: rds\nsettings:\n  work_mem: 64MB\n")
    assert "--rds-instance ID" in _codes(_json(lane, profile))["INSTANCE_UNKNOWN"]
    named = json.loads(_run(lane, "plan", "--format", "json", "--rds-instance", "writer-1", profile=profile))
    assert "INSTANCE_UNKNOWN" not in _codes(named)
    assert named["cluster"]["nodes"][0]["name"] == "writer-1"


def test_a_dsn_that_reaches_a_reader_is_refused(lane: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    lane.fake.instances["writer-1"].replica_of = "reader-1"
    result = lane.cli("plan", profile=write_profile("name: rds\nsettings:\n  work_mem: 64MB\n"))
    assert result.code == 1 and "a reader: give the writer's endpoint" in result.stderr  # type: ignore[attr-defined]


def test_sql_kinds_and_the_group_in_one_plan(lane: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    profile = write_profile(
        "name: rds\nsettings:\n  work_mem: 64MB\ndatabases:\n  postgres:\n    settings:\n      lock_timeout: 5s\n"
    )
    doc = _json(lane, profile)
    assert [c["object"] for c in doc["nodes"][0]["changes"]] == ["database:postgres/lock_timeout"]
    assert [c["object"] for c in doc["parameter_group"]["changes"]] == ["parameter-group/work_mem"]
    _run(lane, "apply", "--yes", profile=profile)
    assert lane.server.db_role_settings() == {"database:postgres": ["lock_timeout=5s"]}
    assert lane.server.auto_conf() == {"work_mem": "65536"}  # the fake's "RDS" wrote it, not ALTER SYSTEM by pgtune
    again = _json(lane, profile)
    assert again["parameter_group"]["changes"] == [] and again["nodes"][0]["changes"] == []


def test_failover_only_when_asked_and_only_for_the_writer(lane: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    lane.fake.instances["writer-1"].multi_az = True
    profile = write_profile("name: rds\nsettings:\n  shared_buffers: 192MB\n")
    _run(lane, "apply", "--yes", "--restart", "--rds-failover", profile=profile)
    calls = lane.fake.calls_of("RebootDBInstance")
    assert [(c["DBInstanceIdentifier"], bool(c.get("ForceFailover"))) for c in calls] == [
        ("reader-1", False),
        ("writer-1", True),
    ]
    assert lane.server.show("shared_buffers") == "192MB"


def test_rds_options_without_a_group_are_refused(pg16: Server, write_profile) -> None:  # type: ignore[no-untyped-def]
    profile = write_profile("name: rds\nsettings:\n  work_mem: 64MB\n")
    result = run_cli("plan", str(profile), "--dsn", pg16.dsn, "--rds-instance", "x")
    assert result.code == 1 and "go with --rds-parameter-group" in result.stderr


# --- Aurora: a cluster parameter group beside the DB parameter group ----------------------------------


@pytest.fixture
def aurora(pg16: Server) -> Iterator[Lane]:
    pg16.reset()
    fake = FakeRds(16)
    fake.add_group(GROUP)
    fake.add_cluster("aur", "aur-cluster", frozenset({"checkpoint_timeout", "max_wal_senders"}))
    fake.add_instance(FakeInstance("aur-2", GROUP, "db.r6g.large", "10.0.0.3", 5432, cluster="aur", writer=False))
    fake.add_instance(
        FakeInstance("aur-1", GROUP, "db.r6g.large", "127.0.0.1", pg16.cluster.port, apply=_writer(pg16), cluster="aur")
    )
    yield Lane(pg16, fake, {**AWS_ENV, "AWS_ENDPOINT_URL": fake.url})
    fake.close()
    pg16.reset()


def test_aurora_keys_go_to_the_group_that_offers_them(aurora: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    profile = write_profile(
        "name: a\nsettings:\n  work_mem: 64MB\n  checkpoint_timeout: 15min\n  max_wal_senders: 12\n"
    )
    args = ("--rds-cluster-parameter-group", "aur-cluster")
    doc = json.loads(_run(aurora, "plan", "--format", "json", *args, profile=profile))
    assert sorted(c["object"] for c in doc["parameter_group"]["changes"]) == [
        "cluster-parameter-group/checkpoint_timeout",
        "cluster-parameter-group/max_wal_senders",
        "parameter-group/work_mem",
    ]
    assert [s["node"] for s in doc["cluster"]["restart_order"]] == ["aur-2", "aur-1"]  # readers first
    _run(aurora, "apply", "--yes", *args, profile=profile)
    assert aurora.fake.calls_of("ModifyDBClusterParameterGroup")[0]["Parameters"] == [
        {"ParameterName": "checkpoint_timeout", "ParameterValue": "900", "ApplyMethod": "immediate"},
        {"ParameterName": "max_wal_senders", "ParameterValue": "12", "ApplyMethod": "pending-reboot"},
    ]
    assert aurora.server.show("checkpoint_timeout") == "15min" and aurora.server.show("work_mem") == "64MB"
    pending = json.loads(_run(aurora, "plan", "--format", "json", *args, profile=profile))
    assert pending["parameter_group"]["changes"] == []
    assert "cluster parameter group aur-cluster pending-reboot on aur-1" in " ".join(
        n["message"] for n in pending["parameter_group"]["notices"]
    )
    _run(aurora, "apply", "--yes", "--restart", *args, profile=profile)
    assert [c["DBInstanceIdentifier"] for c in aurora.fake.calls_of("RebootDBInstance")] == ["aur-2", "aur-1"]
    assert aurora.server.show("max_wal_senders") == "12"
    after = json.loads(_run(aurora, "plan", "--format", "json", *args, profile=profile))
    assert after["parameter_group"]["changes"] == [] and after["cluster"]["restart_order"] == []


# --- the cluster restart-order rules, per replication family ------------------------------------------


@pytest.mark.parametrize(
    ("settings", "order", "why"),
    [
        ("max_connections: 80", ["reader-1", "writer-1"], "max_connections increases: the readers first"),
        ("max_connections: 50", ["writer-1", "reader-1"], "max_connections decreases: the writer first"),
    ],
)
def test_reboots_follow_the_hot_standby_rule(
    lane: Lane, write_profile, settings: str, order: list[str], why: str
) -> None:  # type: ignore[no-untyped-def]
    doc = _json(lane, write_profile(f"name: rds\nsettings:\n  {settings}\n"))
    assert [s["node"] for s in doc["cluster"]["restart_order"]] == order
    assert why in doc["cluster"]["restart_reason"]


def test_a_raise_and_a_cut_together_are_refused(lane: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    profile = write_profile("name: rds\nsettings:\n  max_connections: 80\n  max_worker_processes: 4\n")
    result = lane.cli("plan", profile=profile)
    assert result.code == 1 and "no order of restarts is safe" in result.stderr  # type: ignore[attr-defined]
