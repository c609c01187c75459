"""An Azure Database for PostgreSQL flexible server (--azure-server RESOURCE_ID): server-wide settings
planned against its configurations and written one at a time (the service refuses parallel writes),
waiting for the server to be Ready before each, bounded; every other kind over SQL on --dsn; restarts
only with apply --restart, after the writes, read replicas first.

The Azure flexible server target itself (declared in the package's __init__: its option, its
parameter list for `validate --service`, its chooser — all a command line needs before one is chosen)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgtune.targets import RestartReport, restart_walk
from pgtune.targets.store import StoreSession, all_to, grace_until_running, not_derived

if TYPE_CHECKING:
    import psycopg

    from pgtune.plan.cluster import ClusterPlan, RestartStep
    from pgtune.plan.model import Change
    from pgtune.targets.azure.api import Client
    from pgtune.targets.workflow import Inputs

REPORT_KEY = "azure"
READY_WAIT = 600.0
"""Longest pgtune waits for the server to be Ready (before a write, after a restart)."""


def wait_ready(client: Client, server: str | None = None, wait: float = READY_WAIT) -> None:
    from pgtune.base.poll import wait_until
    from pgtune.targets.azure.api import AzureError

    ready = f"{server or client.resource.server} to be Ready"
    wait_until(lambda: client.state(server).lower() == "ready", wait, ready, AzureError)


@dataclass
class AzureStore:
    client: Client
    dsn: str
    report_key: str = REPORT_KEY
    per_call: int = 1  # one configuration at a time: parallel writes fail with ServerBusy

    def call(self, change: Change) -> Hashable | None:
        return REPORT_KEY if all_to(change, "azure") else None

    def write(self, batch: list[Change]) -> None:
        from pgtune.plan.model import ParameterEdit
        from pgtune.targets.azure.api import AzureError

        for stmt in (s for change in batch for s in change.statements):
            if not isinstance(stmt.action, ParameterEdit) or stmt.action.store != "azure" or stmt.action.value is None:
                raise AzureError(not_derived("an Azure"))
            wait_ready(self.client)
            self.client.update(stmt.action.key, stmt.action.value)

    def wait_settled(self, plan: ClusterPlan) -> None:
        """The server Ready again; then a short grace for it to run each dynamic value."""
        wait_ready(self.client)
        grace_until_running(self.dsn, plan)


@dataclass
class AzureSession(StoreSession):
    client: Client

    def derive_on(self, conn: psycopg.Connection, inputs: Inputs) -> ClusterPlan:
        from pgtune.targets.azure.derive import derive

        return derive(self.client, conn, self.dsn, inputs)

    def store(self) -> AzureStore:
        """The configurations one at a time, then Ready again."""
        return AzureStore(self.client, self.dsn)

    def restart(self, inputs: Inputs, on_step: Callable[[str], None] | None) -> RestartReport:
        from pgtune.integrations.postgres import connect

        with connect(self.dsn) as conn:
            now = self.derive_on(conn, inputs)

        def begin(step: RestartStep) -> tuple[str, Callable[[], object]]:
            return f"restarting {step.node} ({step.role}) through Azure", lambda: self.client.restart(step.node)

        def back(step: RestartStep) -> str:
            wait_ready(self.client, step.node)
            return "Ready"

        return restart_walk(now.restart, begin, back, on_step)


@dataclass(frozen=True)
class AzureServer:
    resource_id: str
    dsn: str
    transport: Any = None  # tests give a fake's transport; else pgtune's bounded one
    credential: Any = None
    name: str = "Azure flexible server"
    restarts: bool = True
    finish: str = "pgtune apply ... --azure-server ID --restart (restarts through Azure, read replicas first)."

    @contextmanager
    def open(self) -> Iterator[AzureSession]:
        from pgtune.integrations.postgres import connect
        from pgtune.targets.azure.api import Client, ResourceId

        client = Client(ResourceId.parse(self.resource_id), self.transport, self.credential)
        with connect(self.dsn) as conn:
            yield AzureSession(conn, self.dsn, client)
