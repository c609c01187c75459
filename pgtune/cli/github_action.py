"""The steps of pgtune's GitHub Action (action.yml): plan, then post or update one pull-request comment.

action.yml passes every input through the environment (`INPUT_*`), never pasted into a shell
script, so a profile path or argument cannot become a command (GitHub's script-injection advice).
The plan is made by the `pgtune plan` command itself, in a child process: the same masking of
secrets, the same exit codes, the same Markdown a reviewer reads locally.

One comment per profile and pull request: it carries a marker (`<!-- pgtune-plan: PROFILE -->`), and
a later run edits that comment instead of adding another. GitHub's answers are untrusted input:
the client bounds every call (pgtune.integrations.endpoints), and only a comment whose body starts with the
marker **and** whose author is the token's own user is ever edited — anyone may post a comment that
starts with the marker.

The pull request controls the profile, so everything pgtune prints is untrusted too: the plan's
output is passed through to the log with workflow commands stopped (`::stop-commands::` with a
random token) and every line that could start one escaped; error text goes into the comment inside
a code fence longer than any run of backticks it holds; `${VAR}` in the profile reads only the
variables the workflow lists in `env-allow` ($PGTUNE_ENV_ALLOW), never the job's others.

    python -m pgtune.cli.github_action plan      # INPUT_PROFILE, PGTUNE_DSN, INPUT_PLAN_FILE, INPUT_ARGS
    python -m pgtune.cli.github_action comment   # GITHUB_TOKEN, GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_EVENT_PATH
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pgtune.base.errors import PgtuneError
from pgtune.integrations.endpoints import EndpointError, HttpClient, shown
from pgtune.profile.compose import ALLOW_ENV

MAX_COMMENT = 65536
"""Characters GitHub accepts in one comment body."""
PER_PAGE = 100
MAX_PAGES = 50
"""Comments read looking for ours: 5,000 on one pull request is more than any review holds."""
MARKDOWN_FILE = "pgtune-plan.md"
ACTIONS_BOT = "github-actions[bot]"
"""Who comments with the workflow's GITHUB_TOKEN (an installation token: GET /user answers 403)."""


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


def fenced(text: str, info: str = "text") -> str:
    """`text` in a code fence longer than any run of backticks inside it: nothing in it can close the
    fence and become Markdown (a fake "No changes", a mention, an image)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def passthrough(text: str, stream: TextIO) -> None:
    """Write a child's output to the job log with workflow commands stopped for its length, and every
    line that could start one (`::`, `##[`) escaped besides."""
    token = secrets.token_hex(16)
    stream.write(f"::stop-commands::{token}\n")
    for line in text.splitlines():
        stream.write((" " + line if line.lstrip().startswith(("::", "##[")) else line) + "\n")
    stream.write(f"::{token}::\n")
    stream.flush()


def command_data(text: str) -> str:
    """A workflow command's message as the runner reads it back: %, CR and LF escaped."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


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


IMPACT_FLAGS = {"auto": ["--impact-if-available"], "true": ["--impact"], "false": []}
REGRESSED = 4
"""`pgtune plan`'s exit code when --max-regression refuses: the comment is still posted, the step fails."""


def _impact_args() -> list[str]:
    """The impact inputs as `pgtune plan` flags: checked here, so a typo fails the step by name."""
    impact = (os.environ.get("INPUT_IMPACT") or "auto").strip().lower()
    if impact not in IMPACT_FLAGS:
        raise ActionError(f"impact: want auto, true or false, not {impact!r}")
    limit = (os.environ.get("INPUT_MAX_REGRESSION") or "").strip()
    if not limit:
        return IMPACT_FLAGS[impact]
    try:
        float(limit)
    except ValueError:
        raise ActionError(f"max-regression: want a fraction such as 0.2, not {limit!r}") from None
    return [*IMPACT_FLAGS[impact], "--max-regression", limit]


