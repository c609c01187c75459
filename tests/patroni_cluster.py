"""A throwaway 2-node Patroni cluster for tests: Patroni from PyPI (the test extra) with its
built-in Raft DCS (no etcd), PostgreSQL from a bin directory, everything on 127.0.0.1 with ports
free at start time. Patroni runs as the unprivileged OS user the test servers use."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgtune.integrations.sandbox import _os_user, _readable_bindir, free_port

PATRONI_VENV = Path(os.environ.get("PGTUNE_PATRONI_VENV", "/opt/pgtune-patroni"))
"""Patroni's own virtualenv (scripts/bootstrap --test): made from the system Python, so the
unprivileged user PostgreSQL runs as can execute it (the project's venv may live under /root)."""
REST_USER, REST_PASSWORD = "pgtune-admin", "rest-Secr3t-pw"
BOOTSTRAP: dict[str, Any] = {"shared_buffers": "32MB", "fsync": "off", "max_connections": 60}
"""The DCS parameters the cluster starts with (and every test is reset to)."""
SUPERUSER, SUPER_PASSWORD = "postgres", "super-Secr3t-pw"


@dataclass
class Member:
    name: str
    pg_port: int
    rest_port: int
    raft_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.pg_port} user={SUPERUSER} password={SUPER_PASSWORD} dbname=postgres"


