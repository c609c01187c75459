"""The `pgtune` command end to end, in a subprocess, against a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, CliResult, Server

Cli = Callable[..., CliResult]

PROFILE = """
    name: cli
    settings:
      work_mem: 64MB
      jit: off
      shared_buffers: 256MB
      statement_timeout: null
    databases:
      postgres: {settings: {random_page_cost: '1.1'}}
    roles:
      postgres: {settings: {lock_timeout: 10s}}
"""


@pytest.fixture
def profile(write_profile: Callable[..., Path]) -> Path:
    return write_profile(PROFILE)


def test_plan_json_is_the_documented_contract(pg: Server, cli: Cli, profile: Path) -> None:
    pg.sql("ALTER SYSTEM SET statement_timeout = '1min'")
    result = cli("plan", str(profile), "--dsn", pg.dsn, "--format", "json")
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["format_version"] == 1
    assert doc["profile"] == "cli"
    assert doc["server"]["version"].startswith(pg.version + ".")
    assert doc["server"]["version_num"] // 10000 == int(pg.version)
    assert doc["summary"] == {"create": 0, "update": 5, "delete": 1, "replace": 0, "restart_required": True}
    by_object = {c["object"]: c for c in doc["changes"]}
    assert list(by_object) == [
        "jit",
        "shared_buffers",
        "statement_timeout",
        "work_mem",
        "database:postgres/random_page_cost",
        "role:postgres/lock_timeout",
    ]
    sb = by_object["shared_buffers"]
    assert sb == {
        "kind": "setting",
        "object": "shared_buffers",
        "address": {"kind": "setting", "scope": None, "target": None, "schema": None, "name": "shared_buffers"},
        "action": "update",
        "before": "128MB",
        "after": "256MB",
        "sql": ["ALTER SYSTEM SET \"shared_buffers\" = '256MB'"],
        "transactional": False,
        "lock": "none",
        "other_locks": [],
        "restart_required": True,
        "reload_required": True,
        "hazards": [],
        "note": None,
        "source": "settings",
        "reset": False,
        "statements": [
            {
                "sql": "ALTER SYSTEM SET \"shared_buffers\" = '256MB'",
                "transactional": False,
                "lock": "none",
                "retryable": True,
                "progress": None,
                "target": "postgres",
                "file": None,
                "locks": [],
            }
        ],
    }
    assert by_object["statement_timeout"]["action"] == "delete"
    assert by_object["statement_timeout"]["reset"] is True
    assert by_object["role:postgres/lock_timeout"]["address"] == {
        "kind": "setting",
        "scope": "role",
        "target": "postgres",
        "schema": None,
        "name": "lock_timeout",
    }
    assert by_object["statement_timeout"]["sql"] == ['ALTER SYSTEM RESET "statement_timeout"']
    assert by_object["database:postgres/random_page_cost"]["transactional"] is True
    assert doc["epilogue"] == ["SELECT pg_reload_conf()"]
    assert doc["epilogue_statements"] == [{"sql": "SELECT pg_reload_conf()", "target": "postgres"}]
    assert doc["checks"] == []


def test_text_and_markdown_plans(pg: Server, cli: Cli, profile: Path) -> None:
    text = cli("plan", str(profile), "--dsn", pg.dsn)
    assert text.code == 0
    assert "  ~ setting shared_buffers: 128MB -> 256MB  [restart required]" in text.stdout
    assert "  ~ setting database:postgres/random_page_cost: (not set) -> 1.1" in text.stdout
    assert text.stdout.rstrip().endswith(
        "Plan: 0 to create, 5 to update, 0 to delete, 0 to replace.\nRestart required: yes"
    )
    md = cli("plan", str(profile), "--dsn", pg.dsn, "--format", "markdown")
    assert md.stdout.startswith("<!-- pgtune-plan profile=cli -->\n### pgtune plan: `cli` on PostgreSQL")
    assert "| `~` | setting | `shared_buffers` | `128MB` → `256MB` | **:warning: restart required** |" in md.stdout
    assert "```sql\nALTER SYSTEM SET \"jit\" = 'off';" in md.stdout


def test_detailed_exitcode_and_apply_then_no_changes(pg: Server, cli: Cli, profile: Path) -> None:
    assert cli("plan", str(profile), "--dsn", pg.dsn, "--detailed-exitcode").code == 2
    assert cli("plan", str(profile), "--dsn", pg.dsn).code == 0

    applied = cli("apply", str(profile), "--dsn", pg.dsn, "--yes")
    assert applied.code == 0, applied.stderr
    assert "applied (restart pending): setting shared_buffers" in applied.stdout
    assert "applied: setting work_mem" in applied.stdout
    assert "Apply: 4 applied, 1 applied (restart pending)." in applied.stdout
    assert pg.show("work_mem") == "64MB"

    again = cli("apply", str(profile), "--dsn", pg.dsn, "--yes")
    assert again.code == 0
    assert again.stdout.startswith('No changes. The server matches profile "cli"')
    assert "RESTART_PENDING shared_buffers" in again.stdout
    assert cli("plan", str(profile), "--dsn", pg.dsn, "--detailed-exitcode").code == 0


def test_dry_run_prints_the_sql_and_runs_nothing(pg: Server, cli: Cli, profile: Path) -> None:
    position = pg.log_position()
    result = cli("apply", str(profile), "--dsn", pg.dsn, "--dry-run")
    assert result.code == 0
    assert "ALTER SYSTEM SET \"work_mem\" = '64MB';\n" in result.stdout
    assert 'ALTER DATABASE "postgres" SET "random_page_cost" = \'1.1\';' in result.stdout
    assert result.stdout.rstrip().endswith("SELECT pg_reload_conf();")
    assert pg.auto_conf() == {}
    pg.assert_only_reads_since(position)


def test_apply_without_a_terminal_needs_yes(pg: Server, cli: Cli, profile: Path) -> None:
    result = cli("apply", str(profile), "--dsn", pg.dsn)
    assert result.code == 1
    assert "refusing to apply: stdin is not a terminal; pass --yes" in result.stderr
    assert pg.auto_conf() == {}


def test_profile_errors_exit_1_with_position_and_no_sql(
    pg: Server, cli: Cli, write_profile: Callable[..., Path]
) -> None:
    bad = write_profile("name: bad\nsettings:\n  work_mem: [1\n", "bad.yaml")
    result = cli("plan", str(bad), "--dsn", pg.dsn)
    assert result.code == 1
    assert result.stderr.startswith(f"{bad}:4:1: invalid YAML")
    unknown = write_profile("name: bad\nsettings:\n  shared_bufers: 1GB\n", "unknown.yaml")
    position = pg.log_position()
    result = cli("apply", str(unknown), "--dsn", pg.dsn, "--yes")
    assert result.code == 1
    assert f"{unknown}:3:3: unknown setting 'shared_bufers'; did you mean 'shared_buffers'" in result.stderr
    assert result.stdout == ""
    pg.assert_only_reads_since(position)


def test_validate_is_offline(cli: Cli, write_profile: Callable[..., Path]) -> None:
    good = write_profile("name: ok\nsettings: {work_mem: 4MB}\n", "good.yaml")
    bad = write_profile("name: ok\nsetting: {}\n", "bad.yaml")
    result = cli("validate", str(good), str(bad), env={"PGTUNE_DSN": "host=203.0.113.1 connect_timeout=1"})
    assert result.code == 1
    assert f"{good}: ok (profile 'ok'; checked against PostgreSQL 18's settings)" in result.stdout
    assert f"{bad}:2:1: unknown key 'setting' in profile; did you mean 'settings'?" in result.stderr


def test_dsn_precedence_flag_then_pgtune_dsn_then_database_url_then_libpq(pg: Server, cli: Cli, profile: Path) -> None:
    dead = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    assert cli("plan", str(profile), "--dsn", pg.dsn, env={"PGTUNE_DSN": dead}).code == 0
    assert cli("plan", str(profile), env={"PGTUNE_DSN": pg.dsn, "DATABASE_URL": dead}).code == 0
    assert cli("plan", str(profile), env={"DATABASE_URL": pg.dsn}).code == 0
    libpq = {"PGHOST": "127.0.0.1", "PGPORT": str(pg.cluster.port), "PGUSER": "postgres", "PGDATABASE": "postgres"}
    assert cli("plan", str(profile), env=libpq).code == 0
    failed = cli("plan", str(profile), env={"PGTUNE_DSN": dead, "DATABASE_URL": pg.dsn})
    assert failed.code == 1 and "could not connect to postgresql://nobody@127.0.0.1:1/none" in failed.stderr


def test_passwords_never_appear_in_any_output(pg: Server, cli: Cli, profile: Path) -> None:
    secret = "S3cr3t-Pa55word"
    pg.sql(f"CREATE ROLE pgtune_test_pw LOGIN SUPERUSER PASSWORD '{secret}'")
    url = f"postgresql://pgtune_test_pw:{secret}@127.0.0.1:{pg.cluster.port}/postgres"
    outputs = [
        cli("plan", str(profile), "--dsn", url),
        cli("plan", str(profile), "--dsn", url, "--format", "json"),
        cli("apply", str(profile), "--dsn", url, "--dry-run"),
        cli("plan", str(profile), "--dsn", f"postgresql://pgtune_test_pw:{secret}@127.0.0.1:1/x?connect_timeout=2"),
        cli("plan", str(profile), "--dsn", f"host=127.0.0.1 port=1 password={secret} connect_timeout=2"),
        cli("plan", str(profile), "--dsn", f"postgresql://u:{secret}@[bad"),
        cli("plan", str(profile), env={"PGTUNE_DSN": "host=127.0.0.1 port=1 connect_timeout=2", "PGPASSWORD": secret}),
    ]
    assert [o.code for o in outputs] == [0, 0, 0, 1, 1, 1, 1]
    for output in outputs:
        assert secret not in output.stdout + output.stderr
    assert "postgresql://pgtune_test_pw:****@127.0.0.1:1/x" in outputs[3].stderr


@pytest.mark.server  # starts pgserver's PostgreSQL itself
def test_quick_start_sandbox_plan_and_apply(cli: Cli) -> None:
    """The README's quick start: the shipped example profile against the embedded server."""
    plan = cli("plan", "--sandbox", "profiles/example.yaml", cwd=REPO)
    assert plan.code == 0, plan.stderr
    assert "~ setting shared_buffers: 128MB -> 256MB  [restart required]" in plan.stdout
    applied = cli("apply", "--sandbox", "--yes", "profiles/example.yaml", cwd=REPO)
    assert applied.code == 0, applied.stderr
    assert "applied (restart pending): setting shared_buffers" in applied.stdout
    assert "Apply: 7 applied, 1 applied (restart pending)." in applied.stdout


