"""A Cloud SQL for PostgreSQL instance (--cloudsql-instance PROJECT:INSTANCE): server-wide settings
planned against its database flags and sent in one `instances.patch` carrying the whole list (Cloud
SQL replaces it: what the profile does not manage is sent as the instance has it); a flag that
requires a restart makes Cloud SQL restart the instance at once, so the plan says so and apply needs
--allow-hazards RESTARTS_NOW; the operation is polled to its end, bounded. Every other kind over SQL
on --dsn.

The Cloud SQL target itself (declared in the package's __init__: its option, its flag list for
`validate --service`, its chooser — all a command line needs before one is chosen)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgtune.base.errors import ApplyRefused
from pgtune.targets import RestartReport
from pgtune.targets.store import StoreSession, all_to, not_derived

if TYPE_CHECKING:
    import psycopg

    from pgtune.plan.cluster import ClusterPlan
    from pgtune.plan.model import Change
    from pgtune.targets.cloudsql.api import Client
    from pgtune.targets.workflow import Inputs

REPORT_KEY = "cloudsql"
OPERATION_WAIT = 900.0
"""Longest pgtune waits for a patch's operation (a restart included) to be DONE."""


@dataclass
class CloudSqlStore:
    client: Client
    report_key: str = REPORT_KEY
    per_call: int = 10_000  # every flag in one patch

    def call(self, change: Change) -> Hashable | None:
        return REPORT_KEY if all_to(change, "cloudsql") else None

    def write(self, batch: list[Change]) -> None:
        """The instance's flags as they are now, with the plan's edits: one patch, polled to DONE."""
        from pgtune.base.poll import wait_until
        from pgtune.plan.model import ParameterEdit
        from pgtune.targets.cloudsql.api import CloudSqlError

        flags = dict(self.client.get().flags)
        lower = {k.lower(): k for k in flags}
        for stmt in (s for change in batch for s in change.statements):
            if not isinstance(stmt.action, ParameterEdit) or stmt.action.store != "cloudsql":
                raise CloudSqlError(not_derived("a Cloud SQL"))
            name = lower.get(stmt.action.key.lower(), stmt.action.key)
            if stmt.action.value is None:
                flags.pop(name, None)
            else:
                flags[name] = stmt.action.value
        operation = self.client.patch(flags)
        done = lambda: self.client.operation_done(operation)  # noqa: E731
        wait_until(done, OPERATION_WAIT, f"operation {operation}", CloudSqlError)

    def wait_settled(self, plan: ClusterPlan) -> None:
        """The patch's operation is DONE already (restart included): nothing more to wait for."""


@dataclass
class CloudSqlSession(StoreSession):
    client: Client

    def derive_on(self, conn: psycopg.Connection, inputs: Inputs) -> ClusterPlan:
        from pgtune.targets.cloudsql.derive import derive

        return derive(self.client, conn, self.dsn, inputs)

    def store(self) -> CloudSqlStore:
        return CloudSqlStore(self.client)

    def restart(self, inputs: Inputs, on_step: Callable[[str], None] | None) -> RestartReport:
        raise ApplyRefused("Cloud SQL restarts the instance itself, with the patch that needs it (RESTARTS_NOW)")


@dataclass(frozen=True)
class CloudSqlInstance:
    instance_id: str
    dsn: str
    http: Any = None  # tests give a fake's; else google-auth's authorized, bounded HTTP
    name: str = "Cloud SQL instance"
    restarts: bool = False  # Cloud SQL restarts by itself, with the patch
    finish: str = "Cloud SQL restarts the instance itself with a patch that needs it (--allow-hazards RESTARTS_NOW)."

    @contextmanager
    def open(self) -> Iterator[CloudSqlSession]:
        from pgtune.integrations.postgres import connect
        from pgtune.targets.cloudsql.api import Client, InstanceId

        client = Client(InstanceId.parse(self.instance_id), self.http)
        with connect(self.dsn) as conn:
            yield CloudSqlSession(conn, self.dsn, client)
