"""Preload libraries are checked at plan: a missing one is an error naming it, never a restart that
fails. Path resolution as the server's dfmgr.c does it (pure), and real servers: Debian's 15 ships
pg_stat_statements, pgserver's 16 does not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from pgtune.base.errors import PgtuneError
from pgtune.kinds.engine import build_plan
from pgtune.kinds.settings.libraries import candidates
from pgtune.plan.hazards import gated_codes
from pgtune.profile.loader import load_profile
from tests.conftest import TEST_PREFIX, Server

LIB = "/usr/lib/postgresql/15/lib"


def test_candidates_follow_the_servers_search() -> None:
    assert candidates("pg_stat_statements", "shared_preload_libraries", "$libdir", LIB) == [
        f"{LIB}/pg_stat_statements",
        f"{LIB}/pg_stat_statements.so",
        f"{LIB}/pg_stat_statements.dylib",
    ]
    assert candidates("x", "shared_preload_libraries", "/opt/a:$libdir", LIB)[:2] == ["/opt/a/x", f"{LIB}/x"]
    assert candidates("$libdir/auto_explain", "session_preload_libraries", "$libdir", LIB)[0] == f"{LIB}/auto_explain"
    assert candidates("/abs/lib.so", "shared_preload_libraries", "$libdir", LIB)[0] == "/abs/lib.so"
    assert candidates("mine", "local_preload_libraries", "$libdir", LIB)[0] == f"{LIB}/plugins/mine"


def _plan(server: Server, path: Path, user: str = "postgres") -> object:
    with psycopg.connect(server.cluster.dsn(user=user), autocommit=True, application_name="pgtune") as conn:
        return build_plan(conn, load_profile(path))


def test_a_missing_library_is_a_plan_error(pg: Server, write_profile: Callable[..., Path]) -> None:
    path = write_profile("name: libs\nsettings:\n  shared_preload_libraries: [pg_stat_statements, no_such_lib]\n")
    position = pg.log_position()
    with pytest.raises(PgtuneError) as caught:
        _plan(pg, path)
    lines = caught.value.lines()
    assert any("library 'no_such_lib' is not installed on this server" in line for line in lines), lines
    assert all(line.startswith(f"{path}:3:29: shared_preload_libraries: ") for line in lines)
    assert any("the next restart would fail" in line for line in lines)
    shipped = any("'pg_stat_statements'" in line for line in lines)
    assert shipped == (pg.version == "16")  # pgserver's build has no contrib; Debian's has
    pg.assert_only_reads_since(position)


def test_an_installed_library_plans_and_the_restart_comes_up(pg: Server, write_profile: Callable[..., Path]) -> None:
    """Where the library is installed, the plan applies and the restarted server runs it."""
    library = "pg_stat_statements" if pg.version == "15" else "plpgsql"  # plpgsql.so: in every build
    path = write_profile(f"name: libs\nsettings:\n  shared_preload_libraries: [{library}]\n")
    plan = _plan(pg, path)
    assert [h.code for c in plan.changes for h in c.hazards] == ["STARTUP_RISK"]  # type: ignore[attr-defined]
    pg.apply(plan)  # type: ignore[arg-type]
    pg.restart()
    assert pg.show("shared_preload_libraries") == library
    assert _plan(pg, path).changes == ()  # type: ignore[attr-defined]


def test_a_role_that_may_not_look_gets_a_gated_hazard(pg: Server, write_profile: Callable[..., Path]) -> None:
    role = TEST_PREFIX + "libs"
    pg.sql(f"CREATE ROLE {role} LOGIN")
    pg.sql(f"GRANT ALTER SYSTEM ON PARAMETER shared_preload_libraries TO {role}")
    pg.sql(f"GRANT EXECUTE ON FUNCTION pg_show_all_file_settings() TO {role}")
    pg.sql(f"GRANT SELECT ON pg_file_settings TO {role}")
    pg.sql(f"GRANT pg_read_all_settings TO {role}")
    pg.sql(f"GRANT EXECUTE ON FUNCTION pg_reload_conf() TO {role}")
    path = write_profile("name: libs\nsettings:\n  shared_preload_libraries: [plpgsql]\n")
    plan = _plan(pg, path, user=role)
    assert gated_codes(plan) == ["UNVERIFIED_LIBRARY"]  # type: ignore[arg-type]
    pg.sql(f"GRANT pg_read_server_files TO {role}")
    assert gated_codes(_plan(pg, path, user=role)) == ["UNVERIFIED_LIBRARY"]  # type: ignore[arg-type]
    pg.sql(f"GRANT SELECT ON pg_config TO {role}")
    pg.sql(f"GRANT EXECUTE ON FUNCTION pg_config() TO {role}")
    pg.sql(f"GRANT EXECUTE ON FUNCTION pg_stat_file(text, boolean) TO {role}")
    assert gated_codes(_plan(pg, path, user=role)) == []  # type: ignore[arg-type]
