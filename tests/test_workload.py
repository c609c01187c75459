"""Workload recommendations: the values le0pard's PGTune computes for the same inputs (Linux).

Cases marked (PGTune test) are the expectations of PGTune's own test suite
(src/features/configuration/__tests__/configurationSlice.test.js); the full profiles were worked
through its formulas by hand, step by step in the comments."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgtune.base.errors import ProfileError, ProfileErrors
from pgtune.kinds.engine import build_plan
from pgtune.profile.loader import load_profile
from pgtune.profile.workload import Workload, format_kb, host_cpus, host_memory_bytes, recommend
from tests.conftest import CliResult, Server

GB = 2**30


def rec(
    type_: str,
    gb: float,
    cpus: int | None = None,
    storage: str = "ssd",
    connections: int | None = None,
    pg: int = 16,
    db_size: str = "around_ram",
) -> dict[str, str]:
    return recommend(Workload(type_, int(gb * GB), cpus, storage, connections, pg, db_size)).settings


FULL_CASES = [
    (
        # web, 16GB, 8 CPUs, SSD, PG 16: work_mem = (16GB - 4GB) / ((200 + 8) * 3) = 20164.9 kB
        ("web", 16, 8, "ssd", None, 16),
        {
            "max_connections": "200",
            "shared_buffers": "4GB",
            "effective_cache_size": "12GB",
            "maintenance_work_mem": "1GB",
            "checkpoint_completion_target": "0.9",
            "wal_buffers": "16MB",
            "default_statistics_target": "100",
            "random_page_cost": "1.1",
            "effective_io_concurrency": "200",
            "work_mem": "20164kB",
            "huge_pages": "try",
            "jit": "off",
            "wal_compression": "lz4",
            "min_wal_size": "1GB",
            "max_wal_size": "4GB",
            "max_worker_processes": "8",
            "max_parallel_workers_per_gather": "4",
            "max_parallel_workers": "8",
            "max_parallel_maintenance_workers": "4",
        },
    ),
    (
        # oltp, 64GB, 16 CPUs, NVMe, PG 15: work_mem = 48GB / ((300 + 16) * 3) = 53092.5 kB; 16 CPUs -> 4 av
        # workers; maintenance 4GB >= 2GB -> autovacuum_work_mem 2GB
        ("oltp", 64, 16, "nvme", None, 15),
        {
            "max_connections": "300",
            "shared_buffers": "16GB",
            "effective_cache_size": "48GB",
            "maintenance_work_mem": "4GB",
            "checkpoint_completion_target": "0.9",
            "wal_buffers": "16MB",
            "default_statistics_target": "100",
            "random_page_cost": "1.1",
            "effective_io_concurrency": "1000",
            "work_mem": "53092kB",
            "huge_pages": "try",
            "jit": "off",
            "wal_compression": "lz4",
            "autovacuum_max_workers": "4",
            "autovacuum_work_mem": "2GB",
            "min_wal_size": "2GB",
            "max_wal_size": "8GB",
            "max_worker_processes": "16",
            "max_parallel_workers_per_gather": "4",
            "max_parallel_workers": "16",
            "max_parallel_maintenance_workers": "4",
        },
    ),
    (
        # dw, 128GB, 32 CPUs, HDD, PG 14: maintenance 16GB capped at 8GB; work_mem = 96GB / ((40 + 32) * 3) / 2
        # = 233016.9 kB; gather workers not capped for dw (16); pglz before 15; no jit line for dw
        ("dw", 128, 32, "hdd", None, 14),
        {
            "max_connections": "40",
            "shared_buffers": "32GB",
            "effective_cache_size": "96GB",
            "maintenance_work_mem": "8GB",
            "checkpoint_completion_target": "0.9",
            "wal_buffers": "16MB",
            "default_statistics_target": "500",
            "random_page_cost": "4",
            "effective_io_concurrency": "2",
            "work_mem": "233016kB",
            "huge_pages": "try",
            "wal_compression": "on",
            "autovacuum_max_workers": "5",
            "autovacuum_work_mem": "2GB",
            "min_wal_size": "4GB",
            "max_wal_size": "16GB",
            "max_worker_processes": "32",
            "max_parallel_workers_per_gather": "16",
            "max_parallel_workers": "32",
            "max_parallel_maintenance_workers": "4",
        },
    ),
    (
        # desktop, 8GB, 2 CPUs, PG 16: shared_buffers RAM/16 = 512MB; wal_buffers 15728 kB rounds up to 16MB;
        # work_mem = 7.5GB / ((20 + 8) * 3) / 6 = 15603.8 kB; no parallel settings under 4 CPUs
        ("desktop", 8, 2, "ssd", None, 16),
        {
            "max_connections": "20",
            "shared_buffers": "512MB",
            "effective_cache_size": "2GB",
            "maintenance_work_mem": "512MB",
            "checkpoint_completion_target": "0.9",
            "wal_buffers": "16MB",
            "default_statistics_target": "100",
            "random_page_cost": "1.1",
            "effective_io_concurrency": "200",
            "work_mem": "15603kB",
            "huge_pages": "off",
            "wal_compression": "lz4",
            "min_wal_size": "100MB",
            "max_wal_size": "2GB",
            "wal_level": "minimal",
            "max_wal_senders": "0",
        },
    ),
    (
        # mixed, 4GB, CPUs unknown, SAN, PG 13: work_mem = 3GB / ((100 + 8) * 3) / 2 = 4854.5 kB
        ("mixed", 4, None, "san", None, 13),
        {
            "max_connections": "100",
            "shared_buffers": "1GB",
            "effective_cache_size": "3GB",
            "maintenance_work_mem": "256MB",
            "checkpoint_completion_target": "0.9",
            "wal_buffers": "16MB",
            "default_statistics_target": "100",
            "random_page_cost": "1.1",
            "effective_io_concurrency": "300",
            "work_mem": "4854kB",
            "huge_pages": "off",
            "jit": "off",
            "wal_compression": "on",
            "min_wal_size": "1GB",
            "max_wal_size": "4GB",
        },
    ),
]


@pytest.mark.parametrize(("inputs", "expected"), FULL_CASES, ids=[c[0][0] for c in FULL_CASES])
def test_full_recommendations_match_pgtune(inputs: tuple, expected: dict[str, str]) -> None:
    assert rec(*inputs) == expected


@pytest.mark.parametrize(
    ("inputs", "name", "value"),
    [
        ((("web", 4), {"connections": 9999, "cpus": 4, "pg": 15}), "work_mem", "4MB"),  # PGTune test: 4MB floor
        ((("web", 256), {"pg": 17}), "maintenance_work_mem", "8GB"),  # PGTune test: 8GB cap
        ((("web", 16), {"pg": 15}), "maintenance_work_mem", "1GB"),  # PGTune test
        ((("web", 4), {"pg": 15}), "huge_pages", "off"),  # PGTune test
        ((("web", 16), {"pg": 15}), "huge_pages", "try"),  # PGTune test
        ((("web", 256), {"pg": 15}), "autovacuum_work_mem", "2GB"),  # PGTune test
        ((("oltp", 2), {"cpus": 1}), "work_mem", "4MB"),  # 1.5GB / 924 = 1702 kB < 4MB floor
        ((("oltp", 2), {"cpus": 1}), "maintenance_work_mem", "128MB"),
        ((("web", 16), {"cpus": 8, "db_size": "less_than_ram"}), "work_mem", "26213kB"),  # 20164 x 1.3
        ((("web", 16), {"cpus": 8, "db_size": "more_than_ram"}), "work_mem", "18147kB"),  # 20164.9 -> 20164 x 0.9
        ((("web", 16), {"storage": "hdd", "db_size": "less_than_ram"}), "random_page_cost", "1.1"),
        ((("dw", 16), {"storage": "ssd"}), "random_page_cost", "4"),  # warehouse larger than RAM
        ((("dw", 16), {"storage": "ssd", "db_size": "less_than_ram"}), "random_page_cost", "1.1"),
        ((("web", 16), {"cpus": 16, "pg": 18}), "io_workers", "4"),
        ((("web", 16), {"cpus": 16, "pg": 18}), "io_method", "io_uring"),
    ],
)
def test_single_values_match_pgtune(inputs: tuple, name: str, value: str) -> None:
    (type_, gb), kwargs = inputs
    assert rec(type_, gb, **kwargs)[name] == value


def test_parallel_settings_match_pgtune_tests() -> None:
    twelve = rec("web", 16, cpus=12, pg=13)
    assert [
        twelve[k]
        for k in (
            "max_worker_processes",
            "max_parallel_workers_per_gather",
            "max_parallel_workers",
            "max_parallel_maintenance_workers",
        )
    ] == ["12", "4", "12", "4"]
    assert rec("dw", 16, cpus=31, pg=12)["max_parallel_workers_per_gather"] == "16"
    assert "max_worker_processes" not in rec("web", 16, cpus=3)
    assert "autovacuum_max_workers" not in rec("web", 16, cpus=8)
    assert "jit" not in rec("dw", 16) and "jit" not in rec("web", 16, pg=11)
    assert "io_method" not in rec("web", 16, cpus=16, pg=17)


@given(st.integers(min_value=0, max_value=2**40))
def test_format_kb_is_exact(kb: int) -> None:
    text = format_kb(kb)
    factor = {"GB": 2**20, "MB": 2**10, "kB": 1}[text[-2:]]
    assert int(text[:-2]) * factor == kb


@given(
    st.sampled_from(["web", "oltp", "dw", "desktop", "mixed"]),
    st.integers(1, 512),
    st.one_of(st.none(), st.integers(1, 128)),
    st.sampled_from(["ssd", "nvme", "hdd", "san"]),
    st.integers(13, 17),
)
def test_recommendations_are_always_valid_postgresql_values(
    type_: str, gb: int, cpus: int | None, storage: str, pg: int
) -> None:
    r = rec(type_, gb, cpus, storage, pg=pg)
    assert r["work_mem"] and int(r["work_mem"].rstrip("kBMG")) > 0
    kb = {"GB": 2**20, "MB": 2**10, "kB": 1}
    work_mem = int(r["work_mem"][:-2]) * kb[r["work_mem"][-2:]]
    assert work_mem >= 4096
    maintenance = int(r["maintenance_work_mem"][:-2]) * kb[r["maintenance_work_mem"][-2:]]
    assert maintenance <= 8 * 2**20


def test_host_detection_reads_this_machine() -> None:
    assert host_memory_bytes() > 256 * 2**20
    assert host_cpus() >= 1


def test_recommend_cli_formats(cli: Callable[..., CliResult]) -> None:
    import json

    out = cli("recommend", "--type", "oltp", "--memory", "16GB", "--cpus", "8", "--storage", "ssd", "--format", "json")
    assert out.code == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["settings"]["work_mem"] == "13617kB"  # 12GB / ((300 + 8) * 3)
    assert set(doc["reasons"]) == set(doc["settings"])
    conf = cli("recommend", "--type", "web", "--memory", "16GB", "--format", "conf")
    assert "\nshared_buffers = 4GB" in conf.stdout and "PostgreSQL 18" in conf.stdout
    yaml = cli("recommend", "--type", "web", "--memory", "16GB", "--cpus", "8")
    assert "  work_mem: 20164kB" in yaml.stdout and "# (RAM - shared_buffers)" in yaml.stdout
    bad = cli("recommend", "--type", "web", "--memory", "lots")
    assert bad.code == 1 and "--memory" in bad.stderr


# --- workload: in a profile, on real servers ---------------------------------------------------


def test_workload_layer_with_provenance_applies_and_replans_empty(
    pg: Server, write_profile: Callable[..., Path], cli: Callable[..., CliResult]
) -> None:
    path = write_profile(
        """
        name: tuned
        workload: {type: oltp, memory: 2GB, cpus: 4, storage: ssd, connections: 50}
        settings:
          work_mem: 16MB            # explicit wins over the derived value
          max_connections: 60       # keep the test server's (a restart would be needed otherwise)
        """
    )
    with psycopg.connect(pg.dsn, autocommit=True, application_name="pgtune") as conn:
        plan = build_plan(conn, load_profile(path))
    by_object = {c.object: c for c in plan.changes}
    assert by_object["work_mem"].source == "settings" and by_object["work_mem"].after == "16MB"
    assert by_object["effective_cache_size"].source == "workload"
    assert by_object["effective_cache_size"].after == "1536MB"
    has_lz4 = pg.one("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'wal_compression'")
    assert by_object["wal_compression"].after == ("lz4" if has_lz4 else "pglz")  # no --with-lz4: on = pglz
    assert "max_connections" not in by_object
    text = cli("plan", str(path), "--dsn", pg.dsn)
    assert "~ setting effective_cache_size: 4GB -> 1536MB  [from workload]" in text.stdout
    pg.apply(plan)
    with psycopg.connect(pg.dsn, autocommit=True, application_name="pgtune") as conn:
        again = build_plan(conn, load_profile(path))
    assert not again.changes, [c.object for c in again.changes]


def test_workload_pg_version_defaults_to_the_server_and_errors_name_the_source(
    pg: Server, write_profile: Callable[..., Path]
) -> None:
    path = write_profile("name: w\nworkload: {type: web, memory: 2GB, pg_version: 18, cpus: 16}\n")
    if int(pg.version) < 18:  # io_method is PostgreSQL 18's: derived for 18, unknown to the server
        with psycopg.connect(pg.dsn, autocommit=True) as conn, pytest.raises((ProfileError, ProfileErrors)) as excinfo:
            build_plan(conn, load_profile(path))
        assert "unknown setting 'io_method'" in str(excinfo.value)
        assert "derived from workload:; set it under settings: to override" in str(excinfo.value)
    else:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            derived = build_plan(conn, load_profile(path))
        assert any(c.source == "workload" for c in derived.changes)  # io_method known: no error (its derived
        # value may equal the server's worker default, then it is no change)
    auto = write_profile("name: w\nworkload: {type: web, memory: auto, cpus: auto}\n", name="auto.yaml")
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        plan = build_plan(conn, load_profile(auto))  # 127.0.0.1: pgtune runs on the database host
    assert any(c.object == "shared_buffers" and c.source == "workload" for c in plan.changes)
