"""The steps of pgtune's GitHub Action (action.yml): plan, then post or update one pull-request comment.

action.yml passes every input through the environment (`INPUT_*`), never pasted into a shell
script, so a profile path or argument cannot become a command (GitHub's script-injection advice).
The plan is made by the `pgtune plan` command itself, in a child process: the same masking of
secrets, the same exit codes, the same Markdown a reviewer reads locally.

One comment per profile and pull request: it carries a marker (`<!-- pgtune-plan: PROFILE -->`), and
a later run edits that comment instead of adding another. GitHub's answers are untrusted input:
the client bounds every call (pgtune.endpoints), and only a comment whose body starts with the
marker is ever edited.

    python -m pgtune.github_action plan      # INPUT_PROFILE, PGTUNE_DSN, INPUT_PLAN_FILE, INPUT_ARGS
    python -m pgtune.github_action comment   # GITHUB_TOKEN, GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_EVENT_PATH
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgtune.endpoints import EndpointError, HttpClient, shown
from pgtune.errors import PgtuneError

MAX_COMMENT = 65536
"""Characters GitHub accepts in one comment body."""
PER_PAGE = 100
MAX_PAGES = 50
"""Comments read looking for ours: 5,000 on one pull request is more than any review holds."""
MARKDOWN_FILE = "pgtune-plan.md"


class ActionError(PgtuneError):
    """A step of the action cannot do its job (a missing input, an answer it cannot use)."""


class GitHubError(EndpointError):
    """GitHub's API could not be reached, refused, or answered what pgtune cannot accept."""


def marker(profile: str) -> str:
    """The first line of our comment: which profile's plan it holds (escaped: it sits in an HTML comment)."""
    return f"<!-- pgtune-plan: {profile.replace('--', '- -')} -->"


def comment_body(profile: str, markdown: str, run_url: str | None = None) -> str:
    """The comment: the marker, the Markdown plan, a link to the run; cut to GitHub's limit with a note."""
    footer = f"\n\n<sub>pgtune plan of `{profile}`" + (f" · [run]({run_url})" if run_url else "") + "</sub>\n"
    head = marker(profile) + "\n"
    room = MAX_COMMENT - len(head) - len(footer)
    if len(markdown) > room:
        note = "\n\n… the plan is longer than a comment can hold: the whole plan is in the run's artifact.\n"
        markdown = markdown[: room - len(note)] + note
    return head + markdown.rstrip("\n") + footer


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise ActionError(f"${name} is not set")
    return value


