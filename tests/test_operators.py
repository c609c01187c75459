"""Operator manifests as targets, offline (issue 45): CloudNativePG, Crunchy PGO and Zalando cluster
manifests planned from a profile, edited in place by apply — every comment and unrelated key byte for
byte — re-planned empty, and held to each operator's CRD schema (fetched from its repository into
tests/data/crds, version named); the keys each operator fixes are refused at the profile's
file:line:col with nothing written."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.conftest import REPO, CliResult

Cli = Callable[..., CliResult]
CRDS = REPO / "tests" / "data" / "crds"

CNPG = """\
# Our production cluster (reviewed in Git, synced by Argo CD)
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: shop-db   # the -rw service is shop-db-rw
spec:
  instances: 3
  imageName: ghcr.io/cloudnative-pg/postgresql:16.4
  primaryUpdateStrategy: unsupervised
  postgresql:
    parameters:
      max_connections: "200"     # sized for the app's pools
      work_mem: "16MB"           # per sort / hash
      shared_buffers: 1GB
      log_min_duration_statement: "1s"
    pg_hba:
      - host all all 10.0.0.0/8 scram-sha-256   # the cluster network
  storage:
    size: 20Gi
"""
PGO = """\
apiVersion: postgres-operator.crunchydata.com/v1beta1
kind: PostgresCluster
metadata:
  name: hippo
spec:
  postgresVersion: 16
  instances:
    - name: instance1
      replicas: 2
      dataVolumeClaimSpec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 1Gi}}
  backups:
    pgbackrest:
      repos:
        - name: repo1
          volume:
            volumeClaimSpec:
              accessModes: [ReadWriteOnce]
              resources: {requests: {storage: 1Gi}}
  config:
    parameters:
      max_connections: 200   # PGO takes int-or-string
      work_mem: 16MB
"""
ZALANDO = """\
apiVersion: "acid.zalan.do/v1"
kind: postgresql
metadata:
  name: acid-shop
spec:
  teamId: "acid"
  numberOfInstances: 2
  volume:
    size: 10Gi
  postgresql:
    version: "16"
    parameters:            # strings only (the CRD says so)
      shared_buffers: "256MB"
      work_mem: "16MB"
      log_statement: "ddl"   # audit DDL
"""
PROFILE = """\
name: shop
settings:
  work_mem: 64MB
  shared_buffers: 1024MB       # 1GB written another way: no change
  max_connections: 300
  log_min_duration_statement: null
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _validate(manifest: Path, crd: str) -> None:
    import jsonschema

    schema = json.loads((CRDS / crd).read_text())["openAPIV3Schema"]
    # The schema as Kubernetes reads it (OpenAPI v3: draft-7-like); its Go regexes are not checked up front.
    jsonschema.Draft7Validator(schema).validate(YAML(typ="safe").load(manifest.read_text()))


def _changed_lines(before: str, after: str) -> list[str]:
    """The lines an edit removed and added, sorted: every other line is the same, byte for byte."""
    return sorted(d for d in difflib.ndiff(before.splitlines(), after.splitlines()) if d[:1] in "+-")


def test_cnpg_manifest_plans_applies_and_replans_empty_offline(tmp_path: Path, cli: Cli) -> None:
    manifest = _write(tmp_path, "cluster.yaml", CNPG)
    profile = _write(tmp_path, "shop.yaml", PROFILE + "  pg_stat_statements.track: all\n")
    _validate(manifest, "cnpg-1.30.0.json")
    plan = cli("plan", str(profile), "--cnpg-cluster", str(manifest), "--format", "json")
    assert plan.code == 0, plan.stderr
    store = json.loads(plan.stdout)["manifest"]  # the store's plan, keyed by the store as Patroni's and RDS's are
    by_name = {c["address"]["name"]: c for c in store["changes"]}
    assert set(by_name) == {"work_mem", "max_connections", "pg_stat_statements.track", "log_min_duration_statement"}
    assert by_name["max_connections"]["restart_required"] is True
    library = by_name["pg_stat_statements.track"]
    assert (
        library["restart_required"] is True and "adds pg_stat_statements to shared_preload_libraries" in library["note"]
    )
    assert by_name["log_min_duration_statement"]["action"] == "delete"
    text = cli("plan", str(profile), "--cnpg-cluster", str(manifest))
    assert "Restart: pgtune restarts nothing here: CloudNativePG restarts the instances itself" in text.stdout

    applied = cli("apply", str(profile), "--cnpg-cluster", str(manifest), "--yes")
    assert applied.code == 0, applied.stderr
    after = manifest.read_text()
    assert _changed_lines(CNPG, after) == sorted(
        [
            '-       max_connections: "200"     # sized for the app\'s pools',
            '-       work_mem: "16MB"           # per sort / hash',
            '-       log_min_duration_statement: "1s"',
            '+       max_connections: "300"     # sized for the app\'s pools',
            '+       work_mem: "64MB"           # per sort / hash',
            '+       pg_stat_statements.track: "all"',
        ]
    )
    _validate(manifest, "cnpg-1.30.0.json")
    again = cli("plan", str(profile), "--cnpg-cluster", str(manifest), "--detailed-exitcode")
    assert again.code == 0, again.stdout + again.stderr


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("listen_addresses", "'*'", "blocked by CloudNativePG"),
        ("shared_preload_libraries", "[pg_stat_statements]", ".spec.postgresql.shared_preload_libraries"),
        ("ssl_ca_file", "/x", "fixed by CloudNativePG"),
    ],
)
def test_cnpg_refuses_what_the_operator_owns(tmp_path: Path, cli: Cli, key: str, value: str, why: str) -> None:
    manifest = _write(tmp_path, "cluster.yaml", CNPG)
    profile = _write(tmp_path, "bad.yaml", f"name: bad\nsettings:\n  work_mem: 64MB\n  {key}: {value}\n")
    for command in ("plan", "apply"):
        result = cli(command, str(profile), "--cnpg-cluster", str(manifest), *(["--yes"] if command == "apply" else []))
        assert result.code == 1 and f"bad.yaml:4:3: {key}: " in result.stderr and why in result.stderr, result.stderr
    assert manifest.read_text() == CNPG  # nothing written


