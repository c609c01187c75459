"""The GitHub Action (action.yml), run here as GitHub would run its steps: each step's `run:` line in
bash, with the environment its `env:` mapping gives from the inputs, against a real PostgreSQL and a
fake of GitHub's issue-comment API (list, create, edit: the calls the action makes, with their
contract: a bearer token, JSON bodies, pages of 100). What cannot run here: `actions/setup-python`
and `actions/upload-artifact` (GitHub's own actions) and GitHub itself."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgtune.cli import github_action
from pgtune.integrations.endpoints import HttpClient
from tests.conftest import REPO, Server

ACTION = yaml.safe_load((REPO / "action.yml").read_text())
TOKEN = "ghs_test-token-1234"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


class FakeGitHub:
    """Issue comments of one repository, as GitHub's REST API serves them. A comment carries its author
    (`user.login`): the workflow's token (`ghs_...`, an installation token) comments as
    github-actions[bot] and is refused GET /user (403), as on GitHub; a personal token is its user."""

    def __init__(self, login: str | None = None) -> None:
        self.login = login  # None: the token is the workflow's own GITHUB_TOKEN
        self.comments: dict[int, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.next_id = 1000
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str) -> None:
                fake.calls.append((method, self.path))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._reply(401, {"message": "Bad credentials"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                doc = json.loads(self.rfile.read(length)) if length else None
                listing = re.fullmatch(r"/repos/acme/db/issues/7/comments\?per_page=(\d+)&page=(\d+)", self.path)
                one = re.fullmatch(r"/repos/acme/db/issues/comments/(\d+)", self.path)
                if method == "GET" and self.path == "/user":
                    if fake.login is None:
                        self._reply(403, {"message": "Resource not accessible by integration"})
                    else:
                        self._reply(200, {"login": fake.login, "type": "User"})
                elif method == "GET" and listing:
                    size, page = int(listing.group(1)), int(listing.group(2))
                    items = sorted(fake.comments.values(), key=lambda c: c["id"])
                    self._reply(200, items[(page - 1) * size : page * size])
                elif method == "POST" and self.path == "/repos/acme/db/issues/7/comments":
                    fake.next_id += 1
                    url = f"https://github.com/acme/db/pull/7#issuecomment-{fake.next_id}"
                    author = {"login": fake.login or "github-actions[bot]", "type": "User" if fake.login else "Bot"}
                    fake.comments[fake.next_id] = {
                        "id": fake.next_id,
                        "body": doc["body"],
                        "html_url": url,
                        "user": author,
                    }
                    self._reply(201, fake.comments[fake.next_id])
                elif method == "PATCH" and one and int(one.group(1)) in fake.comments:
                    owner = (fake.comments[int(one.group(1))].get("user") or {}).get("login")
                    if owner is not None and owner != (fake.login or "github-actions[bot]"):
                        self._reply(403, {"message": "Resource not accessible by integration"})  # not ours
                        return
                    fake.comments[int(one.group(1))]["body"] = doc["body"]
                    self._reply(200, fake.comments[int(one.group(1))])
                else:
                    self._reply(404, {"message": "Not Found"})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # the kernel picks a free port
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    yield fake
    fake.server.shutdown()


def _resolve(value: str, inputs: dict[str, str], github: dict[str, str], steps: dict[str, dict[str, str]]) -> str:
    """GitHub's expressions as the action uses them: inputs.X, github.X, steps.ID.outputs.X."""

    def one(match: re.Match[str]) -> str:
        expr = match.group(1)
        if expr.startswith("inputs."):
            return inputs[expr.removeprefix("inputs.")]
        if expr.startswith("github."):
            return github[expr.removeprefix("github.")]
        step, _, output = expr.removeprefix("steps.").partition(".outputs.")
        return steps.get(step, {}).get(output, "")

    return EXPRESSION.sub(one, value)