def _output(**values: str) -> None:
    """Step outputs, in the file GitHub names ($GITHUB_OUTPUT), one `key=value` line each."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        for key, value in values.items():
            if "\n" in value:
                raise ActionError(f"output {key} holds a newline")
            fh.write(f"{key}={value}\n")


def plan_step() -> int:
    """`pgtune plan PROFILE --format markdown --out PLAN_FILE --detailed-exitcode [ARGS]` as a child process."""
    profile = _env("INPUT_PROFILE")
    plan_file = _env("INPUT_PLAN_FILE", "pgtune-plan.json")
    markdown_file = os.environ.get("INPUT_MARKDOWN_FILE") or MARKDOWN_FILE
    extra = shlex.split(os.environ.get("INPUT_ARGS", ""))
    command = [sys.executable, "-m", "pgtune", "plan", profile, "--format", "markdown", "--out", plan_file]
    command += ["--detailed-exitcode", *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    sys.stderr.write(done.stderr)
    if done.returncode not in (0, 2):
        Path(markdown_file).write_text(
            f"**pgtune plan failed** (exit {done.returncode}):\n\n```\n{done.stderr.strip()}\n```\n", encoding="utf-8"
        )
        _output(markdown_file=markdown_file, has_changes="unknown", failed="true")
        return done.returncode
    Path(markdown_file).write_text(done.stdout, encoding="utf-8")
    sys.stdout.write(done.stdout)
    saved = json.loads(Path(plan_file).read_text(encoding="utf-8"))
    count = len(saved.get("changes", [])) if isinstance(saved, dict) else 0
    _output(
        markdown_file=markdown_file,
        plan_file=plan_file,
        has_changes="true" if done.returncode == 2 else "false",
        changes=str(count),
        failed="false",
    )
    return 0


@dataclass(frozen=True)
class PullRequest:
    api: str  # https://api.github.com
    repository: str  # owner/name
    number: int

    @property
    def comments(self) -> str:
        return f"{self.api}/repos/{self.repository}/issues/{self.number}/comments"


def pull_request() -> PullRequest | None:
    """The pull request this run is for, from the event GitHub wrote; None for other events."""
    event_path = os.environ.get("GITHUB_EVENT_PATH")
    if not event_path:
        return None
    event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    number = (event.get("pull_request") or {}).get("number") if isinstance(event, dict) else None
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        return None
    repository = _env("GITHUB_REPOSITORY")
    if repository.count("/") != 1 or any(c in repository for c in "?#% "):
        raise ActionError(f"$GITHUB_REPOSITORY is not owner/name: {shown(repository)!r}")
    return PullRequest(_env("GITHUB_API_URL", "https://api.github.com").rstrip("/"), repository, number)


def upsert_comment(client: HttpClient, pr: PullRequest, profile: str, body: str) -> tuple[str, str]:
    """Edit our comment on the pull request, or post it: ("updated" | "created", its URL)."""
    ours = marker(profile)
    for page in range(1, MAX_PAGES + 1):
        listed = client.json_value("GET", f"{pr.comments}?per_page={PER_PAGE}&page={page}", authenticate=True)
        if not isinstance(listed, list):
            raise ActionError("GitHub: the list of comments is not a JSON array")
        for comment in listed:
            text = comment.get("body") if isinstance(comment, dict) else None
            ident = comment.get("id") if isinstance(comment, dict) else None
            if isinstance(text, str) and text.startswith(ours) and isinstance(ident, int):
                url = f"{pr.api}/repos/{pr.repository}/issues/comments/{ident}"
                edited = client.json("PATCH", url, {"body": body}, authenticate=True)
                return "updated", _html_url(edited)
        if len(listed) < PER_PAGE:
            break
    created = client.json("POST", pr.comments, {"body": body}, authenticate=True)
    return "created", _html_url(created)


def _html_url(comment: dict[str, Any]) -> str:
    url = comment.get("html_url")
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) and "\n" not in url else ""


def comment_step() -> int:
    """Post or update the plan's comment on the pull request (nothing to do on other events)."""
    pr = pull_request()
    if pr is None:
        print("not a pull request: no comment")
        return 0
    profile = _env("INPUT_PROFILE")
    markdown = Path(os.environ.get("INPUT_MARKDOWN_FILE") or MARKDOWN_FILE).read_text(encoding="utf-8")
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    run_id = os.environ.get("GITHUB_RUN_ID", "")
    run_url = f"{server}/{pr.repository}/actions/runs/{run_id}" if run_id.isdigit() else None
    client = HttpClient("GitHub", bearer=_env("GITHUB_TOKEN"), error=GitHubError)
    client.trust(pr.api)  # the token goes to GitHub's API only, never to an address an answer names
    how, url = upsert_comment(client, pr, profile, comment_body(profile, markdown, run_url))
    print(f"{how} the plan's comment {url}".rstrip())
    _output(comment_url=url)
    return 0


def main(argv: list[str]) -> int:
    steps = {"plan": plan_step, "comment": comment_step}
    if len(argv) != 1 or argv[0] not in steps:
        print(f"usage: python -m pgtune.github_action {'|'.join(steps)}", file=sys.stderr)
        return 64
    try:
        return steps[argv[0]]()
    except PgtuneError as exc:
        for line in exc.lines():
            print(f"::error::{line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
