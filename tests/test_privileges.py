"""Privileges are checked at plan time, all at once, with positions: a least-privilege role
converges a profile within its rights and is refused one beyond them with nothing executed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_PREFIX, CliResult, Server

Cli = Callable[..., CliResult]
ROLE = TEST_PREFIX + "deployer"


@pytest.fixture
def deployer(pg: Server) -> Iterator[Server]:
    """PostgreSQL 15's least privilege: ALTER SYSTEM on one parameter, pg_reload_conf, reading the
    configuration files, and ownership of one of two tables."""
    pg.sql("DROP TABLE IF EXISTS public.mine, public.theirs")
    pg.sql(f"CREATE ROLE {ROLE} LOGIN")
    pg.sql(f"GRANT ALTER SYSTEM ON PARAMETER work_mem TO {ROLE}")
    pg.sql(f"GRANT EXECUTE ON FUNCTION pg_reload_conf() TO {ROLE}")
    pg.sql(f"GRANT EXECUTE ON FUNCTION pg_show_all_file_settings() TO {ROLE}")
    pg.sql(f"GRANT SELECT ON pg_file_settings TO {ROLE}")
    pg.sql("CREATE TABLE public.mine (id int, kind text); CREATE TABLE public.theirs (id int, kind text)")
    pg.sql(f"ALTER TABLE public.mine OWNER TO {ROLE}")
    pg.sql(f"GRANT CREATE ON SCHEMA public TO {ROLE}")  # an index is a new relation in the schema
    yield pg
    pg.sql(f"REVOKE CREATE ON SCHEMA public FROM {ROLE}")
    pg.sql("DROP TABLE IF EXISTS public.mine, public.theirs")


WITHIN = """
name: least
settings:
  work_mem: 24MB
tables:
  public.mine:
    storage: {fillfactor: 80}
    indexes:
      ix_mine_kind: {columns: [kind]}
"""

BEYOND = """
name: least
settings:
  work_mem: 24MB
  random_page_cost: 1.5
tables:
  public.mine:
    storage: {fillfactor: 80}
  public.theirs:
    storage: {fillfactor: 80}
    indexes:
      ix_theirs_kind: {columns: [kind]}
