"""The lanes against a real Azure flexible server and a real Cloud SQL instance: never in CI (no
accounts there), run by hand with `make test-cloud-live` and, per service, its target and a DSN to
it (a role that may read pg_settings there):

    PGTUNE_AZURE_SERVER (its resource ID), PGTUNE_AZURE_DSN       credentials: azure-identity's chain
    PGTUNE_CLOUDSQL_INSTANCE (PROJECT:INSTANCE), PGTUNE_CLOUDSQL_DSN   credentials: google-auth's default

They plan only: what they prove is that the APIs' answers are the ones pgtune reads (Azure's
configurations, units and allowed values; Cloud SQL's flags.list and databaseFlags)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("flag", "target_env", "dsn_env"),
    [
        ("--azure-server", "PGTUNE_AZURE_SERVER", "PGTUNE_AZURE_DSN"),
        ("--cloudsql-instance", "PGTUNE_CLOUDSQL_INSTANCE", "PGTUNE_CLOUDSQL_DSN"),
    ],
)
def test_plan_against_a_real_service(tmp_path: Path, flag: str, target_env: str, dsn_env: str) -> None:
    target, dsn = os.environ.get(target_env), os.environ.get(dsn_env)
    if not target or not dsn:
        pytest.fail(f"{target_env} and {dsn_env} are not set: this lane needs an account", pytrace=False)
    profile = tmp_path / "p.yaml"
    profile.write_text("name: live\nsettings:\n  work_mem: 8MB\n")
    done = subprocess.run(
        [sys.executable, "-m", "pgtune", "plan", str(profile), flag, target, "--dsn", dsn],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
