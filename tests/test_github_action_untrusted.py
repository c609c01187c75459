"""The pull request controls the profile (issue 39, break 4): nothing it writes may become Markdown in
the Action's comment, a workflow command in the job's log, an edit of someone else's comment, or a
window onto the job's environment. The action's steps run in bash as GitHub runs them, against a real
PostgreSQL and the fake of GitHub's comment API (tests/test_github_action.py)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from pgtune.cli import github_action
from tests.conftest import Server
from tests.test_github_action import FakeGitHub, _run_action

FORGED = (
    "x\n```\n\n**No changes.** The database matches.\ncc @acme/dba ![](https://evil.example/pixel.png)\n\n```text\n"
)
EVENT = {"pull_request": {"number": 7}}


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    yield fake
    fake.server.shutdown()


def _given(pg16: Server, profile: str, **more: str) -> dict[str, str]:
    return {"profile": profile, "dsn": f"postgresql://postgres@127.0.0.1:{pg16.cluster.port}/postgres", **more}


def _commands(results: list[subprocess.CompletedProcess[str]]) -> list[str]:
    """The workflow commands GitHub's runner would act on in the steps' output (stop-commands honoured)."""
    acted: list[str] = []
    for result in results:
        stopped: str | None = None
        for line in (result.stdout + result.stderr).splitlines():
            if stopped is not None:
                if line == f"::{stopped}::":
                    stopped = None
                continue
            found = re.match(r"^::([a-z-]+)( [^:]*)?::(.*)$", line)
            if found and found.group(1) == "stop-commands":
                stopped = found.group(3)
            elif found or line.startswith("##["):
                acted.append(line)
    return acted


@pytest.mark.server
def test_error_text_cannot_close_the_comments_fence_nor_issue_workflow_commands(
    pg16: Server, github: FakeGitHub, tmp_path: Path
) -> None:
    forged = FORGED + "::warning title=pgtune::all good\n##[warning]all good\n"
    value = json.dumps("${NOPE:?" + forged + "}")  # a JSON string is a YAML double-quoted scalar
    (tmp_path / "p.yaml").write_text(f"name: p\nsettings:\n  work_mem: {value}\n")
    steps, results = _run_action(tmp_path, _given(pg16, "p.yaml", **{"env-allow": "NOPE"}), github, EVENT)
    assert results[0].returncode == 1 and steps["plan"]["failed"] == "true"
    (comment,) = github.comments.values()
    body = comment["body"]
    assert "No changes." in body  # the text is there, quoted ...
    tokens = MarkdownIt().parse(body)
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1 and "No changes." in fences[0].content and "@acme/dba" in fences[0].content
    outside = "".join(t.content for t in tokens if t.type != "fence")
    assert "No changes" not in outside and "@acme" not in outside and "evil.example" not in outside  # ... as code only
    assert not [t for t in tokens if t.type == "inline" and any(c.type == "image" for c in t.children or [])]
    assert _commands(results) == [], "a line of pgtune's output became a workflow command"


@pytest.mark.server
def test_another_users_comment_with_the_marker_is_never_taken_for_ours(
    pg16: Server, github: FakeGitHub, tmp_path: Path
) -> None:
    pg16.reset()
    (tmp_path / "p.yaml").write_text("name: p\nsettings: {work_mem: 48MB}\n")
    forged = github_action.marker("p.yaml") + "\n**No changes.**"
    github.comments[1] = {"id": 1, "body": forged, "html_url": "https://github.com/x", "user": {"login": "mallory"}}
    _, results = _run_action(tmp_path, _given(pg16, "p.yaml"), github, EVENT)
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert github.comments[1]["body"] == forged  # left alone (editing it would fail: it is not ours)
    ours = [c for c in github.comments.values() if c["user"]["login"] == "github-actions[bot]"]
    assert len(ours) == 1 and "work_mem" in ours[0]["body"]
    assert [m for m, _ in github.calls].count("PATCH") == 0
    _run_action(tmp_path, _given(pg16, "p.yaml"), github, EVENT)  # the next push edits ours, only ours
    assert [m for m, _ in github.calls].count("PATCH") == 1 and github.comments[1]["body"] == forged


@pytest.mark.server
def test_a_personal_token_edits_its_own_users_comment(pg16: Server, tmp_path: Path) -> None:
    fake = FakeGitHub(login="acme-bot")
    try:
        pg16.reset()
        (tmp_path / "p.yaml").write_text("name: p\nsettings: {work_mem: 48MB}\n")
        for _ in range(2):
            _, results = _run_action(tmp_path, _given(pg16, "p.yaml"), fake, EVENT)
            assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
        (comment,) = fake.comments.values()
        assert comment["user"]["login"] == "acme-bot" and [m for m, _ in fake.calls].count("PATCH") == 1
    finally:
        fake.server.shutdown()


@pytest.mark.server
def test_a_profile_reads_only_the_variables_the_workflow_allows(
    pg16: Server, github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg16.reset()
    secret = "AKIA-very-secret-value-42"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("WORK_MEM", "40MB")
    (tmp_path / "leak.yaml").write_text("name: leak\nsettings:\n  application_name: ${AWS_SECRET_ACCESS_KEY}\n")
    steps, results = _run_action(tmp_path, _given(pg16, "leak.yaml"), github, EVENT)
    assert results[0].returncode == 1
    (comment,) = github.comments.values()
    assert "AWS_SECRET_ACCESS_KEY is not in $PGTUNE_ENV_ALLOW" in comment["body"]
    everything = comment["body"] + "".join(r.stdout + r.stderr for r in results)
    assert secret not in everything and secret not in (tmp_path / "pgtune-plan.md").read_text()

    (tmp_path / "ok.yaml").write_text("name: ok\nsettings:\n  work_mem: ${WORK_MEM}\n")
    steps, results = _run_action(tmp_path, _given(pg16, "ok.yaml", **{"env-allow": "WORK_MEM"}), github, EVENT)
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert steps["plan"]["has_changes"] == "true"


def test_a_fence_outlasts_any_run_of_backticks() -> None:
    for text in ("plain", "```", "a ```` b", "`" * 40):
        fenced = github_action.fenced(text)
        tokens = MarkdownIt().parse(fenced)
        assert [t.type for t in tokens] == ["fence"] and tokens[0].content == text + "\n"
