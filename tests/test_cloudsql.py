"""Cloud SQL for PostgreSQL as a target (issue 46), against a behaviour fake of its Admin API backed
by a real PostgreSQL 15 (tests/cloudsql_fake.py: google-api-python-client's own requests, from its
bundled discovery document). plan → apply (refused without --allow-hazards RESTARTS_NOW; then one
patch of the whole flag list, the unmanaged flag kept, the instance restarted by the service) →
re-plan empty: a dynamic and a static flag, a removed flag reset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pgtune.base.errors import ApplyRefused
from pgtune.integrations.sandbox import LocalCluster
from pgtune.profile.loader import load_profile
from pgtune.targets import sequence, workflow
from pgtune.targets.cloudsql.target import CloudSqlInstance

if TYPE_CHECKING:  # the fake loads httplib2: only the tests that run it import it
    from tests.cloudsql_fake import FakeCloudSql
from pgtune.targets.executor import ExecOptions
from tests.conftest import _bindir, _timed, run_cli

PROFILE = """\
name: shop
settings:
  work_mem: 64MB                      # dynamic
  max_connections: 150                # requires a restart: Cloud SQL restarts at once
  log_min_duration_statement: null    # out of the list: back to its default
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeCloudSql]:
    from tests.cloudsql_fake import FakeCloudSql

    cluster = LocalCluster(_bindir("15"))
    try:
        with _timed("cloudsql fake 15"):
            cluster.init().start()
        yield FakeCloudSql(cluster)
    finally:
        cluster.destroy()


def _target(fake: FakeCloudSql) -> CloudSqlInstance:
    from tests.cloudsql_fake import INSTANCE, PROJECT

    return CloudSqlInstance(f"{PROJECT}:{INSTANCE}", fake.cluster.dsn(), fake)


@pytest.mark.server
def test_plan_apply_replan_empty_through_the_cloud_sql_api(fake: FakeCloudSql, tmp_path: Path) -> None:
    fake._patch([{"name": "log_statement", "value": "ddl"}, {"name": "log_min_duration_statement", "value": "1000"}])
    profile = tmp_path / "shop.yaml"
    profile.write_text(PROFILE)
    inputs = workflow.Inputs(load_profile(profile))
    plan = sequence.preview(_target(fake), inputs)
    store = {c.address.name: c for c in plan.dcs.changes}
    assert set(store) == {"work_mem", "max_connections", "log_min_duration_statement"}
    assert store["work_mem"].after == "65536" and not store["work_mem"].hazards
    assert [h.code for h in store["max_connections"].hazards] == ["RESTARTS_NOW"]
    assert store["log_min_duration_statement"].action == "delete" and store["log_min_duration_statement"].after is None
    (kept,) = plan.dcs.notices
    assert kept.code == "FLAGS_KEPT" and "log_statement" in kept.message
    assert "Cloud SQL restarts the instance itself" in plan.restart_reason

    fake.requests.clear()
    with pytest.raises(ApplyRefused, match="--allow-hazards RESTARTS_NOW"):
        sequence.apply(_target(fake), inputs, ExecOptions())
    assert not [r for r in fake.requests if r[0] == "PATCH"]  # nothing sent

    done = sequence.apply(_target(fake), inputs, ExecOptions(), allowed={"RESTARTS_NOW"})
    assert not done.failed
    patches = [body for method, _, body in fake.requests if method == "PATCH"]
    assert patches == [
        {
            "settings": {
                "databaseFlags": [  # the whole list, the unmanaged flag kept
                    {"name": "log_statement", "value": "ddl"},
                    {"name": "work_mem", "value": "65536"},
                    {"name": "max_connections", "value": "150"},
                ]
            }
        }
    ]
    assert fake.restarts == 1
    with fake.cluster.connect() as conn:
        assert conn.execute("SHOW max_connections").fetchone() == ("150",)
        assert conn.execute("SHOW log_min_duration_statement").fetchone() == ("-1",)
    assert done.after is not None and done.after.empty
    assert sequence.preview(_target(fake), inputs).empty


@pytest.mark.server
def test_a_flag_cloud_sql_does_not_offer_or_allow_is_refused(fake: FakeCloudSql, tmp_path: Path) -> None:
    from pgtune.base.errors import PgtuneError

    profile = tmp_path / "bad.yaml"
    profile.write_text("name: bad\nsettings:\n  log_statement: all\n  shared_buffers: 1GB\n  max_connections: 5\n")
    with pytest.raises(PgtuneError) as raised:
        sequence.preview(_target(fake), workflow.Inputs(load_profile(profile)))
    text = str(raised.value)
    assert "bad.yaml:4:3: shared_buffers: not a parameter Cloud SQL lets users set" in text
    assert "bad.yaml:5:20: max_connections: 5 is outside the service's allowed 14-262143" in text


# --- offline: Cloud SQL's own flags (validate --service cloudsql) ---------------------------------------


def test_validate_checks_names_against_cloud_sqls_flags(tmp_path: Path) -> None:
    profile = tmp_path / "gcp.yaml"
    profile.write_text(
        "name: gcp\nsettings:\n  cloudsql.enable_pgaudit: 'on'\n  cloudsql.enable_pgaudti: 'on'\n"
        "  shared_preload_libraries: pg_stat_statements\n  wal_level: logical\n  pgaudit.log: ddl\n"
        "  azure.extensions: vector\n  work_mem: 64MB\n",
        encoding="utf-8",
    )
    result = run_cli("validate", str(profile), "--service", "cloudsql")
    assert result.code == 1, result
    err = result.stderr
    assert (
        "gcp.yaml:4:3: unknown parameter 'cloudsql.enable_pgaudti' on Cloud SQL for PostgreSQL (not in pgtune's "
        "bundled list of its flags); did you mean 'cloudsql.enable_pgaudit'" in err
    )
    assert "gcp.yaml:5:3: shared_preload_libraries cannot be set on Cloud SQL for PostgreSQL: Cloud SQL loads" in err
    assert "gcp.yaml:6:3: wal_level cannot be set on Cloud SQL for PostgreSQL: Cloud SQL sets it: use the " in err
    assert "gcp.yaml:8:3: unknown parameter 'azure.extensions' on Cloud SQL" in err
    for fine in (":3:", ":7:", ":9:"):  # its own flag, an extension's setting (left to the plan), PostgreSQL's
        assert f"gcp.yaml{fine}" not in err
    unknown = run_cli("validate", str(profile), "--service", "cloudsqll")
    assert unknown.code == 2 and "--service: no service 'cloudsqll'; one of: azure, cloudsql" in unknown.stderr


def test_cloud_sqls_bundled_list_names_real_postgresql_parameters() -> None:
    import json
    from importlib import resources

    from pgtune.kinds.offline import description

    data = json.loads(resources.files("pgtune.targets.cloudsql").joinpath("flags.json").read_text("utf-8"))
    assert [n for n in data["managed"] if n not in description(18).specs] == []
    assert all(n.startswith("cloudsql.") for n in data["service"]) and data["service"] == sorted(data["service"])