def _run_action(
    workspace: Path, given: dict[str, str], fake: FakeGitHub, event: dict[str, Any]
) -> tuple[dict[str, dict[str, str]], list[subprocess.CompletedProcess[str]]]:
    """The composite action's `run:` steps, in order, as the runner runs them (bash, env from `env:`)."""
    inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    github_ctx = {"token": TOKEN, "event_name": "pull_request" if "pull_request" in event else "push"}
    inputs = {k: _resolve(v, {}, github_ctx, {}) for k, v in inputs.items()} | given
    (workspace / "event.json").write_text(json.dumps(event))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_URL", "GITHUB_", "INPUT_"))}
    base |= {
        "GITHUB_API_URL": fake.url,
        "GITHUB_REPOSITORY": "acme/db",
        "GITHUB_EVENT_PATH": str(workspace / "event.json"),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_ACTION_PATH": str(REPO),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # as setup-python's is
    }
    steps: dict[str, dict[str, str]] = {}
    results = []
    failed = False
    for step in ACTION["runs"]["steps"]:
        if "run" not in step or step["name"] == "Install pgtune":  # pgtune is installed here already
            continue
        condition = step.get("if")
        if failed and not (condition and "always()" in condition):
            continue
        if condition and "inputs.comment == 'true'" in condition and inputs["comment"] != "true":
            continue
        if condition and "github.event_name == 'pull_request'" in condition and "pull_request" not in event:
            continue
        output = workspace / f"output-{step['id']}"
        output.write_text("")
        env = base | {k: _resolve(str(v), inputs, github_ctx, steps) for k, v in step.get("env", {}).items()}
        env["GITHUB_OUTPUT"] = str(output)
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]], cwd=workspace, env=env, capture_output=True, text=True, timeout=120
        )
        results.append(done)
        steps[step["id"]] = dict(line.split("=", 1) for line in output.read_text().splitlines() if line)
        failed = failed or done.returncode != 0
    return steps, results


def test_the_action_is_composite_and_pastes_no_input_into_a_script() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert ACTION["inputs"]["profile"]["required"] and ACTION["inputs"]["dsn"]["required"]
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], f"{step['name']}: inputs go through env, never into the script"
            assert step["shell"] == "bash"
    uses = [s["uses"] for s in ACTION["runs"]["steps"] if "uses" in s]
    assert uses == ["actions/setup-python@v5", "actions/upload-artifact@v4"]
    install = next(s for s in ACTION["runs"]["steps"] if s["name"] == "Install pgtune")
    assert '"$GITHUB_ACTION_PATH"' in install["run"]  # the action installs the pgtune it is part of


@pytest.mark.server
def test_plan_comment_and_update_on_a_pull_request(pg16: Server, github: FakeGitHub, tmp_path: Path) -> None:
    pg16.reset()
    secret = "Act10n-S3cret"
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "db.yaml").write_text("name: db\nsettings: {work_mem: 48MB}\n")
    dsn = f"postgresql://postgres:{secret}@127.0.0.1:{pg16.cluster.port}/postgres"  # trusted: the password is unused
    given = {"profile": "profiles/db.yaml", "dsn": dsn, "args": "--as-of 2026-12-01"}
    event = {"pull_request": {"number": 7}}
    steps, results = _run_action(tmp_path, given, github, event)
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert steps["plan"]["has_changes"] == "true" and steps["plan"]["changes"] == "1"
    saved = json.loads((tmp_path / "pgtune-plan.json").read_text())
    assert [c["object"] for c in saved["changes"]] == ["work_mem"] and "saved" in saved
    (comment,) = github.comments.values()
    assert comment["body"].startswith("<!-- pgtune-plan: profiles/db.yaml -->\n")
    assert "work_mem" in comment["body"] and "48MB" in comment["body"]
    assert "[run](https://github.com/acme/db/actions/runs/4242)" in comment["body"]
    # impact: auto by default — this database has no pg_stat_statements, so the comment says so and passes.
    assert "### Workload impact" in comment["body"] and "needs pg_stat_statements" in comment["body"]
    assert steps["comment"]["comment_url"] == comment["html_url"]
    everything = json.dumps(github.comments) + "".join(r.stdout + r.stderr for r in results)
    assert secret not in everything + (tmp_path / "pgtune-plan.json").read_text()

    # Another profile's plan is a comment of its own; a push of the same PR edits the first one.
    (tmp_path / "profiles" / "other.yaml").write_text("name: other\nsettings: {work_mem: 48MB}\n")
    _run_action(tmp_path, given | {"profile": "profiles/other.yaml"}, github, event)
    (tmp_path / "profiles" / "db.yaml").write_text("name: db\nsettings: {work_mem: 64MB}\n")
    steps, results = _run_action(tmp_path, given, github, event)
    assert all(r.returncode == 0 for r in results)
    assert len(github.comments) == 2
    first = github.comments[min(github.comments)]
    assert "64MB" in first["body"] and "48MB" not in first["body"]
    assert [m for m, _ in github.calls].count("PATCH") == 1


