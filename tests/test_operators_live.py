"""A CloudNativePG manifest converged end to end on a real PostgreSQL 15, with a behaviour fake of the
operator's mechanism (no Kubernetes here): the fake renders the manifest's parameters — with the
operator's defaults, and the libraries its managed extensions preload — into an included
custom.conf, reloads, and restarts when a setting is pending, as CloudNativePG rolls an instance.
plan (settings against the manifest, storage and an index over SQL in the same plan) → apply (the
file edited) → the plan says what waits for the rollout → fake rollout → re-plan empty."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pgtune.integrations.sandbox import LocalCluster
from pgtune.targets.operators import manifest as manifests
from pgtune.targets.operators.rules import CNPG
from tests.conftest import CliResult, _bindir, _timed

Cli = Callable[..., CliResult]
FAKE_DEFAULTS = {  # CloudNativePG's global defaults that make sense on one local server
    "wal_level": "logical",
    "wal_log_hints": "on",
    "max_worker_processes": "32",
    "max_parallel_workers": "32",
    "max_replication_slots": "32",
    "wal_keep_size": "512MB",
    "archive_timeout": "5min",
    "full_page_writes": "on",
}
MANIFEST = """\
# shop-db: reviewed in Git, synced by Argo CD
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: shop-db
spec:
  instances: 3
  imageName: ghcr.io/cloudnative-pg/postgresql:15.8
  postgresql:
    parameters:
      max_connections: "100"      # the app's pools
      work_mem: "4MB"
      log_min_duration_statement: "1s"   # slow queries
  storage:
    size: 20Gi
"""
PROFILE = """\
name: shop
settings:
  max_connections: 150                 # restart
  work_mem: 32MB                       # reload
  pg_stat_statements.track: all        # CloudNativePG preloads pg_stat_statements for it: restart
  log_min_duration_statement: null     # removed from the manifest
tables:
  public.orders:
    storage:
      fillfactor: 90
    indexes:
      orders_customer_idx: {columns: [customer_id]}
"""


def rollout(cluster: LocalCluster, path: Path) -> bool:
    """What CloudNativePG does with the manifest: custom.conf = defaults + parameters (+ the managed
    libraries), a reload, and a restart when a setting waits for one. True when it restarted."""
    parameters = manifests.read(path, "cnpg").parameters
    conf = {**FAKE_DEFAULTS, **parameters}
    libraries = sorted({k.split(".", 1)[0] for k in parameters if k.split(".", 1)[0] in CNPG.managed_libraries})
    conf["shared_preload_libraries"] = ",".join(libraries)
    lines = [f"{k} = '{v.replace(chr(39), chr(39) * 2)}'" for k, v in conf.items()]
    (cluster.data / "custom.conf").write_text("\n".join(lines) + "\n")
    with cluster.connect() as conn:
        conn.execute("SELECT pg_reload_conf()")
    from pgtune.base.poll import poll

    def reloaded() -> bool:
        with cluster.connect() as conn:
            row = conn.execute("SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE '%custom.conf'").fetchone()
            return bool(row and row[0] >= len(conf))

    poll(reloaded, 10, interval=0.05)
    with cluster.connect() as conn:
        pending = conn.execute("SELECT bool_or(pending_restart) FROM pg_settings").fetchone()
    if pending and pending[0]:
        cluster.restart()
        return True
    return False


@pytest.fixture(scope="module")
def server() -> Iterator[LocalCluster]:
    cluster = LocalCluster(_bindir("15"))
    try:
        with _timed("cnpg fake 15"):
            cluster.init()
            with (cluster.data / "postgresql.conf").open("a") as fh:
                fh.write("\ninclude_if_exists = 'custom.conf'\n")
            cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.mark.server
def test_a_cnpg_manifest_converges_through_the_operators_rollout(
    server: LocalCluster, tmp_path: Path, cli: Cli
) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(MANIFEST)
    rollout(server, path)
    with server.connect() as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric)")
        conn.execute("INSERT INTO orders SELECT g, g % 100, g FROM generate_series(1, 1000) g")
    profile = tmp_path / "shop.yaml"
    profile.write_text(PROFILE)
    dsn = server.dsn()

    bad = tmp_path / "bad.yaml"
    bad.write_text(PROFILE.replace("  work_mem: 32MB ", "  listen_addresses: '*'\n  work_mem: 32MB "))
    refused = cli("apply", str(bad), "--cnpg-cluster", str(path), "--dsn", dsn, "--yes")
    assert refused.code == 1 and "bad.yaml:4:3: listen_addresses: blocked by CloudNativePG" in refused.stderr
    assert path.read_text() == MANIFEST

    plan = json.loads(cli("plan", str(profile), "--cnpg-cluster", str(path), "--dsn", dsn, "--format", "json").stdout)
    store = {c["address"]["name"]: c for c in plan["manifest"]["changes"]}
    assert set(store) == {"max_connections", "work_mem", "pg_stat_statements.track", "log_min_duration_statement"}
    assert store["max_connections"]["restart_required"] and not store["work_mem"]["restart_required"]
    assert "adds pg_stat_statements to shared_preload_libraries" in store["pg_stat_statements.track"]["note"]
    sql = [(c["kind"], c["address"]["name"]) for c in plan["nodes"][0]["changes"]]
    assert sql == [("storage", "orders"), ("index", "orders_customer_idx")]  # no ALTER SYSTEM: the manifest is the way
    assert "CloudNativePG restarts the instances itself" in plan["cluster"]["restart_reason"]

    applied = cli("apply", str(profile), "--cnpg-cluster", str(path), "--dsn", dsn, "--yes")
    assert applied.code == 0, applied.stdout + applied.stderr
    text = path.read_text()
    assert '      max_connections: "150"      # the app\'s pools\n' in text and "log_min_duration_statement" not in text
    assert text.startswith("# shop-db: reviewed in Git, synced by Argo CD\n") and "    size: 20Gi\n" in text
    with server.connect() as conn:
        assert conn.execute("SELECT reloptions FROM pg_class WHERE relname = 'orders'").fetchone() == (
            ["fillfactor=90"],
        )
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_customer_idx'").fetchone() == (
            1,
        )
        # pgtune wrote nothing to the server's configuration: the operator does
        assert conn.execute("SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE '%auto.conf'").fetchone() == (
            0,
        )

    waiting = cli("plan", str(profile), "--cnpg-cluster", str(path), "--dsn", dsn, "--detailed-exitcode")
    assert waiting.code == 0, waiting.stdout  # nothing left to change: the manifest says it all ...
    assert "NOT_RUNNING work_mem: declared 32MB in the manifest, but the server runs 4MB" in waiting.stdout  # ... yet

    assert rollout(server, path) is True  # max_connections and the new library: the operator restarts
    with server.connect() as conn:
        assert conn.execute("SHOW shared_preload_libraries").fetchone() == ("pg_stat_statements",)
        assert conn.execute("SHOW max_connections").fetchone() == ("150",)
    done = cli("plan", str(profile), "--cnpg-cluster", str(path), "--dsn", dsn, "--detailed-exitcode")
    assert done.code == 0, done.stdout + done.stderr
    assert "NOT_RUNNING" not in done.stdout and "WAITING_FOR_RESTART" not in done.stdout