@pytest.mark.server  # starts pgserver's PostgreSQL itself
def test_sandbox_loads_a_schema_first(cli: Cli, write_profile: Callable[..., Path], tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE ROLE letta_app LOGIN;\nCREATE SCHEMA letta;\n")
    profile = write_profile("name: s\nroles:\n  letta_app: {settings: {statement_timeout: 30s}}\n")
    result = cli("plan", "--sandbox", "--schema", str(schema), str(profile))
    assert result.code == 0, result.stderr
    assert "~ setting role:letta_app/statement_timeout: (not set) -> 30s" in result.stdout
    without = cli("plan", "--sandbox", str(profile))
    assert without.code == 1 and "unknown role 'letta_app'" in without.stderr


def test_colour_only_when_wanted(pg: Server, cli: Cli, profile: Path) -> None:
    plain = cli("plan", str(profile), "--dsn", pg.dsn)
    assert "\x1b[" not in plain.stdout  # not a terminal
    forced = cli("plan", str(profile), "--dsn", pg.dsn, env={"FORCE_COLOR": "1"})
    assert "\x1b[33m~\x1b[0m setting shared_buffers" in forced.stdout
    for env, args in (({"FORCE_COLOR": "1", "NO_COLOR": "1"}, ()), ({"FORCE_COLOR": "1"}, ("--no-color",))):
        result = cli(*args, "plan", str(profile), "--dsn", pg.dsn, env=env)
        assert result.code == 0 and "\x1b[" not in result.stdout
    json_out = cli("plan", str(profile), "--dsn", pg.dsn, "--format", "json", env={"FORCE_COLOR": "1"})
    assert "\x1b[" not in json_out.stdout  # data formats never carry colour


def test_quiet_and_verbose(pg: Server, cli: Cli, profile: Path) -> None:
    verbose = cli("-v", "apply", str(profile), "--dsn", pg.dsn, "--yes")
    assert verbose.code == 0, verbose.stderr
    assert re.search(r"^\s+\d+\.\d ms  ALTER SYSTEM SET \"shared_buffers\" = '256MB'$", verbose.stderr, re.M)
    assert "  applied: shared_buffers" in verbose.stderr
    pg.reset()
    quiet = cli("-q", "apply", str(profile), "--dsn", pg.dsn, "--yes")
    assert quiet.code == 0
    assert quiet.stderr == ""
    assert "ALTER SYSTEM" not in quiet.stdout  # no plan, only the report
    assert "Apply: " in quiet.stdout
    failing = cli("-q", "plan", str(profile), "--dsn", "host=127.0.0.1 port=1 user=x dbname=y")
    assert failing.code == 1 and failing.stderr.startswith("Error: could not connect")


def test_shell_completion_script() -> None:
    """typer's completion, for the installed `pgtune` command (CI shells are not auto-detected: name one)."""
    script = Path(sys.executable).parent / "pgtune"
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}  # where shellingham finds a shell,
    # --show-completion is a flag and "bash" would be an extra argument
    result = subprocess.run(
        [str(script), "--show-completion", "bash"], capture_output=True, text=True, check=False, env=env
    )
    assert result.returncode == 0 and "complete -o default -F _pgtune_completion pgtune" in result.stdout