@dataclass
class PatroniCluster:
    bindir: Path
    scope: str = "pgtune-ci"
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pgtune-patroni-")))
    members: list[Member] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.user = _os_user()
        self.bindir = _readable_bindir(self.bindir, self.user)
        os.chmod(self.root, 0o755)
        taken: set[int] = set()

        def port() -> int:
            while (p := free_port()) in taken:
                continue
            taken.add(p)
            return p

        self.members = [Member(f"n{i}", port(), port(), port()) for i in (1, 2)]

    @property
    def url(self) -> str:
        """The REST API of the first member, credentials in the URL (as a user might give it)."""
        return f"http://{REST_USER}:{REST_PASSWORD}@127.0.0.1:{self.members[0].rest_port}"

    def sql_dsn(self) -> str:
        """Credentials for SQL on every member (host and port come from Patroni)."""
        return f"user={SUPERUSER} password={SUPER_PASSWORD} dbname=postgres"

    def _config(self, m: Member) -> str:
        other = next(o for o in self.members if o is not m)
        d = self.root / m.name
        return json.dumps(
            {
                "scope": self.scope,
                "name": m.name,
                "log": {"dir": str(d), "level": "INFO"},
                "restapi": {
                    "listen": f"127.0.0.1:{m.rest_port}",
                    "connect_address": f"127.0.0.1:{m.rest_port}",
                    "authentication": {"username": REST_USER, "password": REST_PASSWORD},
                },
                "raft": {
                    "data_dir": str(d / "raft"),
                    "self_addr": f"127.0.0.1:{m.raft_port}",
                    "partner_addrs": [f"127.0.0.1:{other.raft_port}"],
                },
                "bootstrap": {
                    "dcs": {
                        "ttl": 20,
                        "loop_wait": 2,
                        "retry_timeout": 5,
                        "postgresql": {
                            "use_pg_rewind": False,
                            "parameters": dict(BOOTSTRAP),
                        },
                    },
                    "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}],
                },
                "postgresql": {
                    "listen": f"127.0.0.1:{m.pg_port}",
                    "connect_address": f"127.0.0.1:{m.pg_port}",
                    "data_dir": str(d / "data"),
                    "bin_dir": str(self.bindir),
                    "pgpass": str(d / "pgpass"),
                    "authentication": {
                        "superuser": {"username": SUPERUSER, "password": SUPER_PASSWORD},
                        "replication": {"username": "replicator", "password": "repl-Secr3t-pw"},
                    },
                    "parameters": {"unix_socket_directories": str(d)},
                    "pg_hba": [
                        "local all all trust",
                        "host replication replicator 127.0.0.1/32 scram-sha-256",
                        "host all all 127.0.0.1/32 scram-sha-256",
                    ],
                },
            }
        )

    def start(self, timeout: float = 90) -> PatroniCluster:
        patroni = PATRONI_VENV / "bin" / "patroni"
        if not patroni.exists():
            raise FileNotFoundError(f"{patroni} is missing: run scripts/bootstrap --test")
        for m in self.members:
            d = self.root / m.name
            d.mkdir(mode=0o700)
            config = d / "patroni.yml"
            config.write_text(self._config(m), encoding="utf-8")
            if self.user:
                info = pwd.getpwnam(self.user)
                for path in (d, config):
                    os.chown(path, info.pw_uid, info.pw_gid)
            cmd = [str(patroni), str(config)]
            if self.user:
                cmd = ["runuser", "-u", self.user, "--", *cmd]
            log = (d / "patroni.out").open("wb")
            m.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=d, start_new_session=True)
        self.wait(lambda: self._ready(), timeout, "the Patroni cluster to have a leader and a streaming replica")
        return self

    def _ready(self) -> bool:
        members = self.cluster().get("members", [])
        roles = sorted(m.get("role") for m in members)
        streaming = [m for m in members if m.get("role") != "leader" and m.get("state") == "streaming"]
        return roles == ["leader", "replica"] and len(streaming) == 1

    def request(self, path: str, method: str = "GET", body: Any = None, api: str | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request((api or self.members[0].api) + path, data=data, method=method)
        token = base64.b64encode(f"{REST_USER}:{REST_PASSWORD}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                text = resp.read().decode()
                return resp.status, json.loads(text) if text.strip().startswith(("{", "[")) else text
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (urllib.error.URLError, OSError):
            return 0, None

    def cluster(self) -> dict[str, Any]:
        status, doc = self.request("/cluster")
        return doc if status == 200 and isinstance(doc, dict) else {}

    def config(self) -> dict[str, Any]:
        _status, doc = self.request("/config")
        return doc if isinstance(doc, dict) else {}

    @staticmethod
    def wait(condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if condition():
                    return
            time.sleep(0.2)
        raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")

    def leader(self) -> Member:
        name = next(m["name"] for m in self.cluster()["members"] if m["role"] == "leader")
        return next(m for m in self.members if m.name == name)

    def replica(self) -> Member:
        return next(m for m in self.members if m is not self.leader())

    def auto_conf_rows(self, m: Member) -> list[tuple[str, str]]:
        import psycopg

        with psycopg.connect(m.dsn(), autocommit=True) as conn:
            return conn.execute(
                "SELECT name, setting FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf'"
            ).fetchall()

    def show(self, m: Member, name: str) -> str:
        import psycopg

        with psycopg.connect(m.dsn(), autocommit=True) as conn:
            row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
        assert row is not None
        return str(row[0])

    def settled(self) -> bool:
        """A leader, a streaming replica, nothing pending."""
        members = self.cluster().get("members", [])
        return self._ready() and not any(m.get("pending_restart") for m in members)

    def caught_up(self) -> bool:
        """The replica streams and has replayed everything the leader has written so far."""
        from pgtune.plan.cluster import Node, Topology
        from pgtune.targets.topology import caught_up

        leader, replica = self.leader(), self.replica()
        return caught_up(
            Topology((Node(leader.name, leader.dsn(), "primary", 0), Node(replica.name, replica.dsn(), "standby", 0)))
        )

    def reset(self, timeout: float = 120) -> None:
        """Back to the bootstrap configuration: other DCS keys removed, members' ALTER SYSTEM entries
        reset, pending restarts done in the safe order, every member settled."""
        import psycopg

        params = self.config().get("postgresql", {}).get("parameters", {})
        patch: dict[str, Any] = {k: None for k in params if k not in BOOTSTRAP}
        # max_connections is left as a test raised it (tests raise it from wherever it is): taking it
        # back down would cost two ordered restarts per test.
        patch |= {k: v for k, v in BOOTSTRAP.items() if k != "max_connections" and str(params.get(k)) != str(v)}
        if patch:
            status, body = self.request("/config", "PATCH", {"postgresql": {"parameters": patch}})
            assert status == 200, body
        for m in self.members:
            with psycopg.connect(m.dsn(), autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT DISTINCT name FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf' "
                    "AND name NOT IN ('primary_conninfo', 'primary_slot_name')"
                ).fetchall()
                for (name,) in rows:
                    conn.execute(psycopg.sql.SQL("ALTER SYSTEM RESET {}").format(psycopg.sql.Identifier(name)))
                conn.execute("SELECT pg_reload_conf()")
        self.wait(self._ready, timeout, "a leader and a streaming replica")
        wanted = str(params.get("max_connections", BOOTSTRAP["max_connections"]))

        def noticed() -> bool:  # Patroni's next loop applies the DCS: running it, or pending a restart
            members = {m["name"]: m for m in self.cluster()["members"]}
            return all(
                self.show(m, "max_connections") == wanted or members[m.name].get("pending_restart")
                for m in self.members
            )

        self.wait(noticed, timeout, "Patroni to apply the bootstrap configuration")
        cut = int(self.show(self.leader(), "max_connections")) > int(wanted)
        for member in (self.leader(), self.replica()) if cut else (self.replica(), self.leader()):
            info = next(m for m in self.cluster()["members"] if m["name"] == member.name)
            if not info.get("pending_restart"):
                continue
            status, body = self.request("/restart", "POST", {"restart_pending": True}, api=member.api)
            assert status == 200, body
            self.wait(self.settled_member(member.name), timeout, f"{member.name} to restart")
            self.wait(self.caught_up, timeout, "the replica to catch up")
        self.wait(self.settled, timeout, "the cluster to settle")

    def settled_member(self, name: str) -> Any:
        def done() -> bool:
            info = next(m for m in self.cluster()["members"] if m["name"] == name)
            return not info.get("pending_restart") and info["state"] in ("running", "streaming") and self._ready()

        return done

    def stop(self) -> None:
        for m in self.members:
            if m.process is not None and m.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(m.process.pid, signal.SIGTERM)
        for m in self.members:
            if m.process is not None:
                try:
                    m.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(m.process.pid, signal.SIGKILL)
        subprocess.run(["pkill", "-9", "-f", "--", f"-D {self.root}"], check=False)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
