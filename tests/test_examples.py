"""The shipped examples stay true: compose.yaml's wiring matches its profile, the seed script runs,
and the compose profile plans against the example schema."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from ruamel.yaml import YAML

from pgtune.kinds.engine import build_plan
from pgtune.profile.loader import load_profile
from tests.conftest import REPO, Server

COMPOSE = REPO / "compose.yaml"
COMPOSE_PROFILE = REPO / "examples" / "letta" / "letta-compose.yaml"


def _compose() -> dict:
    return YAML(typ="safe").load(COMPOSE.read_text())


def test_compose_services_and_health_wiring() -> None:
    doc = _compose()
    services = doc["services"]
    assert set(services) == {
        "db",
        "pgbouncer",
        "pgtune",
        "letta",
        "postgres-exporter",
        "pgtune-metrics",
        "node-exporter",
        "prometheus",
    }
    assert "--format openmetrics" in services["pgtune-metrics"]["command"]
    assert "pgvector" in services["db"]["image"]
    for name in ("db", "pgbouncer"):
        assert services[name]["healthcheck"]["test"]
    assert services["pgtune"]["depends_on"]["db"] == {"condition": "service_healthy"}
    assert services["pgtune"]["depends_on"]["pgbouncer"] == {"condition": "service_healthy"}
    assert services["letta"]["depends_on"]["pgtune"] == {"condition": "service_completed_successfully"}
    assert services["pgtune"]["restart"] == "no"
    command = services["pgtune"]["command"]
    profile = re.search(r"pgtune apply (\S+)", command).group(1)  # type: ignore[union-attr]
    assert (REPO / profile).resolve() == COMPOSE_PROFILE.resolve()
    assert "--yes" in command


def test_compose_holds_no_password() -> None:
    """Every password and DSN comes from the environment (${POSTGRES_PASSWORD:?...}), never the file."""
    checked = 0
    for service in _compose()["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key or "://" in str(value):
                assert "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}" in str(value), (key, value)
                checked += 1
    assert checked >= 5


def test_compose_environment_matches_the_profile() -> None:
    services = _compose()["services"]
    pool = load_profile(COMPOSE_PROFILE, env={}).profile.pool
    assert pool is not None and pool.application is not None and pool.pgbouncer is not None
    letta = services["letta"]["environment"]
    assert letta["LETTA_DISABLE_SQLALCHEMY_POOLING"] == "false"
    assert int(letta["LETTA_PG_POOL_SIZE"]) == pool.application.pool_size
    assert int(letta["LETTA_PG_MAX_OVERFLOW"]) == pool.application.max_overflow
    assert float(letta["LETTA_PG_POOL_TIMEOUT"]) == pool.application.pool_timeout
    assert float(letta["LETTA_PG_POOL_RECYCLE"]) == pool.application.pool_recycle
    assert "@pgbouncer:" in letta["LETTA_PG_URI"] and pool.application.through == "pgbouncer"
    bouncer = services["pgbouncer"]["environment"]
    for key, value in pool.pgbouncer.settings.items():
        assert str(bouncer[key.upper()]) == value, key


@pytest.fixture
def example_schema(letta_example: Server) -> Iterator[Server]:
    yield letta_example


def test_compose_profile_plans_with_its_capacity_numbers(
    example_schema: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGTUNE_PGBOUNCER_DSN", raising=False)
    with psycopg.connect(example_schema.dsn, autocommit=True) as conn:
        # the compose stack's image ships contrib; pgserver's 16 does not
        overrides = ["settings.shared_preload_libraries=null"] if example_schema.version == "16" else []
        plan = build_plan(conn, load_profile(COMPOSE_PROFILE, overrides, env={}))
    capacity = {c.code: c for c in plan.checks}["POOL_CAPACITY"]
    assert capacity.status == "ok"
    assert capacity.numbers["application_peak"] == 35 and capacity.numbers["server_demand"] == 40


def test_seed_script_fills_the_example_schema(example_schema: Server) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "letta" / "seed.py"),
            "--dsn",
            example_schema.dsn,
            "--messages",
            "3000",
            "--agents",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    counts = example_schema.sql(
        "SELECT count(*), count(DISTINCT agent_id), count(*) FILTER (WHERE is_err) FROM letta.messages"
    )
    total, agents, errors = counts[0]
    assert total == 3000 and agents == 20 and 0 < errors < 300
