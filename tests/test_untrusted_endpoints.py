"""What an endpoint answers is untrusted input (issue 25): a fake Patroni REST API on loopback that
never ends, drips, lies about its members, redirects a PATCH or a restart — and a real PostgreSQL 15
primary + standby behind it where the call must get that far. pgtune ends each with a clear error,
bounded in time and memory, sends nothing to where a redirect points, and runs nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pgtune.integrations.postgres import redact
from pgtune.integrations.sandbox import SUPERUSER
from tests.conftest import REPO, CliResult, Pair, _cli_env, run_cli
from tests.fake_endpoint import FakeEndpoint, drip, endless, redirect, send_bytes, send_json, tls_pair

REST_PASSWORD = "rest-Pw-0f-the-fake"
PROFILE = "name: hostile\nsettings:\n  work_mem: 12MB\n"


@pytest.fixture
def fake() -> Iterator[FakeEndpoint]:
    endpoint = FakeEndpoint()
    yield endpoint
    endpoint.close()


@pytest.fixture
def elsewhere() -> Iterator[FakeEndpoint]:
    """Where a redirect points: it must never be asked anything."""
    endpoint = FakeEndpoint()
    yield endpoint
    endpoint.close()


@pytest.fixture
def pair15_clean(pair15: Pair) -> Iterator[Pair]:
    pair15.reset()
    yield pair15
    pair15.reset()


def _profile(tmp_path: Path, text: str = PROFILE) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return path


def _measured(*args: str, env: dict[str, str] | None = None, tmp: Path) -> tuple[CliResult, int, float]:
    """The real CLI with its peak memory (kB, from wait4's rusage of this very child) and its run time."""
    out, err = tmp / "stdout", tmp / "stderr"
    started = time.monotonic()
    with out.open("w") as fo, err.open("w") as fe:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pgtune", *args], cwd=REPO, env=_cli_env(env), stdout=fo, stderr=fe, text=True
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return CliResult(proc.returncode, out.read_text(), err.read_text()), usage.ru_maxrss, time.monotonic() - started


def _member(name: str, role: str, port: int, api: str, **extra: Any) -> dict[str, Any]:
    state = "running" if role == "leader" else "streaming"
    return {"name": name, "role": role, "state": state, "host": "127.0.0.1", "port": port, "api_url": api, **extra}


def _clean(result: CliResult) -> None:
    assert result.code == 1, result.stdout + result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_an_endless_answer_ends_at_the_size_cap(fake: FakeEndpoint, tmp_path: Path) -> None:
    fake.routes[("GET", "/cluster")] = endless(fake.stop)
    result, peak_kb, seconds = _measured(
        "plan", str(_profile(tmp_path)), "--patroni", fake.url, "--dsn", "dbname=postgres", tmp=tmp_path
    )
    _clean(result)
    assert "Patroni GET" in result.stderr and "/cluster: the answer went on past the limit" in result.stderr
    assert peak_kb < 400 * 1024, f"peak RSS {peak_kb} kB"
    assert seconds < 60


def test_a_drip_ends_at_the_deadline(fake: FakeEndpoint, tmp_path: Path) -> None:
    fake.routes[("GET", "/cluster")] = drip(fake.stop)
    started = time.monotonic()
    result = run_cli(
        "plan",
        str(_profile(tmp_path)),
        "--patroni",
        fake.url,
        "--dsn",
        "dbname=postgres",
        env={"PGTUNE_HTTP_TIMEOUT": "1"},  # a byte every 0.2 s: each read is quick, the whole answer never is
    )
    elapsed = time.monotonic() - started
    _clean(result)
    assert "/cluster: no complete answer within 1s ($PGTUNE_HTTP_TIMEOUT)" in result.stderr
    assert "no members" not in result.stderr
    assert elapsed < 1 + 8, elapsed  # the deadline, plus the interpreter's start


BROKEN_CLUSTERS: dict[str, tuple[bytes, str]] = {
    "a member without a name": (
        json.dumps(
            {
                "members": [
                    {
                        "role": "leader",
                        "state": "running",
                        "host": "h",
                        "port": 5432,
                        "api_url": "http://h:8008/patroni",
                    }
                ]
            }
        ).encode(),
        "members[0].name: Field required",
    ),
    "an ill-typed port": (
        json.dumps(
            {
                "members": [
                    {
                        "name": "n1",
                        "role": "leader",
                        "state": "running",
                        "host": "h",
                        "port": "x;y",
                        "api_url": "http://h:8008/patroni",
                    }
                ]
            }
        ).encode(),
        "members[0].port: Input should be a valid integer",
    ),
    "a host that is not one": (
        json.dumps(
            {
                "members": [
                    {
                        "name": "n1",
                        "role": "leader",
                        "state": "running",
                        "host": "h port=1",
                        "api_url": "http://h:8008/patroni",
                    }
                ]
            }
        ).encode(),
        "members[0].host: Value error, not a host name",
    ),
    "an api_url with credentials": (
        json.dumps(
            {
                "members": [
                    {
                        "name": "n1",
                        "role": "leader",
                        "state": "running",
                        "host": "h",
                        "port": 1,
                        "api_url": "http://u:p@h:8008/patroni",
                    }
                ]
            }
        ).encode(),
        "members[0].api_url: Value error, carries credentials",
    ),
    "no members key": (b'{"scope": "x"}', "members: Field required"),
    "members twice": (
        json.dumps({"members": [_member("n1", "leader", 1, "http://h:1/patroni")] * 2}).encode(),
        "members named twice: n1",
    ),
    "not JSON": (b"<html>maintenance</html>", "the answer is not JSON"),
    "a JSON list": (b"[]", "the answer is not a JSON object"),
    "no members": (b'{"members": []}', "Patroni reports no members"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_CLUSTERS))
def test_a_broken_cluster_answer_is_a_clear_error(case: str, fake: FakeEndpoint, tmp_path: Path) -> None:
    body, expected = BROKEN_CLUSTERS[case]
    fake.routes[("GET", "/cluster")] = lambda h: send_bytes(h, body)
    result = run_cli("plan", str(_profile(tmp_path)), "--patroni", fake.url, "--dsn", "dbname=postgres")
    _clean(result)
    assert f"Patroni GET {fake.url}/cluster" in result.stderr, result.stderr
    assert expected in result.stderr, result.stderr


def test_a_truncated_answer_is_never_read_as_an_empty_one(fake: FakeEndpoint, tmp_path: Path) -> None:
    fake.routes[("GET", "/cluster")] = lambda h: send_bytes(h, b'{"members": [', length=5000)
    result = run_cli("plan", str(_profile(tmp_path)), "--patroni", fake.url, "--dsn", "dbname=postgres")
    _clean(result)
    assert f"Patroni GET {fake.url}/cluster" in result.stderr
    assert "no members" not in result.stderr


def _patroni_of(pair: Pair, fake: FakeEndpoint, **member: Any) -> None:
    """The fake answers as Patroni would for the real pair: the primary leads, the standby streams."""
    members = [
        _member("pg-a", "leader", pair.primary.port, f"{fake.url}/patroni", **member),
        _member("pg-b", "replica", pair.standby.port, f"{fake.url}/patroni", **member),
    ]
    fake.routes[("GET", "/cluster")] = lambda h: send_json(h, {"members": members, "scope": "fake"})
    fake.routes[("GET", "/config")] = lambda h: send_json(h, {"ttl": 30, "postgresql": {"parameters": {}}})


def _with_credentials(url: str) -> str:
    return url.replace("http://", f"http://pgtune-admin:{REST_PASSWORD}@")


SQL_DSN = f"user={SUPERUSER} dbname=postgres"


def test_a_redirected_patch_sends_nothing_elsewhere(
    pair15_clean: Pair, fake: FakeEndpoint, elsewhere: FakeEndpoint, tmp_path: Path
) -> None:
    _patroni_of(pair15_clean, fake)
    fake.routes[("PATCH", "/config")] = redirect(f"{elsewhere.url}/config")
    result = run_cli(
        "apply", str(_profile(tmp_path)), "--patroni", _with_credentials(fake.url), "--dsn", SQL_DSN, "--yes"
    )
    _clean(result)
    assert f"HTTP 307 redirects to '{elsewhere.url}/config'" in result.stdout, result.stdout  # the apply report
    assert elsewhere.seen == []  # not the PATCH, not the credentials
    patch = [s for s in fake.seen if s.method == "PATCH"]
    assert len(patch) == 1 and patch[0].headers["Authorization"].startswith("Basic ")  # the origin given
    assert json.loads(patch[0].body) == {"postgresql": {"parameters": {"work_mem": "12MB"}}}
    assert all("Authorization" not in s.headers for s in fake.seen if s.method == "GET")
    # A password in the URL: warned about, never printed.
    assert "a password was given on the command line" in result.stderr
    assert REST_PASSWORD not in result.stdout + result.stderr
    for node in (pair15_clean.primary, pair15_clean.standby):
        assert pair15_clean.show(node, "work_mem") == "4MB"  # never ALTER SYSTEM on a member


def test_a_redirected_restart_sends_nothing_elsewhere(
    pair15_clean: Pair, fake: FakeEndpoint, elsewhere: FakeEndpoint, tmp_path: Path
) -> None:
    _patroni_of(pair15_clean, fake, pending_restart=True, pending_restart_reason={"shared_buffers": {}})
    fake.routes[("POST", "/restart")] = redirect(f"{elsewhere.url}/restart", status=302)
    result = run_cli(
        "apply",
        str(_profile(tmp_path, "name: hostile\n")),
        "--patroni",
        fake.url,
        "--dsn",
        SQL_DSN,
        "--yes",
        "--restart",
        env={"PGTUNE_PATRONI_USER": "pgtune-admin", "PGTUNE_PATRONI_PASSWORD": REST_PASSWORD},
    )
    _clean(result)
    assert f"HTTP 302 redirects to '{elsewhere.url}/restart'" in result.stderr, result.stderr
    assert "a password was given on the command line" not in result.stderr  # the environment is the way
    assert elsewhere.seen == []
    posts = [s for s in fake.seen if s.method == "POST"]
    assert [s.path for s in posts] == ["/restart"]  # the first member's restart, then nothing more


def test_the_password_leaves_the_process_title(fake: FakeEndpoint, tmp_path: Path) -> None:
    """ps and /proc/PID/cmdline show the arguments masked once pgtune runs (setproctitle)."""
    fake.routes[("GET", "/cluster")] = drip(fake.stop)
    env = _cli_env({"PGTUNE_HTTP_TIMEOUT": "20"})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pgtune",
            "plan",
            str(_profile(tmp_path)),
            "--patroni",
            _with_credentials(fake.url),
            "--dsn",
            "dbname=postgres",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        deadline = time.monotonic() + 15
        shown = ""
        while time.monotonic() < deadline and proc.poll() is None:
            shown = cmdline.read_bytes().decode(errors="replace")
            if "****" in shown:
                break
            time.sleep(0.02)  # polling the process's state, bounded by the deadline
        assert proc.poll() is None, "pgtune ended before its title could be read"
        assert "****" in shown and REST_PASSWORD not in shown, shown
        assert "--patroni" in shown  # the rest of the arguments stay readable
    finally:
        proc.kill()
        _out, err = proc.communicate(timeout=30)
    assert REST_PASSWORD not in err


def test_the_same_standby_under_two_spellings_is_refused(
    pair15_clean: Pair, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    standby = pair15_clean.standby.dsn()
    spellings = [standby, standby.replace("host=127.0.0.1", "host=localhost")]
    position = pair15_clean.primary.log.stat().st_size
    args = [a for dsn in [pair15_clean.primary.dsn(), *spellings] for a in ("--dsn", dsn)]
    for command in (["plan"], ["apply", "--yes"]):
        result = cli(command[0], str(_profile(tmp_path)), *args, *command[1:])
        _clean(result)
        assert "the same node was given twice" in result.stderr, result.stderr
        shown = [redact(s) for s in spellings]  # as pgtune prints a DSN
        assert f"{shown[0]!r} and {shown[1]!r} reach the same server" in result.stderr, result.stderr
    log = pair15_clean.primary.log.read_text(errors="replace")[position:]
    assert "ALTER SYSTEM" not in log
    for node in (pair15_clean.primary, pair15_clean.standby):
        assert pair15_clean.show(node, "work_mem") == "4MB"


def test_https_is_verified_against_the_ca_bundle_given(tmp_path: Path) -> None:
    """A REST API with its own CA: refused unverified; trusted through $PGTUNE_HTTP_CACERT, never by turning
    verification off."""
    context, ca_file = tls_pair(tmp_path)
    endpoint = FakeEndpoint(tls=context)
    try:
        endpoint.routes[("GET", "/cluster")] = lambda h: send_json(h, {"members": []})
        args = ("plan", str(_profile(tmp_path)), "--patroni", endpoint.url, "--dsn", "dbname=postgres")
        unverified = run_cli(*args)
        _clean(unverified)
        assert "CERTIFICATE_VERIFY_FAILED" in unverified.stderr or "certificate verify failed" in unverified.stderr
        trusted = run_cli(*args, env={"PGTUNE_HTTP_CACERT": str(ca_file)})
        _clean(trusted)
        assert "Patroni reports no members" in trusted.stderr, trusted.stderr  # the TLS exchange went through
        missing = run_cli(*args, env={"PGTUNE_HTTP_CACERT": str(tmp_path / "nope.pem")})
        _clean(missing)
        assert "$PGTUNE_HTTP_CACERT: cannot read a CA bundle" in missing.stderr
    finally:
        endpoint.close()
