"""Over a Unix socket (how deploy jobs on the database host connect) a converged profile plans
empty, like over TCP: settings whose SHOW reads the session's TCP socket are judged from the files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO, CliResult, Server

Cli = Callable[..., CliResult]

PROFILE = """
name: socket
settings:
  tcp_keepalives_idle: 30
  tcp_keepalives_interval: 10s
  tcp_keepalives_count: 5
  tcp_user_timeout: 10s
  work_mem: 16MB
"""


def _socket_dsn(server: Server) -> str:
    return f"host={server.cluster.root} port={server.cluster.port} user=postgres dbname=postgres"


def test_keepalives_converge_over_the_socket_and_tcp(pg: Server, cli: Cli, write_profile: Callable[..., Path]) -> None:
    profile = write_profile(PROFILE)
    socket = _socket_dsn(pg)
    assert pg.one("SELECT inet_server_addr() IS NULL") is False  # the helper's own TCP session
    applied = cli("apply", str(profile), "--dsn", socket, "--yes")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert "still differs" not in applied.stdout + applied.stderr
    for dsn in (socket, pg.dsn):
        again = cli("plan", str(profile), "--dsn", dsn, "--detailed-exitcode")
        assert again.code == 0, (dsn, again.stdout + again.stderr)
    assert pg.show("tcp_keepalives_idle") == "30"  # over TCP the server shows what it runs


def test_shipped_profiles_converge_over_the_socket(pg: Server, cli: Cli) -> None:
    profile = REPO / "profiles" / "oltp.yaml"
    socket = _socket_dsn(pg)
    assert cli("apply", str(profile), "--dsn", socket, "--yes").code == 0
    again = cli("plan", str(profile), "--dsn", socket, "--detailed-exitcode")
    assert again.code == 0, again.stdout + again.stderr
