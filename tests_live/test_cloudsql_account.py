"""The lane against a real Cloud SQL instance: never in CI (no account there), run by hand with
`make test-cloud-live` and PGTUNE_CLOUDSQL_INSTANCE (PROJECT:INSTANCE) and PGTUNE_CLOUDSQL_DSN (a role that
may read pg_settings there). Credentials from google-auth's default credentials. It plans only: what it
proves is that the API's answers are the ones pgtune reads (flags.list, databaseFlags)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_plan_against_a_real_cloud_sql_instance(tmp_path: Path) -> None:
    server, dsn = os.environ.get("PGTUNE_CLOUDSQL_INSTANCE"), os.environ.get("PGTUNE_CLOUDSQL_DSN")
    if not server or not dsn:
        pytest.fail(
            "PGTUNE_CLOUDSQL_INSTANCE and PGTUNE_CLOUDSQL_DSN are not set: this lane needs an account", pytrace=False
        )
    profile = tmp_path / "p.yaml"
    profile.write_text("name: live\nsettings:\n  work_mem: 8MB\n")
    done = subprocess.run(
        [sys.executable, "-m", "pgtune", "plan", str(profile), "--cloudsql-instance", server, "--dsn", dsn],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
