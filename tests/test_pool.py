"""Pool settings against real servers: capacity checks on PostgreSQL 15 and 16, and a real PgBouncer
(Debian's 1.18, started as an unprivileged user in front of the PostgreSQL 16 test server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from pgtune.base.errors import BouncerError, ConnectionFailed, PgtuneError, ProfileError, ProfileErrors
from pgtune.integrations.pgbouncer.console import Console
from pgtune.kinds.engine import build_plan
from pgtune.plan.model import Plan
from pgtune.profile.loader import load_profile
from pgtune.targets.executor import FAILED, ExecOptions, execute
from tests.conftest import Bouncer, Server


def _plan(server: Server, path: Path) -> Plan:
    with psycopg.connect(server.dsn, autocommit=True, application_name="pgtune") as conn:
        return build_plan(conn, load_profile(path))


def _apply(server: Server, plan: Plan, bouncer: Bouncer | None) -> None:
    console = bouncer.console() if bouncer else None
    try:
        with psycopg.connect(server.dsn, autocommit=True, application_name="pgtune") as conn:
            report = execute(plan, conn, ExecOptions(), bouncer=console)
    finally:
        if console:
            console.close()
    assert not report.failed, [o.error for o in report.outcomes if o.error]


def _checks(plan: Plan) -> dict[str, tuple[str, str]]:
    return {c.code: (c.status, c.message) for c in plan.checks}


def _error(excinfo: pytest.ExceptionInfo) -> str:
    exc = excinfo.value
    return "\n".join(str(e) for e in exc.errors) if isinstance(exc, ProfileErrors) else str(exc)


# --- capacity on PostgreSQL 15 and 16 (test servers run max_connections = 60) ------------------


def test_direct_pools_that_fit_are_shown_with_their_numbers(pg: Server, write_profile: Callable[..., Path]) -> None:
    path = write_profile(
        """
        name: pools
        pool:
          application: {instances: 2, pool_size: 20, max_overflow: 5}
          other_connections: 5
        """
    )
    plan = _plan(pg, path)
    assert plan.empty
    status, message = _checks(plan)["POOL_CAPACITY"]
    assert status == "ok"
    reserved = " - reserved_connections 0" if int(pg.version) >= 16 else ""
    assert message == (
        "server: applications 2 x (pool_size 20 + max_overflow 5) = 50 + other connections 5 = 55 ≤ 57 available "
        f"(max_connections 60 - superuser_reserved_connections 3{reserved})"
    )
    numbers = plan.checks[0].numbers
    assert numbers["server_demand"] == 55 and numbers["server_available"] == 57
    assert numbers["reserved_connections"] == (0 if int(pg.version) >= 16 else None)


def test_pools_that_do_not_fit_fail_the_plan_at_the_pool_key(pg: Server, write_profile: Callable[..., Path]) -> None:
    path = write_profile(
        """
        name: pools
        settings:
          work_mem: 8MB
        pool:
          application: {instances: 3, pool_size: 20, max_overflow: 5}
        """
    )
    position = pg.log_position()
    with pytest.raises(ProfileError) as excinfo:
        _plan(pg, path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}:4:1: connection capacity exceeded: server: applications 3 x")
    assert "= 75 > 57 available" in message
    assert "pool.capacity: warn" in message
    pg.assert_only_reads_since(position)


def test_capacity_warn_downgrades_to_a_warning(pg: Server, write_profile: Callable[..., Path]) -> None:
    path = write_profile(
        """
        name: pools
        pool:
          capacity: warn
          application: {instances: 3, pool_size: 20, max_overflow: 5}
        """
    )
    plan = _plan(pg, path)
    status, message = _checks(plan)["POOL_CAPACITY"]
    assert status == "warn" and "= 75 > 57 available" in message


def test_the_planned_max_connections_counts_not_only_the_live_one(
    pg: Server, write_profile: Callable[..., Path]
) -> None:
    path = write_profile(
        """
        name: pools
        settings:
          max_connections: 100
        pool:
          application: {instances: 3, pool_size: 20, max_overflow: 5}
        """
    )
    plan = _plan(pg, path)
    assert [c.object for c in plan.changes] == ["max_connections"]
    checks = _checks(plan)
    status, message = checks["POOL_CAPACITY"]
    assert status == "ok"
    assert "= 75 ≤ 97 available (max_connections 100" in message
    assert "the server runs 57 available (max_connections 60" in message
    status, message = checks["POOL_CAPACITY_UNTIL_RESTART"]
    assert status == "warn" and "75 > 57 available" in message
    # Once applied (restart pending), the files hold 100: the next plan judges by that, without a change.
    pg.apply(plan)
    again = _plan(pg, path)
    assert again.empty
    assert "= 75 ≤ 97 available" in _checks(again)["POOL_CAPACITY"][1]
    # ... and lowering it in the profile is judged by the new value before anything runs.
    lowered = write_profile(path.read_text().replace("100", "70"), name="lowered.yaml")
    with pytest.raises(ProfileError, match=r"= 75 > 67 available \(max_connections 70"):
        _plan(pg, lowered)


def test_reserved_connections_on_16(pg16: Server, write_profile: Callable[..., Path]) -> None:
    pg16.reset()
    path = write_profile(
        """
        name: pools
        settings:
          reserved_connections: 5
        pool:
          application: {instances: 2, pool_size: 20, max_overflow: 5}
          other_connections: 5
        """
    )
    with pytest.raises(ProfileError) as excinfo:
        _plan(pg16, path)
    assert "55 > 52 available (max_connections 60 - superuser_reserved_connections 3 - reserved_connections 5)" in str(
        excinfo.value
    )
    pg16.reset()


def test_reserved_connections_is_unknown_on_15(pg15: Server, write_profile: Callable[..., Path]) -> None:
    pg15.reset()
    path = write_profile(
        """
        name: pools
        settings:
          reserved_connections: 5
        pool:
          application: {instances: 2, pool_size: 20, max_overflow: 5}
        """
    )
    with pytest.raises(ProfileError, match="unknown setting 'reserved_connections'"):
        _plan(pg15, path)


def test_through_pgbouncer_without_a_console_checks_declared_numbers(
    pg: Server, write_profile: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGTUNE_PGBOUNCER_DSN", raising=False)
    path = write_profile(
        """
        name: letta
        pool:
          application: {instances: 4, pool_size: 25, max_overflow: 10, through: pgbouncer}
          pgbouncer:
            settings: {default_pool_size: 25, reserve_pool_size: 5, max_client_conn: 1000, max_db_connections: 80}
          other_connections: 5
        """
    )
    plan = _plan(pg, path)
    assert plan.empty
    assert [n.code for n in plan.notices] == ["NOT_MANAGED"]
    status, message = _checks(plan)["POOL_CAPACITY"]
    assert status == "ok"
    assert message.startswith(
        "PgBouncer clients: applications 4 x (pool_size 25 + max_overflow 10) = 140 ≤ max_client_conn 1000; "
        "server: PgBouncer 1 x (default_pool_size 25 + reserve_pool_size 5) = 30 + other connections 5 = 35 ≤ 57"
    )
    small = write_profile(path.read_text().replace("max_client_conn: 1000", "max_client_conn: 100"), name="s.yaml")
    with pytest.raises(ProfileError, match=r"= 140 > max_client_conn 100"):
        _plan(pg, small)
    needs_section = write_profile(
        """
        name: letta
        pool:
          application: {through: pgbouncer}
        """,
        name="n.yaml",
    )
    with pytest.raises(ProfileError, match=r"n.yaml:3:26: through: pgbouncer needs a pool.pgbouncer section"):
        _plan(pg, needs_section)


def test_timeouts_that_undercut_each_other_are_reported(pg: Server, write_profile: Callable[..., Path]) -> None:
    path = write_profile(
        """
        name: pools
        settings:
          idle_session_timeout: 10min
        pool:
          application: {pool_size: 5, max_overflow: 0, pool_recycle: 30min}
        """
    )
    status, message = _checks(_plan(pg, path))["POOL_RECYCLE_IDLE_TIMEOUT"]
    assert status == "warn"
    assert message.startswith("pool_recycle (1800s) is longer than the server's idle_session_timeout (600s)")
    fine = write_profile(path.read_text().replace("30min", "5min"), name="fine.yaml")
    assert "POOL_RECYCLE_IDLE_TIMEOUT" not in _checks(_plan(pg, fine))


def test_bouncer_timeouts_and_prepared_statements(pg16: Server, write_profile: Callable[..., Path]) -> None:
    pg16.reset()
    path = write_profile(
        """
        name: pools
        settings:
          idle_session_timeout: 5min
        pool:
          application:
            pool_size: 5
            pool_timeout: 30s
            prepared_statements: true
            through: pgbouncer
          pgbouncer:
            settings: {pool_mode: transaction, query_wait_timeout: 10, server_idle_timeout: 600}
        """
    )
    checks = _checks(_plan(pg16, path))
    assert checks["POOL_TIMEOUT_QUERY_WAIT"][1].startswith(
        "pool_timeout (30s) is longer than PgBouncer's query_wait_timeout (10s)"
    )
    assert (
        "server_idle_timeout (600s) is longer than the server's idle_session_timeout (300s)"
        in (checks["POOL_RECYCLE_IDLE_TIMEOUT"][1])
    )
    assert "version is unknown" in checks["POOL_PREPARED_STATEMENTS"][1]
    pg16.reset()


# --- a live PgBouncer ---------------------------------------------------------------------------


def _bouncer_profile(write_profile: Callable[..., Path], bouncer: Bouncer, settings: str, persist: bool = True) -> Path:
    config = f"\n            config_file: {bouncer.ini}" if persist else ""
    return write_profile(
        f"""
        name: bouncer
        pool:
          application: {{instances: 2, pool_size: 10, max_overflow: 5, through: pgbouncer}}
          pgbouncer:
            admin_dsn: {bouncer.admin_dsn()}{config}
            settings:
{settings}
        """
    )


LETTA_BOUNCER = """\
              pool_mode: transaction
              default_pool_size: 25
              reserve_pool_size: 5
              max_client_conn: 1000
              max_db_connections: 40
              server_lifetime: 30min
              server_idle_timeout: 600
              query_wait_timeout: 30s
              log_pooler_errors: on"""


def test_pgbouncer_converges_persists_and_is_idempotent(
    pg16: Server, pgbouncer: Bouncer, write_profile: Callable[..., Path]
) -> None:
    pg16.reset()
    path = _bouncer_profile(write_profile, pgbouncer, LETTA_BOUNCER)
    plan = _plan(pg16, path)
    by_object = {c.object: c for c in plan.changes}
    # Already equal (spelled differently or defaults): server_idle_timeout 600, log_pooler_errors on = 1.
    assert sorted(by_object) == [
        "pgbouncer/default_pool_size",
        "pgbouncer/max_client_conn",
        "pgbouncer/max_db_connections",
        "pgbouncer/pool_mode",
        "pgbouncer/query_wait_timeout",
        "pgbouncer/reserve_pool_size",
        "pgbouncer/server_lifetime",
    ]
    lifetime = by_object["pgbouncer/server_lifetime"]
    assert (lifetime.kind, lifetime.before, lifetime.after) == ("pool", "3600", "1800")
    assert [(s.target, s.sql) for s in lifetime.statements] == [
        ("pgbouncer", "SET server_lifetime = '1800'"),
        ("pgbouncer.ini", "server_lifetime = 1800"),
    ]
    assert [s.sql for s in plan.epilogue] == ["RELOAD"]
    assert _checks(plan)["POOL_CAPACITY"][0] == "ok"
    _apply(pg16, plan, pgbouncer)
    live = pgbouncer.config()
    assert (live["pool_mode"], live["default_pool_size"], live["query_wait_timeout"]) == ("transaction", "25", "30")
    text = pgbouncer.ini.read_text()
    assert text.startswith(";; PgBouncer for pgtune's tests: comments like this one must survive")
    assert "; pool sizing below\ndefault_pool_size = 25\n" in text  # edited in place, comment kept
    assert "[users]" in text and "[databases]" in text
    assert _plan(pg16, path).empty
    pgbouncer.admin("RELOAD")
    assert pgbouncer.config()["server_lifetime"] == "1800"
    pgbouncer.restart()
    assert pgbouncer.config()["max_client_conn"] == "1000"
    assert _plan(pg16, path).empty


def test_without_config_file_the_plan_warns_and_reload_reverts(
    pg16: Server, pgbouncer: Bouncer, write_profile: Callable[..., Path]
) -> None:
    pg16.reset()
    path = _bouncer_profile(write_profile, pgbouncer, "              query_wait_timeout: 45", persist=False)
    plan = _plan(pg16, path)
    (change,) = plan.changes
    assert [h.code for h in change.hazards] == ["NOT_PERSISTED"]
    assert [s.target for s in change.statements] == ["pgbouncer"]
    assert plan.epilogue == ()
    before = pgbouncer.ini.read_text()
    _apply(pg16, plan, pgbouncer)
    assert pgbouncer.ini.read_text() == before
    assert pgbouncer.config()["query_wait_timeout"] == "45"
    assert _plan(pg16, path).empty
    pgbouncer.admin("RELOAD")  # what the hazard warns about
    assert pgbouncer.config()["query_wait_timeout"] == "120"
    assert [c.object for c in _plan(pg16, path).changes] == ["pgbouncer/query_wait_timeout"]


def test_live_value_right_but_file_wrong_is_a_file_only_change(
    pg16: Server, pgbouncer: Bouncer, write_profile: Callable[..., Path]
) -> None:
    pg16.reset()
    pgbouncer.admin("SET default_pool_size = '30'")
    path = _bouncer_profile(write_profile, pgbouncer, "              default_pool_size: 30")
    (change,) = _plan(pg16, path).changes
    assert [s.target for s in change.statements] == ["pgbouncer.ini"]
    assert "a RELOAD would revert it" in (change.note or "")
    _apply(pg16, _plan(pg16, path), pgbouncer)
    pgbouncer.admin("RELOAD")
    assert pgbouncer.config()["default_pool_size"] == "30"


def test_settings_fixed_at_start_need_the_file_and_a_restart(
    pg16: Server, pgbouncer: Bouncer, write_profile: Callable[..., Path]
) -> None:
    pg16.reset()
    no_file = _bouncer_profile(write_profile, pgbouncer, "              listen_backlog: 256", persist=False)
    with pytest.raises(ProfileError, match=r"PgBouncer cannot change listen_backlog while running; give pool"):
        _plan(pg16, no_file)
    path = _bouncer_profile(write_profile, pgbouncer, "              listen_backlog: 256")
    (change,) = _plan(pg16, path).changes
    assert change.restart_required and [s.target for s in change.statements] == ["pgbouncer.ini"]
    _apply(pg16, _plan(pg16, path), pgbouncer)
    assert "listen_backlog = 256" in pgbouncer.ini.read_text()
    after = _plan(pg16, path)
    assert after.empty and [n.code for n in after.notices] == ["RESTART_PENDING"]
    pgbouncer.restart()
    assert pgbouncer.config()["listen_backlog"] == "256"
    assert not _plan(pg16, path).notices


def test_a_file_pgbouncer_rejects_fails_the_apply(
    pg16: Server, pgbouncer: Bouncer, write_profile: Callable[..., Path]
) -> None:
    """RELOAD answers OK even when PgBouncer cannot load the file: SHOW CONFIG is the proof."""
    pg16.reset()
    pgbouncer.ini.write_text(pgbouncer.base_ini.replace("[users]", "[pgbouncer]\nquery_timeout = 5 ; oops\n[users]"))
    path = _bouncer_profile(write_profile, pgbouncer, "              default_pool_size: 33")
    plan = _plan(pg16, path)
    with psycopg.connect(pg16.dsn, autocommit=True) as conn, pgbouncer.console() as console:
        report = execute(plan, conn, ExecOptions(), bouncer=console)
    (outcome,) = report.outcomes
    assert outcome.status == FAILED
    assert "after RELOAD PgBouncer runs default_pool_size = 20, not 33" in (outcome.error or "")


def test_bad_pgbouncer_settings_are_reported_and_nothing_runs(
    pg16: Server, pgbouncer: Bouncer, write_profile: Callable[..., Path]
) -> None:
    pg16.reset()
    before_ini, before_live = pgbouncer.ini.read_text(), pgbouncer.config()
    path = _bouncer_profile(
        write_profile,
        pgbouncer,
        """\
              pool_mod: transaction
              default_pool_size: -5
              query_wait_timeout: 30 seconds
              pool_mode: bogus
              log_stats: maybe""",
    )
    with pytest.raises(ProfileErrors) as excinfo:
        _plan(pg16, path)
    lines = _error(excinfo).splitlines()
    assert lines == [
        f"{path}:8:7: unknown PgBouncer setting 'pool_mod'; did you mean 'pool_mode'?",
        f"{path}:9:26: default_pool_size: expected a whole number ≥ 0, got '-5'",
        f'{path}:10:27: query_wait_timeout: invalid unit "seconds". Valid units for this parameter are "us", "ms", '
        '"s", "min", "h", and "d". (a duration: 30, 30s, 5min, 1.5)',
        f"{path}:11:18: pool_mode: 'bogus' is not one of session, transaction, statement",
        f"{path}:12:18: log_stats: expected on or off (true/false, 1/0), got 'maybe'",
    ]
    assert pgbouncer.ini.read_text() == before_ini and pgbouncer.config() == before_live


def test_unreachable_console_is_a_clear_error_without_the_password(
    pg16: Server, pgbouncer: Bouncer, write_profile: Callable[..., Path], cli: Callable[..., object]
) -> None:
    pg16.reset()
    path = _bouncer_profile(write_profile, pgbouncer, "              default_pool_size: 25")
    wrong_port = path.read_text().replace(f":{pgbouncer.port}/", ":1/")
    bad = write_profile(wrong_port, name="bad.yaml")
    with pytest.raises(
        ConnectionFailed, match=r"PgBouncer admin console: could not connect to postgresql://pgbouncer:\*\*\*\*@"
    ):
        _plan(pg16, bad)
    wrong_password = path.read_text().replace(pgbouncer.admin_password, "not-the-Secr3t")
    result = cli("plan", str(write_profile(wrong_password, name="pw.yaml")), "--dsn", pg16.dsn)
    assert result.code == 1
    assert "PgBouncer admin console" in result.stderr
    assert "not-the-Secr3t" not in result.stderr + result.stdout


def test_cli_plan_and_apply_through_the_environment_dsn(
    pg16: Server, pgbouncer: Bouncer, write_profile: Callable[..., Path], cli: Callable[..., object]
) -> None:
    pg16.reset()
    path = write_profile(
        f"""
        name: bouncer
        pool:
          pgbouncer:
            admin_dsn: postgresql://nobody@127.0.0.1:1/pgbouncer
            config_file: {pgbouncer.ini}
            settings: {{pool_mode: transaction, query_wait_timeout: 1min}}
        """
    )
    env = {"PGTUNE_PGBOUNCER_DSN": pgbouncer.admin_dsn()}
    plan = cli("plan", str(path), "--dsn", pg16.dsn, "--format", "json", env=env)
    assert plan.code == 0, plan.stderr
    doc = json.loads(plan.stdout)
    assert [c["object"] for c in doc["changes"]] == ["pgbouncer/pool_mode", "pgbouncer/query_wait_timeout"]
    assert doc["changes"][1]["statements"][1] == {
        "sql": "query_wait_timeout = 60",
        "transactional": False,
        "lock": "none",
        "retryable": True,
        "progress": None,
        "target": "pgbouncer.ini",
        "file": str(pgbouncer.ini),
        "locks": [],
    }
    assert doc["epilogue_statements"] == [{"sql": "RELOAD", "target": "pgbouncer"}]
    dry = cli("apply", str(path), "--dsn", pg16.dsn, "--dry-run", env=env)
    assert "SET pool_mode = 'transaction';  -- PgBouncer admin console" in dry.stdout
    assert f"-- pgbouncer.ini ({pgbouncer.ini}) [pgbouncer]: query_wait_timeout = 60" in dry.stdout
    assert pgbouncer.config()["pool_mode"] == "session"
    applied = cli("apply", str(path), "--dsn", pg16.dsn, "--yes", env=env)
    assert applied.code == 0, applied.stderr
    assert "PgBouncer reloaded (RELOAD) and its settings confirmed with SHOW CONFIG." in applied.stdout
    for output in (plan, dry, applied):
        assert pgbouncer.admin_password not in output.stdout + output.stderr
    assert pgbouncer.config()["query_wait_timeout"] == "60"
    assert cli("plan", str(path), "--dsn", pg16.dsn, "--detailed-exitcode", env=env).code == 0


def test_console_speaks_simple_protocol_only(pgbouncer: Bouncer) -> None:
    """Why the console uses a ClientCursor: the extended protocol is refused by PgBouncer."""
    with psycopg.connect(pgbouncer.admin_dsn(), autocommit=True) as conn, pytest.raises(psycopg.Error):
        conn.execute("SHOW %s" % "VERSION", prepare=True)  # noqa: UP031 - a prepared statement on purpose
    with Console(pgbouncer.admin_dsn()) as console:
        text, version = console.version()
        assert text.startswith("PgBouncer 1.") and version >= (1, 18, 0)
        with pytest.raises(BouncerError, match="SET failed"):
            console.execute("SET no_such_setting = '1'")


def test_prepared_statements_are_judged_by_the_live_version(
    pg16: Server, pgbouncer: Bouncer, write_profile: Callable[..., Path]
) -> None:
    pg16.reset()
    path = _bouncer_profile(write_profile, pgbouncer, "              pool_mode: transaction")
    path.write_text(path.read_text().replace("through: pgbouncer}", "through: pgbouncer, prepared_statements: true}"))
    status, message = _checks(_plan(pg16, path))["POOL_PREPARED_STATEMENTS"]
    assert status == "warn"
    assert message.startswith("prepared statements with pool_mode transaction on PgBouncer 1.18.0: they need")
    session = write_profile(path.read_text().replace("pool_mode: transaction", "pool_mode: session"), name="s.yaml")
    assert "POOL_PREPARED_STATEMENTS" not in _checks(_plan(pg16, session))


def test_a_stats_user_may_not_change_pgbouncer_and_is_told_at_plan(
    pg16: Server, pgbouncer: Bouncer, write_profile: Callable[..., Path]
) -> None:
    """stats_users may log in and SHOW, never SET or RELOAD: refused at plan, not half-way through apply."""
    users = pgbouncer.root / "userlist.txt"
    if '"watcher"' not in users.read_text():
        users.write_text(users.read_text() + '"watcher" "watch-Pw-42"\n')
    pgbouncer.ini.write_text(pgbouncer.ini.read_text().replace("[pgbouncer]\n", "[pgbouncer]\nstats_users = watcher\n"))
    pgbouncer.admin("RELOAD")
    watcher = pgbouncer.admin_dsn().replace(f"{pgbouncer.ADMIN}:{pgbouncer.admin_password}@", "watcher:watch-Pw-42@")
    path = _bouncer_profile(write_profile, pgbouncer, "              pool_mode: transaction")
    path.write_text(path.read_text().replace(pgbouncer.admin_dsn(), watcher))
    with pytest.raises(PgtuneError) as caught:
        _plan(pg16, path)
    assert "PgBouncer user 'watcher' is not in admin_users (pgbouncer): SET and RELOAD would be refused" in _error(
        caught
    )
    assert str(caught.value).startswith(f"{path}:5:16: ")  # at admin_dsn
    assert pgbouncer.config()["pool_mode"] == "session"