"""


def test_a_least_privilege_role_converges_within_its_rights(
    deployer: Server, cli: Cli, write_profile: Callable[..., Path]
) -> None:
    dsn = deployer.cluster.dsn(user=ROLE)
    profile = write_profile(WITHIN)
    deployer.sql(f"REVOKE CREATE ON SCHEMA public FROM {ROLE}")
    no_create = cli("apply", str(profile), "--dsn", dsn, "--yes")
    assert no_create.code == 1 and "public.mine: an index is a new relation in schema 'public'" in no_create.stderr
    assert deployer.auto_conf() == {}
    deployer.sql(f"GRANT CREATE ON SCHEMA public TO {ROLE}")
    applied = cli("apply", str(profile), "--dsn", dsn, "--yes")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert deployer.show("work_mem") == "24MB"
    assert deployer.one("SELECT reloptions FROM pg_class WHERE oid = 'public.mine'::regclass") == ["fillfactor=80"]
    assert deployer.one("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_mine_kind'") == 1
    again = cli("plan", str(profile), "--dsn", dsn, "--detailed-exitcode")
    assert again.code == 0, again.stdout + again.stderr


def test_a_profile_beyond_the_roles_rights_is_refused_at_plan(
    deployer: Server, cli: Cli, write_profile: Callable[..., Path]
) -> None:
    dsn = deployer.cluster.dsn(user=ROLE)
    profile = write_profile(BEYOND)
    position = deployer.log_position()
    refused = cli("apply", str(profile), "--dsn", dsn, "--yes")
    assert refused.code == 1, refused.stdout
    errors = refused.stderr.splitlines()
    assert f"{profile}:4:3: role '{ROLE}' may not change random_page_cost with ALTER SYSTEM" in refused.stderr
    assert any(
        line.startswith(f"{profile}:8:3: public.theirs: changing storage parameters needs the owner's rights")
        for line in errors
    ), errors
    assert any(line.startswith(f"{profile}:8:3: public.theirs: building and dropping its indexes") for line in errors)
    assert len(errors) == 3, errors  # all at once, nothing else
    deployer.assert_only_reads_since(position)  # no half-applied state: not even work_mem
    assert deployer.auto_conf() == {}
    assert deployer.one("SELECT reloptions FROM pg_class WHERE oid = 'public.mine'::regclass") is None
    # Without pg_reload_conf the settings would be written and never take effect: refused too.
    deployer.sql(f"REVOKE EXECUTE ON FUNCTION pg_reload_conf() FROM {ROLE}")
    no_reload = cli("plan", str(write_profile(WITHIN)), "--dsn", dsn)
    assert no_reload.code == 1
    assert f"role '{ROLE}' may not run pg_reload_conf(): 1 setting(s) would be written" in no_reload.stderr


def test_partitions_need_create_on_the_schema(deployer: Server, cli: Cli, write_profile: Callable[..., Path]) -> None:
    deployer.sql("CREATE SCHEMA pgtune_test_locked")
    try:
        deployer.sql(
            "CREATE TABLE pgtune_test_locked.ev (id int, at date NOT NULL) PARTITION BY RANGE (at); "
            f"ALTER TABLE pgtune_test_locked.ev OWNER TO {ROLE}; GRANT USAGE ON SCHEMA pgtune_test_locked TO {ROLE}"
        )
        profile = write_profile(
            "name: parts\ntables:\n  pgtune_test_locked.ev:\n"
            "    partitioning: {strategy: range, key: at, interval: 1 month, premake: 1}\n"
        )
        dsn = deployer.cluster.dsn(user=ROLE)
        refused = cli("plan", str(profile), "--dsn", dsn, "--as-of", "2026-11-24")
        assert refused.code == 1
        assert (
            f'role {ROLE!r} may not CREATE (GRANT CREATE ON SCHEMA "pgtune_test_locked" TO "{ROLE}")' in refused.stderr
        )
        deployer.sql(f"GRANT CREATE ON SCHEMA pgtune_test_locked TO {ROLE}")
        applied = cli("apply", str(profile), "--dsn", dsn, "--as-of", "2026-11-24", "--yes")
        assert applied.code == 0, applied.stdout + applied.stderr
        again = cli("plan", str(profile), "--dsn", dsn, "--as-of", "2026-11-24", "--detailed-exitcode")
        assert again.code == 0, again.stdout + again.stderr
    finally:
        deployer.sql("DROP SCHEMA pgtune_test_locked CASCADE")


READER = TEST_PREFIX + "reader"


def test_a_read_only_role_plans_for_the_deploy_role(
    deployer: Server, cli: Cli, write_profile: Callable[..., Path]
) -> None:
    """CI plans with a role that may only read; --privileges-of judges the deploy role's rights:
    what the deployer may do plans cleanly, what it may not is refused — naming the deployer."""
    deployer.sql(f"CREATE ROLE {READER} LOGIN IN ROLE pg_read_all_settings, pg_read_all_data")
    deployer.sql(f"GRANT EXECUTE ON FUNCTION pg_show_all_file_settings() TO {READER}")
    deployer.sql(f"GRANT SELECT ON pg_file_settings TO {READER}")
    reader_dsn = deployer.dsn.replace("user=postgres", f"user={READER}")
    within = write_profile(WITHIN)
    alone = cli("plan", str(within), "--dsn", reader_dsn)
    assert alone.code == 1 and f"role {READER!r} may not change work_mem with ALTER SYSTEM" in alone.stderr
    planned = cli("plan", str(within), "--dsn", reader_dsn, "--privileges-of", ROLE, "--format", "json")
    assert planned.code == 0, planned.stderr
    import json

    objects = {c["object"] for c in json.loads(planned.stdout)["changes"]}
    assert {"work_mem", "public.mine", "public.ix_mine_kind"} <= objects
    beyond = cli("plan", str(write_profile(BEYOND, name="beyond.yaml")), "--dsn", reader_dsn, "--privileges-of", ROLE)
    assert beyond.code == 1
    assert f"role {ROLE!r} may not change random_page_cost with ALTER SYSTEM" in beyond.stderr
    assert "public.theirs: changing storage parameters needs the owner's rights" in beyond.stderr
    unknown = cli("plan", str(within), "--dsn", reader_dsn, "--privileges-of", "no_such_role")
    assert unknown.code == 1 and "--privileges-of 'no_such_role': no such role" in unknown.stderr


def test_each_verdict_names_the_role_that_lacks_the_right(
    deployer: Server, cli: Cli, write_profile: Callable[..., Path]
) -> None:
    """What pgtune reads needs the connected role's rights; what the apply would do, the
    --privileges-of role's: each refusal names the one that lacks it, with the GRANT that fixes it."""
    deployer.sql(f"CREATE ROLE {READER} LOGIN IN ROLE pg_read_all_data")  # no pg_file_settings, no hidden settings
    reader_dsn = deployer.dsn.replace("user=postgres", f"user={READER}")
    refused = cli("plan", str(write_profile(BEYOND)), "--dsn", reader_dsn, "--privileges-of", ROLE)
    assert refused.code == 1
    assert (
        f"the connected role {READER!r} may not read pg_file_settings, which planning server-wide settings needs "
        f'(GRANT SELECT ON pg_file_settings TO "{READER}"; GRANT EXECUTE ON FUNCTION pg_show_all_file_settings() '
        f'TO "{READER}"' in refused.stderr
    ), refused.stderr
    assert "role 'postgres'" not in refused.stderr and f"role {ROLE!r} may not read" not in refused.stderr
    assert (
        f"role {ROLE!r} may not change random_page_cost with ALTER SYSTEM "
        f'(GRANT ALTER SYSTEM ON PARAMETER random_page_cost TO "{ROLE}"' in refused.stderr
    )
    assert (
        f"public.theirs: changing storage parameters needs the owner's rights on public.theirs: role {ROLE!r} does "
        f'not own it (GRANT "postgres" TO "{ROLE}", or apply as the owner)' in refused.stderr
    ), refused.stderr
    hidden = cli(
        "plan",
        str(write_profile("name: h\nsettings: {shared_preload_libraries: ''}\n", name="h.yaml")),
        "--dsn",
        reader_dsn,
        "--privileges-of",
        ROLE,
    )
    assert hidden.code == 1
    assert f"hidden from the connected role {READER!r}" in hidden.stderr
    assert f'GRANT pg_read_all_settings TO "{READER}"' in hidden.stderr, hidden.stderr
