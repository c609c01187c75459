"""The lane against a real AWS account: never in CI (there is no account there), run by hand with
`make test-rds-live` and these variables:

    PGTUNE_RDS_GROUP     a DB parameter group pgtune may change (a copy made for this, not production's)
    PGTUNE_RDS_DSN       the writer of an instance using it (SQL: per-database settings are not touched)
    PGTUNE_RDS_INSTANCE  that instance's identifier, when its endpoint is not the DSN's host (optional)
    PGTUNE_RDS_APPLY=1   also apply one dynamic value and remove it again (else the lane only plans)

Region and credentials come from boto3's chain (AWS_PROFILE, AWS_REGION ...). What it proves: the
calls and answers pgtune relies on are the real ones (paging, Source, ParameterApplyStatus), a
profile's unit translation is what RDS stores, and the re-plan after apply is empty on RDS itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: this lane needs a real account (see the module docstring)", pytrace=False)
    return value


def _pgtune(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgtune", *args], capture_output=True, text=True, cwd=REPO, timeout=1800, check=False
    )


def _target() -> list[str]:
    args = ["--dsn", _env("PGTUNE_RDS_DSN"), "--rds-parameter-group", _env("PGTUNE_RDS_GROUP")]
    if os.environ.get("PGTUNE_RDS_INSTANCE"):
        args += ["--rds-instance", os.environ["PGTUNE_RDS_INSTANCE"]]
    return args


def test_plan_apply_replan_on_a_real_group(tmp_path: Path) -> None:
    profile = tmp_path / "live.yaml"
    profile.write_text("name: live\nsettings:\n  log_min_duration_statement: 2s\n", encoding="utf-8")
    plan = _pgtune("plan", "--format", "json", str(profile), *_target())
    assert plan.returncode == 0, plan.stderr
    changes = json.loads(plan.stdout)["parameter_group"]["changes"]
    if os.environ.get("PGTUNE_RDS_APPLY") != "1":
        return
    if changes:
        assert '"ParameterValue": "2000"' in changes[0]["statements"][0]["sql"]  # ms, the server's unit
    applied = _pgtune("apply", "--yes", str(profile), *_target())
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = json.loads(_pgtune("plan", "--format", "json", str(profile), *_target()).stdout)
    assert again["parameter_group"]["changes"] == []
    empty = tmp_path / "empty.yaml"
    empty.write_text("name: live\n", encoding="utf-8")
    removed = _pgtune("apply", "--yes", str(empty), *_target())  # resets the key it set, that key only
    assert removed.returncode == 0, removed.stdout + removed.stderr