def test_global_flags_are_accepted_anywhere(cli: Cli) -> None:
    from pgtune.cli import global_flags_first

    assert global_flags_first(["plan", "p.yaml", "-q", "--dsn", "x"]) == ["-q", "plan", "p.yaml", "--dsn", "x"]
    assert global_flags_first(["plan", "--", "-q"]) == ["plan", "--", "-q"]
    result = cli("validate", "profiles/web.yaml", "--no-color", "-q")
    assert result.code == 0, result.stderr


def test_apply_lists_each_change_once(pg: Server, cli: Cli, profile: Path) -> None:
    result = cli("apply", str(profile), "--dsn", pg.dsn, "--yes")
    assert result.code == 0, result.stderr
    assert (result.stdout + result.stderr).count("applied (restart pending): setting shared_buffers") == 1
    assert "  applied: shared_buffers" not in result.stderr


@pytest.mark.server  # starts pgserver's PostgreSQL itself
def test_make_demo_shows_the_whole_job(tmp_path: Path) -> None:
    """The README's first command, as a fresh user runs it (its script; the venv is this one): every
    step in order, the drift plan exactly the two hand-made changes, the pull request's Markdown
    written, the reviewed plan applied, empty plans after each apply, check's verdicts."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PGTUNE_DEMO_OUT": str(tmp_path)},
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-2000:]
    steps = [out.index(f"=== {n}.") for n in range(1, 10)]
    assert steps == sorted(steps)
    empty = 'No changes. The server matches profile "letta-demo"'
    assert out.count(empty) == 2 and steps[3] < out.index(empty) < steps[4] and out.rindex(empty) > steps[7]
    first_apply = out[steps[2] : steps[3]]
    for applied in ("setting max_connections", "storage letta.runs", "index letta.ix_runs_status_created_at"):
        assert f"applied (restart pending): {applied}" in first_apply or f"applied: {applied}" in first_apply
    assert "applied: partition letta.messages_p" in first_apply and "POOL_CAPACITY" in out[steps[1] : steps[2]]
    drift = out[steps[5] : steps[6]]
    assert "Plan: 1 to create, 1 to update, 0 to delete, 0 to replace." in drift and "(exit 2: there is drift" in drift
    markdown = (tmp_path / "drift-plan.md").read_text(encoding="utf-8")
    assert "`letta.ix_messages_run_sequence`" in markdown and "`letta.runs`" in markdown
    converge = out[steps[7] : steps[8]]
    assert "applied: index letta.ix_messages_run_sequence" in converge and "Apply: 2 applied." in converge
    assert "Health of letta on PostgreSQL 16" in out[steps[8] :] and "The throwaway server is gone" in out


@pytest.mark.parametrize("args", [["version"], ["--help"], ["plan", "--help"], ["apply", "--help"]])
def test_light_commands_import_nothing_heavy(args: list[str]) -> None:
    """An import-graph check, not a timed test: version and help never load the database driver, the
    profile model, the SQL parser, the YAML reader, any target (the targets' options come from their
    packages' declarations) or any other command's parameters (typer itself may load pydantic)."""
    code = (
        "import sys, contextlib, io\n"
        "from pgtune.cli import lazy\n"
        "from pgtune.cli.app import app\n"
        "group = lazy.command(app)\n"
        f"with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    group({args!r}, standalone_mode=False)\n"
        "heavy = [m for m in ('psycopg', 'pgtune.profile.model', 'pglast', 'ruamel.yaml', 'deepdiff') "
        "if m in sys.modules]\n"
        "heavy += [m for m in sys.modules if m.startswith('pgtune.targets.') and m.endswith('.target')]\n"
        "assert not heavy, heavy\n"
        "built = [name for name, cmd in group.commands.items() if not isinstance(cmd, lazy.Deferred)]\n"
        f"assert set(built) <= {set(a for a in args[:1] if not a.startswith('-'))!r}, built\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_validate_loads_no_database_driver_and_no_sql_parser() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from pgtune import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    cli.app(['validate', 'profiles/web.yaml'], standalone_mode=False)\n"
        "heavy = [m for m in ('psycopg', 'pglast', 'deepdiff') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert 'pgtune.profile.model' in sys.modules  # it did validate\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=REPO)
    assert result.returncode == 0, result.stderr
