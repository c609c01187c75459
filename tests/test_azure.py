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
from pgtune.targets.azure.target import AzureServer

if TYPE_CHECKING:  # the fake loads the Azure SDK: only the tests that run it import it
    from tests.azure_fake import FakeAzure
from pgtune.targets.executor import ExecOptions
from tests.conftest import _bindir, _timed, run_cli

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


# --- offline: Azure's published parameter list (validate --service azure) -----------------------------


def test_validate_checks_names_against_azures_parameter_tables(tmp_path: Path) -> None:
    profile = tmp_path / "az.yaml"
    profile.write_text(
        "name: az\nsettings:\n  work_mem: 64MB\n  pgbouncer.default_pool_sise: 20\n  pg_qs.query_capture_mode: top\n"
        "  ssl_ciphers: HIGH\n  cron.host: /tmp\n  pgsodium.enable_event_trigger: 'on'\n  intelligent_tuning: 'on'\n"
        "  rds.force_ssl: 1\ndatabases:\n  app:\n    settings:\n      pgsodium.getkey_script: x\n",
        encoding="utf-8",
    )
    result = run_cli("validate", str(profile), "--service", "azure")
    assert result.code == 1, result
    err = result.stderr
    assert (
        "az.yaml:4:3: unknown parameter 'pgbouncer.default_pool_sise' on Azure Database for PostgreSQL flexible "
        "server (not in its PostgreSQL 17 parameter tables); did you mean 'pgbouncer.default_pool_size'" in err
    )
    assert "az.yaml:6:3: ssl_ciphers cannot be set on Azure Database for PostgreSQL flexible server" in err
    assert "az.yaml:7:3: cron.host is read-only on Azure" in err
    assert "az.yaml:8:3: unknown parameter 'pgsodium.enable_event_trigger' on Azure" in err  # not an Azure extension
    assert "az.yaml:10:3: unknown parameter 'rds.force_ssl' on Azure" in err
    for fine in (":3:", ":5:", ":9:", ":14:"):  # PostgreSQL's, Azure's own, a database-level (SQL) setting
        assert f"az.yaml{fine}" not in err
    plain = run_cli("validate", str(profile))  # without the service: extension names are the plan's business
    assert plain.code == 1 and "intelligent_tuning" in plain.stderr  # Azure's own name, PostgreSQL's unknown
    assert "pgbouncer.default_pool_sise" not in plain.stderr


def test_azures_bundled_list_names_real_postgresql_parameters() -> None:
    """The list is transcribed from Microsoft's tables: every PostgreSQL name in it is one PostgreSQL has."""
    import json
    from importlib import resources

    from pgtune.kinds.offline import BUNDLED, description

    data = json.loads(resources.files("pgtune.targets.azure").joinpath("parameters.json").read_text("utf-8"))
    unknown = [n for n in data["postgres"] if not any(n in description(v).specs for v in BUNDLED)]
    assert unknown == ["huge_pages_status"]  # a preset (internal) parameter: the bundles leave those out
    assert {"dynamic", "static", "read-only"} >= set(data["service"].values()) | set(data["postgres"].values())
    assert all("." in n or n == "intelligent_tuning" for n in data["service"])
    assert "--service azure" in run_cli("--verbose", "version").stdout