def test_cnpg_webhook_rules_and_yaml_numbers(tmp_path: Path, cli: Cli) -> None:
    manifest = _write(tmp_path, "cluster.yaml", CNPG.replace('work_mem: "16MB"', "work_mem: 16384"))
    hints = _write(tmp_path, "hints.yaml", "name: h\nsettings:\n  wal_log_hints: off\n")
    refused = cli("plan", str(hints), "--cnpg-cluster", str(manifest))
    assert refused.code == 1 and "hints.yaml:3:18: wal_log_hints: CloudNativePG requires on" in refused.stderr
    sizes = _write(tmp_path, "sizes.yaml", "name: s\nsettings:\n  min_wal_size: 2GB\n")
    refused = cli("plan", str(sizes), "--cnpg-cluster", str(manifest))
    assert refused.code == 1 and "min_wal_size must be below max_wal_size" in refused.stderr
    # A YAML number where the operator takes strings: rewritten quoted when pgtune writes the key ...
    same = _write(tmp_path, "same.yaml", "name: s\nsettings:\n  work_mem: 16MB\n")
    plan = cli("plan", str(same), "--cnpg-cluster", str(manifest))
    assert 'work_mem: "16MB"' in plan.stdout
    # ... and named when the profile does not touch it.
    other = _write(tmp_path, "other.yaml", "name: o\nsettings:\n  max_connections: 200\n")
    plan = cli("plan", str(other), "--cnpg-cluster", str(manifest))
    assert "NOT_A_STRING" in plan.stdout and "No changes." in plan.stdout
    # The operator's defaults, not PostgreSQL's: wal_level logical needs no key.
    logical = _write(tmp_path, "logical.yaml", "name: l\nsettings:\n  wal_level: logical\n  max_worker_processes: 32\n")
    assert cli("plan", str(logical), "--cnpg-cluster", str(manifest), "--detailed-exitcode").code == 0


def test_removing_the_last_key_leaves_an_empty_map(tmp_path: Path, cli: Cli) -> None:
    text = CNPG.replace('      max_connections: "200"     # sized for the app\'s pools\n', "").replace(
        '      work_mem: "16MB"           # per sort / hash\n      shared_buffers: 1GB\n', ""
    )
    manifest = _write(tmp_path, "cluster.yaml", text)
    profile = _write(tmp_path, "rm.yaml", "name: r\nsettings:\n  log_min_duration_statement: null\n")
    assert cli("apply", str(profile), "--cnpg-cluster", str(manifest), "--yes").code == 0
    assert "    parameters: {}\n    pg_hba:" in manifest.read_text()
    _validate(manifest, "cnpg-1.30.0.json")


