"""Server settings against real PostgreSQL 15 and 16: plan, apply, idempotence, scopes, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from conftest import Server

from pgtune.base.errors import PgtuneError
from pgtune.kinds.engine import build_plan
from pgtune.plan.model import Plan
from pgtune.profile.loader import load_profile

PlanFor = Callable[[str], Plan]


def objects(plan: Plan) -> dict[str, tuple[str, object, object]]:
    return {c.object: (c.action, c.before, c.after) for c in plan.changes}


SPELLINGS = """
    name: spellings
    settings:
      work_mem: {work_mem}
      maintenance_work_mem: 1GB
      effective_cache_size: 3GB
      jit: {jit}
      random_page_cost: 1.1
      log_min_duration_statement: 1s
      checkpoint_timeout: 15min
      idle_in_transaction_session_timeout: 300000
      search_path: ['$user', public, Extra]
      default_statistics_target: 200
      log_checkpoints: on
      wal_compression: pglz
"""


def test_apply_converges_and_a_second_plan_is_empty(pg: Server, plan_for: PlanFor) -> None:
    first = plan_for(SPELLINGS.format(work_mem="64MB", jit="off"))
    assert {c.object for c in first.changes} >= {"work_mem", "jit", "random_page_cost", "search_path"}
    assert all(c.reload_required and not c.restart_required for c in first.changes)
    pg.apply(first)

    assert pg.show("work_mem") == "64MB"
    assert pg.show("jit") == "off"
    assert pg.show("random_page_cost") == "1.1"
    assert pg.show("log_min_duration_statement") == "1s"
    assert pg.show("idle_in_transaction_session_timeout") == "5min"
    assert pg.show("search_path") == '"$user", public, "Extra"'  # list elements are literal names
    assert pg.auto_conf()["work_mem"] == "64MB"
    assert plan_for(SPELLINGS.format(work_mem="64MB", jit="off")).changes == ()


@pytest.mark.parametrize(
    ("work_mem", "jit"), [("65536", "false"), ("65536kB", "0"), ("0.0625GB", "OFF"), ("'64 MB'", "no")]
)
def test_other_spellings_of_the_same_values_are_not_changes(
    pg: Server, plan_for: PlanFor, work_mem: str, jit: str
) -> None:
    pg.apply(plan_for(SPELLINGS.format(work_mem="64MB", jit="off")))
    assert plan_for(SPELLINGS.format(work_mem=work_mem, jit=jit)).changes == ()


def test_server_written_base_units_match_profile_units(pg: Server, plan_for: PlanFor) -> None:
    """131072 (8kB pages) in postgresql.auto.conf equals 1GB: pending restart, not a change."""
    pg.sql("ALTER SYSTEM SET shared_buffers = '131072'")
    pg.sql("SELECT pg_reload_conf()")
    plan = plan_for("name: sb\nsettings:\n  shared_buffers: 1GB\n")
    assert plan.changes == ()
    assert [(n.object, n.code) for n in plan.notices] == [("shared_buffers", "RESTART_PENDING")]


def test_postmaster_setting_is_flagged_then_pending_then_live_after_restart(pg: Server, plan_for: PlanFor) -> None:
    profile = "name: restart\nsettings:\n  shared_buffers: 256MB\n  max_connections: '70'\n"
    plan = plan_for(profile)
    assert objects(plan) == {"max_connections": ("update", "60", "70"), "shared_buffers": ("update", "128MB", "256MB")}
    assert all(c.restart_required for c in plan.changes) and plan.restart_required
    pg.apply(plan)

    assert pg.show("shared_buffers") == "128MB"  # still the running value
    assert pg.one("SELECT pending_restart FROM pg_settings WHERE name = 'shared_buffers'") is True
    pending = plan_for(profile)
    assert pending.changes == ()
    assert {n.object for n in pending.notices} == {"shared_buffers", "max_connections"}

    pg.restart()
    assert pg.show("shared_buffers") == "256MB"
    assert pg.show("max_connections") == "70"
    after = plan_for(profile)
    assert after.changes == () and after.notices == ()


def test_changing_a_pending_postmaster_value_again_is_one_update(pg: Server, plan_for: PlanFor) -> None:
    pg.apply(plan_for("name: a\nsettings:\n  shared_buffers: 256MB\n"))
    plan = plan_for("name: a\nsettings:\n  shared_buffers: 512MB\n")
    [change] = plan.changes
    assert (change.before, change.after, change.restart_required) == ("256MB", "512MB", True)
    assert change.note == "running value: 128MB"


def test_null_resets_only_what_postgresql_auto_conf_holds(pg: Server, plan_for: PlanFor) -> None:
    assert plan_for("name: r\nsettings:\n  statement_timeout: null\n").changes == ()

    pg.sql("ALTER SYSTEM SET statement_timeout = '30s'")
    pg.sql("SELECT pg_reload_conf()")
    plan = plan_for("name: r\nsettings:\n  statement_timeout: null\n")
    [change] = plan.changes
    assert (change.action, change.before, change.after) == ("delete", "30s", "0")
    assert change.statements[0].sql == 'ALTER SYSTEM RESET "statement_timeout"'
    pg.apply(plan)
    assert "statement_timeout" not in pg.auto_conf()
    assert pg.show("statement_timeout") == "0"
    assert plan_for("name: r\nsettings:\n  statement_timeout: null\n").changes == ()


def test_written_but_not_reloaded_is_an_update_that_reloads(pg: Server, plan_for: PlanFor) -> None:
    pg.sql("ALTER SYSTEM SET work_mem = '48MB'")  # no reload
    plan = plan_for("name: w\nsettings:\n  work_mem: 48MB\n")
    [change] = plan.changes
    assert change.note == "written to the configuration files but not reloaded"
    pg.apply(plan)
    assert pg.show("work_mem") == "48MB"
    assert plan_for("name: w\nsettings:\n  work_mem: 48MB\n").changes == ()


def test_list_settings_are_written_element_by_element(pg: Server, plan_for: PlanFor) -> None:
    profile = "name: l\nsettings:\n  shared_preload_libraries: [plpgsql]\n  search_path: app, public\n"
    plan = plan_for(profile)
    sql = {c.object: c.statements[0].sql for c in plan.changes}
    assert sql["shared_preload_libraries"] == "ALTER SYSTEM SET \"shared_preload_libraries\" = 'plpgsql'"
    assert sql["search_path"] == "ALTER SYSTEM SET \"search_path\" = 'app', 'public'"
    assert [h.code for h in next(c for c in plan.changes if c.object == "shared_preload_libraries").hazards] == [
        "STARTUP_RISK"
    ]
    pg.apply(plan)
    pg.restart()
    assert pg.show("shared_preload_libraries") == "plpgsql"
    assert pg.show("search_path") == "app, public"
    assert plan_for(profile).changes == ()


def test_database_and_role_scopes(pg: Server, plan_for: PlanFor) -> None:
    pg.sql("CREATE DATABASE pgtune_test_app")
    pg.sql("CREATE ROLE pgtune_test_app LOGIN")
    profile = """
        name: scoped
        databases:
          pgtune_test_app:
            settings: {work_mem: 32MB, random_page_cost: '1.5', jit: 'off'}
        roles:
          pgtune_test_app:
            settings: {statement_timeout: 30s, search_path: [app, public]}
    """
    plan = plan_for(profile)
    assert objects(plan) == {
        "database:pgtune_test_app/jit": ("update", None, "off"),
        "database:pgtune_test_app/random_page_cost": ("update", None, "1.5"),
        "database:pgtune_test_app/work_mem": ("update", None, "32MB"),
        "role:pgtune_test_app/search_path": ("update", None, "app, public"),
        "role:pgtune_test_app/statement_timeout": ("update", None, "30s"),
    }
    assert not plan.reload_required
    pg.apply(plan)
    assert pg.db_role_settings() == {
        "database:pgtune_test_app": ["jit=off", "random_page_cost=1.5", "work_mem=32MB"],
        "role:pgtune_test_app": ["search_path=app, public", "statement_timeout=30s"],
    }
    with psycopg.connect(pg.cluster.dsn("pgtune_test_app", "pgtune_test_app")) as conn:
        assert conn.execute("SHOW work_mem").fetchone() == ("32MB",)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("30s",)
    assert plan_for(profile).changes == ()

    # Another spelling is no change; null resets; a new value updates.
    pg.sql("ALTER DATABASE pgtune_test_app SET work_mem = '32768kB'")
    later = plan_for(profile.replace("statement_timeout: 30s", "statement_timeout: null").replace("'1.5'", "'2'"))
    assert objects(later) == {
        "database:pgtune_test_app/random_page_cost": ("update", "1.5", "2"),
        "role:pgtune_test_app/statement_timeout": ("delete", "30s", None),
    }
    pg.apply(later)
    assert "statement_timeout=30s" not in pg.db_role_settings()["role:pgtune_test_app"]


def test_custom_settings_of_unloaded_modules(pg: Server, plan_for: PlanFor) -> None:
    """Per database, an unknown dotted setting is a placeholder (flagged as unverified)."""
    profile = "name: p\ndatabases:\n  postgres:\n    settings:\n      myapp.feature_flag: 'on'\n"
    [change] = plan_for(profile).changes
    assert [h.code for h in change.hazards] == ["UNVERIFIED_SETTING"]
    pg.apply(plan_for(profile))
    assert pg.db_role_settings()["database:postgres"] == ["myapp.feature_flag=on"]
    assert plan_for(profile).changes == ()


def test_custom_settings_server_wide_need_their_module_before_17(
    pg: Server, write_profile: Callable[..., Path]
) -> None:
    path = write_profile("name: p\nsettings:\n  myapp.feature_flag: 'on'\n")
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        if int(pg.version) >= 17:  # ALTER SYSTEM takes a custom setting whose module is not loaded
            plan = build_plan(conn, load_profile(path))
            assert [h.code for c in plan.changes for h in c.hazards] == ["UNVERIFIED_SETTING"]
            return
        with pytest.raises(PgtuneError, match="its module is not loaded, and before PostgreSQL 17"):
            build_plan(conn, load_profile(path))


# --- validation against the server: every error, positioned, nothing executed -----------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("settings:\n  shared_bufers: 1GB\n", "3:3: unknown setting 'shared_bufers'; did you mean 'shared_buffers'"),
        ("settings:\n  shared_buffers: 8kB\n", "3:19: shared_buffers = '8kB' is outside the valid range 128kB .. "),
        ("settings:\n  work_mem: 10 GB x\n", '3:13: work_mem: invalid value "10 GB x": garbage after the unit'),
        ("settings:\n  work_mem: 64mb\n", '3:13: work_mem: invalid unit "mb". Valid units for this parameter are'),
        ("settings:\n  jit: maybe\n", "3:8: jit requires a Boolean value"),
        (
            "settings:\n  wal_level: verbose\n",
            "3:14: invalid value 'verbose' for wal_level; allowed values: minimal, replica, logical",
        ),
        ("settings:\n  block_size: 16384\n", "3:3: block_size is read-only"),
        ("settings:\n  random_page_cost: cheap\n", '3:21: random_page_cost: invalid value "cheap": not a number'),
        ("settings:\n  shared_preload_libraries: []\n", "3:29: shared_preload_libraries: an empty list"),
        (
            "databases:\n  postgres:\n    settings: {shared_buffers: 1GB}\n",
            "4:16: shared_buffers cannot be set per database: it is a postmaster setting",
        ),
        ("databases:\n  nodb:\n    settings: {work_mem: 1GB}\n", "4:16: unknown database 'nodb'"),
        (
            "roles:\n  postgress:\n    settings: {work_mem: 1GB}\n",
            "4:16: unknown role 'postgress'; did you mean 'postgres'?",
        ),
        ("settings:\n  work_mem: 1MB\n  WORK_MEM: 2MB\n", "4:3: setting 'WORK_MEM' is declared twice"),
    ],
)
def test_invalid_profiles_are_refused_with_positions_and_run_no_sql(
    pg: Server, write_profile: Callable[..., Path], body: str, expected: str
) -> None:
    path = write_profile("name: bad\n" + body)
    before = (pg.auto_conf(), pg.db_role_settings())
    position = pg.log_position()
    with (
        pytest.raises(PgtuneError) as info,
        psycopg.connect(pg.dsn, autocommit=True, application_name="pgtune") as conn,
    ):
        build_plan(conn, load_profile(path))
    assert any(line.startswith(f"{path}:{expected}") for line in info.value.lines()), info.value.lines()
    assert (pg.auto_conf(), pg.db_role_settings()) == before
    pg.assert_only_reads_since(position)


def test_several_problems_are_reported_together(pg: Server, write_profile: Callable[..., Path]) -> None:
    path = write_profile("name: bad\nsettings:\n  work_mem: lots\n  shared_bufers: 1GB\n  jit: 2\n")
    with pytest.raises(PgtuneError) as info, psycopg.connect(pg.dsn, autocommit=True) as conn:
        build_plan(conn, load_profile(path))
    assert [line.split(": ", 1)[0].rsplit(":", 2)[1] for line in info.value.lines()] == ["3", "4", "5"]


def test_a_role_without_privileges_is_refused_before_anything_runs(
    pg: Server, write_profile: Callable[..., Path]
) -> None:
    pg.sql("CREATE ROLE pgtune_test_weak LOGIN")
    pg.sql("CREATE ROLE pgtune_test_other LOGIN")
    path = write_profile("""
        name: weak
        settings:
          work_mem: 64MB
        databases:
          postgres: {settings: {work_mem: 8MB}}
        roles:
          pgtune_test_other: {settings: {work_mem: 8MB}}
    """)
    with (
        pytest.raises(PgtuneError) as info,
        psycopg.connect(pg.cluster.dsn(user="pgtune_test_weak"), autocommit=True) as conn,
    ):
        build_plan(conn, load_profile(path))
    text = "\n".join(info.value.lines())
    assert "may not read pg_file_settings" in text
    assert "may not change work_mem with ALTER SYSTEM" in text
    assert "may not ALTER DATABASE postgres" in text
    assert "may not ALTER ROLE pgtune_test_other" in text
