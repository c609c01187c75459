"""Azure Database for PostgreSQL flexible server as a target (issue 46), against a behaviour fake of
its management API backed by a real PostgreSQL 15 (tests/azure_fake.py: the Azure SDK's own client,
models and poller, through a custom transport). plan → apply (one configuration at a time) →
apply --restart (the static ones) → re-plan empty: a dynamic and a static setting, a removed
setting reset to the service's default, Azure's sorted list without a false diff, the SDK's request
shapes; the target adds nothing to the CLI but its option."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pgtune.integrations.sandbox import LocalCluster
from pgtune.profile.loader import load_profile
from pgtune.targets import sequence, workflow
from pgtune.targets.azure import AzureServer

if TYPE_CHECKING:  # the fake loads the Azure SDK: only the tests that run it import it
    from tests.azure_fake import FakeAzure
from pgtune.targets.executor import ExecOptions
from tests.conftest import _bindir, _timed

PROFILE = """\
name: shop
settings:
  work_mem: 64MB                                          # dynamic: runs after the write
  max_connections: 150                                    # static: pending until the restart
  shared_preload_libraries: [pg_stat_statements, auto_explain]   # Azure answers it sorted
  log_min_duration_statement: null                        # back to Azure's default
tables:
  public.orders:
    storage: {fillfactor: 90}
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAzure]:
    from tests.azure_fake import FakeAzure

    cluster = LocalCluster(_bindir("15"))
    try:
        with _timed("azure fake 15"):
            cluster.init().start()
        with cluster.connect() as conn:
            conn.execute("CREATE TABLE orders (id int PRIMARY KEY, total numeric)")
        yield FakeAzure(cluster)
    finally:
        cluster.destroy()


def _target(fake: FakeAzure) -> AzureServer:
    from tests.azure_fake import RESOURCE_ID, FakeCredential

    return AzureServer(RESOURCE_ID, fake.cluster.dsn(), fake.transport(), FakeCredential())


@pytest.mark.server
def test_plan_apply_restart_replan_empty_through_the_azure_api(fake: FakeAzure, tmp_path: Path) -> None:
    fake._update("log_min_duration_statement", "1000")  # a value someone set before: the profile removes it
    profile = tmp_path / "shop.yaml"
    profile.write_text(PROFILE)
    inputs = workflow.Inputs(load_profile(profile))
    plan = sequence.preview(_target(fake), inputs)
    store = {c.address.name: c for c in plan.dcs.changes}
    assert set(store) == {"work_mem", "max_connections", "shared_preload_libraries", "log_min_duration_statement"}
    assert store["work_mem"].after == "65536" and not store["work_mem"].restart_required  # kB, Azure's unit
    assert store["max_connections"].restart_required and store["shared_preload_libraries"].restart_required
    assert store["log_min_duration_statement"].action == "delete" and store["log_min_duration_statement"].after == "-1"
    assert [(c.kind, c.object) for c in plan.plans[0].plan.changes] == [("storage", "public.orders")]
    assert [s.node for s in plan.restart] == ["shop-db"]

    fake.requests.clear()
    done = sequence.apply(_target(fake), inputs, ExecOptions())
    assert not done.failed
    patches = [(path.rsplit("/", 1)[1], body) for method, path, body in fake.requests if method == "PATCH"]
    assert patches == [  # one at a time, in the plan's order, each as the SDK's model writes it
        ("work_mem", {"properties": {"value": "65536", "source": "user-override"}}),
        ("max_connections", {"properties": {"value": "150", "source": "user-override"}}),
        (
            "shared_preload_libraries",
            {"properties": {"value": "pg_stat_statements,auto_explain", "source": "user-override"}},
        ),
        ("log_min_duration_statement", {"properties": {"value": "-1", "source": "user-override"}}),
    ]
    with fake.cluster.connect() as conn:
        assert conn.execute("SHOW work_mem").fetchone() == ("64MB",)  # dynamic: running now
        assert conn.execute("SHOW max_connections").fetchone() == ("100",)  # static: waits for the restart
    after = done.after
    assert after is not None and after.dcs is not None
    assert after.dcs.empty, [(c.address.name, c.before, c.after) for c in after.dcs.changes]
    assert {n.code for n in after.dcs.notices} == {"RESTART_PENDING"}

    restarted = sequence.apply(_target(fake), inputs, ExecOptions(), restart=True)
    assert restarted.restarts is not None and restarted.restarts.done == ["shop-db"]
    from tests.azure_fake import RESOURCE_ID

    assert ("POST", f"{RESOURCE_ID}/restart", None) in [(m, p, b) for m, p, b in fake.requests]
    with fake.cluster.connect() as conn:
        assert conn.execute("SHOW max_connections").fetchone() == ("150",)
        assert conn.execute("SHOW shared_preload_libraries").fetchone() == ("pg_stat_statements, auto_explain",)
    again = sequence.preview(_target(fake), inputs)
    assert again.empty and not again.restart and not again.dcs.notices  # sorted list: no false diff


@pytest.mark.server
def test_a_value_azure_does_not_allow_or_a_name_it_does_not_offer_is_refused(fake: FakeAzure, tmp_path: Path) -> None:
    profile = tmp_path / "bad.yaml"
    profile.write_text("name: bad\nsettings:\n  max_connections: 6000\n  wal_level: logical\n")
    from pgtune.base.errors import PgtuneError

    with pytest.raises(PgtuneError) as raised:
        sequence.preview(_target(fake), workflow.Inputs(load_profile(profile)))
    text = str(raised.value)
    assert "bad.yaml:3:20: max_connections: 6000 is outside the service's allowed 25-5000" in text
    assert "bad.yaml:4:3: wal_level: not a parameter Azure Database for PostgreSQL lets users set" in text


def test_the_sdks_requests_go_through_the_bounded_client() -> None:
    """pgtune's transport: what the SDK sends reaches the server as sent; an answer past the size cap is refused."""
    import http.server
    import threading

    from azure.core.rest import HttpRequest

    from pgtune.integrations.endpoints import MAX_BODY
    from pgtune.targets.azure.api import AzureError
    from pgtune.targets.azure.transport import BoundedTransport

    seen: list[tuple[str, str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PATCH(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.command, self.path, body))
            answer = b'{"ok": true}' if "big" not in self.path else b"x" * (MAX_BODY + 10)
            self.send_response(202)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None: ...

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        request = HttpRequest("PATCH", f"{url}/configurations/work_mem?api-version=x", content=b'{"v": 1}')
        got = BoundedTransport(AzureError).send(request)
        assert got.status_code == 202 and got.read() == b'{"ok": true}'
        assert seen == [("PATCH", "/configurations/work_mem?api-version=x", b'{"v": 1}')]
        with pytest.raises(AzureError):
            BoundedTransport(AzureError).send(HttpRequest("PATCH", f"{url}/big", content=b"{}"))
    finally:
        server.shutdown()


def test_a_bearer_token_the_sdk_sends_is_kept_out_of_output() -> None:
    from pgtune.base.redact import scrub_known
    from pgtune.integrations.endpoints import remember_bearer

    remember_bearer({"Authorization": "Bearer eyJ0eXAiOiJKV1Qi.secret-part.sig"})
    assert "eyJ0eXAiOiJKV1Qi.secret-part.sig" not in scrub_known("answer echoed eyJ0eXAiOiJKV1Qi.secret-part.sig")