def test_pgo_manifest_edited_and_its_fixed_keys_refused(tmp_path: Path, cli: Cli) -> None:
    manifest = _write(tmp_path, "hippo.yaml", PGO)
    _validate(manifest, "pgo-6.0.3.json")
    profile = _write(tmp_path, "p.yaml", "name: p\nsettings:\n  work_mem: 32MB\n  random_page_cost: 1.1\n")
    assert cli("apply", str(profile), "--pgo-cluster", str(manifest), "--yes").code == 0
    after = manifest.read_text()
    assert _changed_lines(PGO, after) == sorted(
        [
            "-       work_mem: 16MB",
            '+       work_mem: "32MB"',
            '+       random_page_cost: "1.1"',
        ]
    )
    _validate(manifest, "pgo-6.0.3.json")
    assert cli("plan", str(profile), "--pgo-cluster", str(manifest), "--detailed-exitcode").code == 0
    for key, value, why in (
        ("port", "5433", "change the port with .spec.port"),
        ("ssl_ciphers", "HIGH", "TLS is always enabled"),
        ("wal_level", "replica", "Crunchy PGO keeps wal_level logical"),
    ):
        bad = _write(tmp_path, "bad.yaml", f"name: b\nsettings:\n  {key}: {value}\n")
        refused = cli("plan", str(bad), "--pgo-cluster", str(manifest))
        assert refused.code == 1 and "bad.yaml:3:" in refused.stderr and why in refused.stderr, refused.stderr
    many = _write(
        tmp_path,
        "many.yaml",
        "name: m\nsettings:\n"
        + "".join(
            f"  {k}: on\n"
            for k in [
                "enable_hashjoin",
                "enable_mergejoin",
                "enable_nestloop",
                "enable_seqscan",
                "enable_sort",
                "enable_material",
                "enable_memoize",
            ]
        ),
    )
    assert cli("plan", str(many), "--pgo-cluster", str(manifest)).code == 0  # well under PGO's 50


def test_zalando_manifest_edited_removal_said_and_fixed_keys_refused(tmp_path: Path, cli: Cli) -> None:
    manifest = _write(tmp_path, "acid.yaml", ZALANDO)
    _validate(manifest, "zalando-2.0.1.json")
    profile = _write(
        tmp_path, "z.yaml", "name: z\nsettings:\n  shared_buffers: 512MB\n  work_mem: 16MB\n  log_statement: null\n"
    )
    plan = cli("plan", str(profile), "--zalando-cluster", str(manifest))
    assert plan.code == 0, plan.stderr
    assert "recreates the pods" in plan.stdout  # shared_buffers is a Spilo-local key
    assert "never resets a key removed from the manifest" in plan.stdout
    assert "patronictl edit-config --force -s 'postgresql.parameters.log_statement=null'" in plan.stdout
    assert cli("apply", str(profile), "--zalando-cluster", str(manifest), "--yes").code == 0
    assert _changed_lines(ZALANDO, manifest.read_text()) == sorted(
        [
            '-       shared_buffers: "256MB"',
            '-       log_statement: "ddl"   # audit DDL',
            '+       shared_buffers: "512MB"',
        ]
    )
    _validate(manifest, "zalando-2.0.1.json")
    assert cli("plan", str(profile), "--zalando-cluster", str(manifest), "--detailed-exitcode").code == 0
    bad = _write(tmp_path, "bad.yaml", "name: b\nsettings:\n  listen_addresses: '*'\n")
    refused = cli("plan", str(bad), "--zalando-cluster", str(manifest))
    assert refused.code == 1 and "bad.yaml:3:3: listen_addresses: set by Patroni" in refused.stderr


def test_a_manifest_of_another_kind_or_operator_is_refused(tmp_path: Path, cli: Cli) -> None:
    profile = _write(tmp_path, "p.yaml", "name: p\nsettings:\n  work_mem: 64MB\n")
    pgo = _write(tmp_path, "hippo.yaml", PGO)
    wrong = cli("plan", str(profile), "--cnpg-cluster", str(pgo))
    assert wrong.code == 1 and "is not CloudNativePG's" in wrong.stderr
    both = cli("plan", str(profile), "--cnpg-cluster", str(pgo), "--pgo-cluster", str(pgo))
    assert both.code == 1 and "give one of --cnpg-cluster" in both.stderr


def test_version_names_the_operator_releases_the_rules_come_from(cli: Cli) -> None:
    result = cli("--verbose", "version")
    assert result.code == 0
    assert (
        "operator rules: CloudNativePG 1.30.0" in result.stdout and "Zalando postgres-operator 2.0.1" in result.stdout
    )
    for crd, version in (("cnpg", "1.30.0"), ("pgo", "6.0.3"), ("zalando", "2.0.1")):
        assert json.loads((CRDS / f"{crd}-{version}.json").read_text())["operator_version"] == version


def test_the_impact_of_an_offline_manifest_plan_asks_for_a_server(tmp_path: Path, cli: Cli) -> None:
    manifest = _write(tmp_path, "cluster.yaml", CNPG)
    profile = _write(tmp_path, "p.yaml", "name: p\nsettings:\n  work_mem: 64MB\n")
    result = cli("plan", str(profile), "--cnpg-cluster", str(manifest), "--impact")
    assert result.code == 3 and "the workload impact needs --dsn" in result.stdout
    assert manifest.read_text() == CNPG
