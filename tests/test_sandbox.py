"""The suite's own servers: a port taken between the kernel's answer and the server's start (another
test's server, another worker's) is retried with a new one, boundedly."""

from __future__ import annotations

import socket

import pytest

from pgtune.integrations.sandbox import LocalCluster
from tests.conftest import _bindir


@pytest.mark.server
def test_a_taken_port_is_retried_with_another() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cluster = LocalCluster(_bindir("15"))
        cluster.port = taken.getsockname()[1]  # as if another server had just taken it
        try:
            cluster.init().start()
            assert cluster.port != taken.getsockname()[1]
            with cluster.connect() as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            cluster.destroy()