@pytest.mark.server
def test_a_failed_plan_is_commented_and_fails_the_step(pg16: Server, github: FakeGitHub, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: bad\nsettings: {work_mam: 48MB}\n")
    given = {"profile": "bad.yaml", "dsn": f"postgresql://postgres@127.0.0.1:{pg16.cluster.port}/postgres"}
    steps, results = _run_action(tmp_path, given, github, {"pull_request": {"number": 7}})
    assert results[0].returncode == 1 and steps["plan"]["failed"] == "true"
    (comment,) = github.comments.values()  # the comment step runs always(): the reviewer sees why
    assert "pgtune plan failed" in comment["body"] and "bad.yaml:2:12: unknown setting 'work_mam'" in comment["body"]


@pytest.mark.server
def test_no_comment_outside_a_pull_request_or_when_turned_off(pg16: Server, github: FakeGitHub, tmp_path: Path) -> None:
    pg16.reset()
    (tmp_path / "p.yaml").write_text("name: p\nsettings: {work_mem: 48MB}\n")
    given = {"profile": "p.yaml", "dsn": f"postgresql://postgres@127.0.0.1:{pg16.cluster.port}/postgres"}
    _, results = _run_action(tmp_path, given, github, {"ref": "refs/heads/main"})
    assert [r.returncode for r in results] == [0]
    _, results = _run_action(tmp_path, given | {"comment": "false"}, github, {"pull_request": {"number": 7}})
    assert [r.returncode for r in results] == [0]
    assert github.calls == []


def test_the_body_fits_a_comment_and_says_when_it_was_cut() -> None:
    body = github_action.comment_body("p.yaml", "x" * 200_000, "https://github.com/a/b/actions/runs/1")
    assert len(body) <= github_action.MAX_COMMENT
    assert body.startswith(github_action.marker("p.yaml")) and "the whole plan is in the run's artifact" in body
    assert "-->" not in github_action.marker("a-->b.yaml").removesuffix(" -->")  # a name cannot close the marker


def test_only_a_comment_that_starts_with_the_marker_is_edited(github: FakeGitHub) -> None:
    """A reviewer's comment quoting the marker is theirs: it is left alone, and ours is posted anew."""
    ours = github_action.marker("p.yaml")
    github.comments[1] = {"id": 1, "body": f"looks odd:\n{ours}\n", "html_url": "https://github.com/x"}
    github.comments.update({i: {"id": i, "body": "lgtm", "html_url": "https://github.com/x"} for i in range(2, 150)})
    client = HttpClient("GitHub", bearer=TOKEN)
    client.trust(github.url)
    pr = github_action.PullRequest(github.url, "acme/db", 7)
    how, _ = github_action.upsert_comment(client, pr, "p.yaml", ours + "\nplan")
    assert how == "created" and github.comments[1]["body"].startswith("looks odd")
    assert [p for m, p in github.calls if m == "GET"][-1].endswith("page=2")  # read past the first page
    how, _ = github_action.upsert_comment(client, pr, "p.yaml", ours + "\nplan 2")
    assert how == "updated" and github.comments[max(github.comments)]["body"].endswith("plan 2")
