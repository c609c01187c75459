"""One PostgreSQL server: every kind on it, ALTER SYSTEM for server-wide settings, restarts the
operator's (a plan says when one is needed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pgtune.base.errors import ApplyRefused
from pgtune.targets import RestartReport, Where, register

if TYPE_CHECKING:
    import psycopg

    from pgtune.plan.model import Plan
    from pgtune.plan.report import ApplyReport, Outcome
    from pgtune.targets.executor import ExecOptions
    from pgtune.targets.workflow import Inputs

NODE = ""
"""A single server's report key (clusters key theirs by node name)."""


@dataclass
class ServerSession:
    dsn: str
    conn: psycopg.Connection

    def lock(self, wait: float) -> AbstractContextManager[None]:
        from pgtune.targets.lock import apply_lock

        return apply_lock(self.conn, wait)

    def derive(self, inputs: Inputs) -> Plan:
        from pgtune.targets.workflow import derive

        return derive(self.conn, inputs, self.dsn)

    def gated(self, plan: Plan) -> list[Plan]:
        return [plan]

    def execute(
        self, plan: Plan, inputs: Inputs, options: ExecOptions, on_outcome: Callable[[Outcome], None] | None
    ) -> dict[str, ApplyReport]:
        from pgtune.targets.executor import execute
        from pgtune.targets.workflow import bouncer_for

        with bouncer_for(plan, inputs.loaded) as bouncer:
            return {NODE: execute(plan, self.conn, options, on_outcome=on_outcome, bouncer=bouncer)}

    def restart(self, inputs: Inputs, on_step: Callable[[str], None] | None) -> RestartReport:
        raise ApplyRefused("pgtune does not restart a single server: restart it when the plan says so")

    def reread(self, inputs: Inputs) -> Plan:
        from pgtune.integrations.postgres import connect
        from pgtune.targets.workflow import derive

        with connect(self.dsn) as conn:
            return derive(conn, inputs, self.dsn)


@dataclass(frozen=True)
class Server:
    dsn: str
    name: str = "server"
    restarts: bool = False

    @contextmanager
    def open(self) -> Iterator[ServerSession]:
        from pgtune.integrations.postgres import connect

        with connect(self.dsn) as conn:
            yield ServerSession(self.dsn, conn)


def _choose(where: Where) -> Server | None:
    return Server(where.base_dsn) if len(where.dsns) <= 1 and where.option("patroni") is None else None


register(_choose)
