"""The pre-commit hook, as a user's repository runs it: `pre-commit try-repo` installs pgtune from this
repository into its own environment and runs `pgtune-validate` on the files given (offline: no
database), passing on a good profile and failing on a bad one with its file:line:col."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

GOOD = "name: good\nsettings:\n  work_mem: 64MB\n"
BAD = "name: bad\nsettings:\n  work_mem: 64MB\n  shared_bufers: 1GB\n"


def _pre_commit() -> str:
    binary = Path(sys.executable).parent / "pre-commit"
    if binary.exists():
        return str(binary)
    found = shutil.which("pre-commit")
    if found is None:
        pytest.fail("pre-commit is not installed (pip install -e '.[test]')", pytrace=False)
    return found


def test_the_hook_is_declared_for_profiles() -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "pgtune-validate" and hook["entry"] == "pgtune validate"
    assert hook["language"] == "python"  # pre-commit installs pgtune itself: nothing needed on the machine


@pytest.mark.installs
def test_try_repo_passes_a_good_profile_and_fails_a_bad_one_with_its_position(tmp_path: Path) -> None:
    user = tmp_path / "user"
    (user / "profiles").mkdir(parents=True)
    (user / "profiles" / "good.yaml").write_text(GOOD)
    (user / "profiles" / "bad.yaml").write_text(BAD)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_URL", "GIT_"))}
    env |= {
        "PRE_COMMIT_HOME": str(tmp_path / "cache"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }

    def run(*args: str, cwd: Path = user) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)

    assert run("git", "init", "-q").returncode == 0
    assert run("git", "add", "profiles").returncode == 0  # pre-commit looks at tracked files
    good = run(_pre_commit(), "try-repo", str(REPO), "pgtune-validate", "--files", "profiles/good.yaml")
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-3000:]
    assert "pgtune validate" in good.stdout and "Passed" in good.stdout
    bad = run(_pre_commit(), "try-repo", str(REPO), "pgtune-validate", "--files", "profiles/bad.yaml")
    assert bad.returncode == 1, bad.stdout[-3000:] + bad.stderr[-3000:]
    assert "Failed" in bad.stdout
    expected = "profiles/bad.yaml:4:3: unknown setting 'shared_bufers' in PostgreSQL 18's settings; did you mean"
    assert expected in bad.stdout