def plan_step() -> int:
    """`pgtune plan PROFILE --format markdown --out PLAN_FILE --detailed-exitcode [IMPACT] [ARGS]` as a
    child process."""
    profile = _env("INPUT_PROFILE")
    plan_file = _env("INPUT_PLAN_FILE", "pgtune-plan.json")
    markdown_file = os.environ.get("INPUT_MARKDOWN_FILE") or MARKDOWN_FILE
    extra = shlex.split(os.environ.get("INPUT_ARGS", ""))
    command = [sys.executable, "-m", "pgtune", "plan", profile, "--format", "markdown", "--out", plan_file]
    command += ["--detailed-exitcode", *_impact_args(), *extra]
    env = dict(os.environ)
    env.setdefault(ALLOW_ENV, "")  # run by the Action: ${VAR} reads only what the workflow allows
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    passthrough(done.stderr, sys.stdout)
    if done.returncode not in (0, 2, REGRESSED):
        Path(markdown_file).write_text(
            f"**pgtune plan failed** (exit {done.returncode}):\n\n{fenced(done.stderr.strip())}\n", encoding="utf-8"
        )
        _output(markdown_file=markdown_file, has_changes="unknown", failed="true")
        return done.returncode
    Path(markdown_file).write_text(done.stdout, encoding="utf-8")
    passthrough(done.stdout, sys.stdout)
    saved = json.loads(Path(plan_file).read_text(encoding="utf-8"))
    count = len(saved.get("changes", [])) if isinstance(saved, dict) else 0
    changed = done.returncode == 2 or (done.returncode == REGRESSED and count > 0)
    _output(
        markdown_file=markdown_file,
        plan_file=plan_file,
        has_changes="true" if changed else "false",
        changes=str(count),
        regressed="true" if done.returncode == REGRESSED else "false",
        failed="false",
    )
    return REGRESSED if done.returncode == REGRESSED else 0


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
    from pgtune.base.jsontext import JsonRefused, loads

    try:
        event = loads(Path(event_path).read_bytes())
    except (OSError, JsonRefused) as exc:
        raise ActionError(f"$GITHUB_EVENT_PATH: cannot read the event: {shown(str(exc))}") from None
    number = (event.get("pull_request") or {}).get("number") if isinstance(event, dict) else None
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        return None
    repository = _env("GITHUB_REPOSITORY")
    if repository.count("/") != 1 or any(c in repository for c in "?#% "):
        raise ActionError(f"$GITHUB_REPOSITORY is not owner/name: {shown(repository)!r}")
    return PullRequest(_env("GITHUB_API_URL", "https://api.github.com").rstrip("/"), repository, number)


def token_user(client: HttpClient, pr: PullRequest) -> str:
    """The login comments made with this token carry: GET /user's, or — for the workflow's own
    GITHUB_TOKEN, an installation token that GET /user refuses with 403 — github-actions[bot]."""
    try:
        me = client.json("GET", f"{pr.api}/user", authenticate=True)
    except EndpointError as exc:
        if ": HTTP 403 " in str(exc):
            return ACTIONS_BOT
        raise
    login = me.get("login")
    if not isinstance(login, str) or not 0 < len(login) <= 100 or any(c.isspace() for c in login):
        raise ActionError("GitHub: GET /user answered no login")
    return login


def upsert_comment(
    client: HttpClient, pr: PullRequest, profile: str, body: str, author: str | None = None
) -> tuple[str, str]:
    """Edit our comment on the pull request, or post it: ("updated" | "created", its URL). Ours: it
    starts with the marker and its author is `author` (default: the token's own user)."""
    ours = marker(profile)
    author = author or token_user(client, pr)
    for page in range(1, MAX_PAGES + 1):
        listed = client.json_value("GET", f"{pr.comments}?per_page={PER_PAGE}&page={page}", authenticate=True)
        if not isinstance(listed, list):
            raise ActionError("GitHub: the list of comments is not a JSON array")
        for comment in listed:
            text = comment.get("body") if isinstance(comment, dict) else None
            ident = comment.get("id") if isinstance(comment, dict) else None
            user = comment.get("user") if isinstance(comment, dict) else None
            login = user.get("login") if isinstance(user, dict) else None
            if (
                isinstance(text, str)
                and text.startswith(ours)
                and login == author
                and isinstance(ident, int)
                and not isinstance(ident, bool)
            ):
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
    author = os.environ.get("INPUT_COMMENT_AUTHOR") or None  # a GitHub App's token: its own `slug[bot]`
    how, url = upsert_comment(client, pr, profile, comment_body(profile, markdown, run_url), author)
    print(f"{how} the plan's comment {url}".rstrip())
    _output(comment_url=url)
    return 0


def main(argv: list[str]) -> int:
    steps = {"plan": plan_step, "comment": comment_step}
    if len(argv) != 1 or argv[0] not in steps:
        print(f"usage: python -m pgtune.cli.github_action {'|'.join(steps)}", file=sys.stderr)
        return 64
    try:
        return steps[argv[0]]()
    except PgtuneError as exc:
        for line in exc.lines():
            print(f"::error::{command_data(line)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
