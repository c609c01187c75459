"""Settings kept outside the server: a target whose server-wide settings live in a store (Patroni's
DCS, an RDS parameter group; later an operator's manifest or a cloud API) gives a `Store`, and
`execute_with_store` is the one execute step of all of them — the primary's SQL changes, then the
store's changes through the one executor, then wait (bounded) until the nodes have them."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import psycopg

    from pgtune.plan.cluster import ClusterPlan
    from pgtune.plan.model import Change, Plan
    from pgtune.plan.report import ApplyReport, Outcome
    from pgtune.targets.executor import ExecOptions
    from pgtune.targets.workflow import Inputs


class Store(Protocol):
    """What the executor needs to write a store's changes, and the step needs to wait for them."""

    @property
    def report_key(self) -> str:
        """The key of the store's report beside the nodes' (pgtune.targets.DCS, GROUP)."""
        ...

    @property
    def per_call(self) -> int:
        """At most this many changes in one write (one call of the store's API)."""
        ...

    def call(self, change: Change) -> Hashable | None:
        """The call a change belongs to: consecutive changes of the same call are written together;
        None when the change is not the store's (it runs over SQL or PgBouncer as usual)."""
        ...

    def write(self, batch: list[Change]) -> None:
        """One call for these changes; raises an EndpointError (reported per change) when it fails."""
        ...

    def wait_settled(self, plan: ClusterPlan) -> None:
        """Wait (bounded) until the nodes have the written values, running them or pending a restart."""
        ...


@dataclass
class StoreSession:
    """A service target's session: the SQL kinds on `conn` (its apply lock there), the server-wide
    settings through the target's store; a target gives `derive_on` and `store` (and its restarts)."""

    conn: psycopg.Connection
    dsn: str

    def derive_on(self, conn: psycopg.Connection, inputs: Inputs) -> ClusterPlan:
        raise NotImplementedError

    def store(self) -> Store:
        raise NotImplementedError

    def lock(self, wait: float) -> AbstractContextManager[None]:
        from pgtune.targets.lock import apply_lock

        return apply_lock(self.conn, wait)

    def derive(self, inputs: Inputs) -> ClusterPlan:
        return self.derive_on(self.conn, inputs)

    def gated(self, plan: ClusterPlan) -> list[Plan]:
        return gated(plan)

    def execute(
        self, plan: ClusterPlan, inputs: Inputs, options: ExecOptions, on_outcome: Callable[[Outcome], None] | None
    ) -> dict[str, ApplyReport]:
        return execute_with_store(plan, self.conn, self.store(), inputs, options, on_outcome)

    def reread(self, inputs: Inputs) -> ClusterPlan:
        from pgtune.integrations.postgres import connect

        with connect(self.dsn) as conn:  # the server may have restarted: a fresh connection
            return self.derive_on(conn, inputs)


RUN_GRACE = 10.0
"""Seconds a service's server gets to run the dynamic values it was sent (a reload it does itself)."""


def grace_until_running(dsn: str, plan: ClusterPlan, grace: float = RUN_GRACE) -> None:
    """After a service took the store's values: a short grace for the server --dsn reaches to run
    each dynamic one (pg_settings). What still differs is the re-read's to report, not a failure:
    a value the server cannot be asked about (a formula's text) or one set apart (per role) stays."""
    from contextlib import suppress

    from pgtune.base.poll import PollTimeout, poll
    from pgtune.integrations.postgres import connect
    from pgtune.kinds import settings

    changes = plan.dcs.changes if plan.dcs is not None else ()
    dynamic = [c for c in changes if not c.restart_required and c.after is not None and c.action == "update"]
    if not dynamic or not dsn:
        return

    def running() -> bool:
        with connect(dsn) as conn:
            return all(settings.runs(conn, c.address.name, c.after) is not False for c in dynamic)

    with suppress(PollTimeout):
        poll(running, grace, interval=0.2)


def all_to(change: Change, target: str) -> bool:
    """Whether every statement of `change` goes to this store (`Statement.target`): the one rule of
    each store's `call`."""
    return bool(change.statements) and all(s.target == target for s in change.statements)


def not_derived(what: str) -> str:
    """Why a store statement without its typed action is refused: only what this run derived is sent."""
    return f"{what} statement without its action (not derived by pgtune in this run): not sent"


def gated(plan: ClusterPlan) -> list[Plan]:
    """The plans a store target's hazards are gated over: each node's and the store's."""
    return [*(n.plan for n in plan.plans), *([plan.dcs] if plan.dcs is not None else [])]


def execute_with_store(
    plan: ClusterPlan,
    conn: psycopg.Connection,
    store: Store,
    inputs: Inputs,
    options: ExecOptions,
    on_outcome: Callable[[Outcome], None] | None,
) -> dict[str, ApplyReport]:
    """The primary's SQL changes on `conn`, then (when they all succeeded) the store's, then wait
    until the nodes have them. A failed write is in the report; nothing is waited for then."""
    from pgtune.targets.executor import execute
    from pgtune.targets.workflow import bouncer_for

    reports: dict[str, ApplyReport] = {}
    sql_plan = plan.plans[0].plan
    if not sql_plan.empty:
        with bouncer_for(sql_plan, inputs.loaded) as bouncer:
            reports[plan.topology.primary.name] = execute(
                sql_plan, conn, options, on_outcome=on_outcome, bouncer=bouncer
            )
    if plan.dcs is not None and not plan.dcs.empty and not any(r.failed for r in reports.values()):
        written = execute(plan.dcs, conn, options, on_outcome=on_outcome, store=store)
        reports[store.report_key] = written
        if not written.failed:
            store.wait_settled(plan)
    return reports
