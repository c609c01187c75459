"""An RDS parameter group (--rds-parameter-group NAME): server-wide settings planned against the
group and sent with ModifyDBParameterGroup (at most 20 a call) under the apply lock on the
instance --dsn reaches; every other kind over SQL there; reboots through RebootDBInstance,
readers first and the writer last, each waited for.

The target itself; the package's __init__ declares its options and chooser (all a command line
needs before one is chosen); `flow.py` and `group.py` hold the group's rules."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pgtune.targets import GROUP, RestartReport
from pgtune.targets.store import execute_with_store, gated, not_derived

if TYPE_CHECKING:
    import psycopg

    from pgtune.integrations.rds.api import Client
    from pgtune.plan.cluster import ClusterPlan
    from pgtune.plan.model import Change, Plan
    from pgtune.plan.report import ApplyReport, Outcome
    from pgtune.targets.executor import ExecOptions
    from pgtune.targets.rds.flow import Groups
    from pgtune.targets.workflow import Inputs


@dataclass(frozen=True)
class GroupStore:
    """A parameter group as the settings' store: consecutive parameters of one group in one
    ModifyDBParameterGroup (or ResetDBParameterGroup) call, at most 20 a call."""

    client: Client
    target: RdsParameterGroup
    report_key: str = GROUP

    @property
    def per_call(self) -> int:
        from pgtune.integrations.rds.api import MAX_PER_CALL

        return MAX_PER_CALL

    def call(self, change: Change) -> Hashable | None:
        """(group, cluster group, reset): the call a parameter's change belongs to."""
        from pgtune.plan.model import GroupEdit

        if len(change.statements) != 1 or change.statements[0].target != "rds":
            return None
        action = change.statements[0].action
        if not isinstance(action, GroupEdit):
            return ("", False, False)
        return (action.group, action.cluster, action.value is None)

    def write(self, batch: list[Change]) -> None:
        from pgtune.integrations.rds.api import Edit, RdsError
        from pgtune.plan.model import GroupEdit

        edits, actions = [], []
        for change in batch:
            action = change.statements[0].action
            if not isinstance(action, GroupEdit):
                raise RdsError(not_derived("an RDS"))
            actions.append(action)
            edits.append(Edit(action.key, action.value, action.apply_method))
        first = actions[0]
        if first.value is None:
            self.client.reset(first.group, edits, cluster=first.cluster)
        else:
            self.client.modify(first.group, edits, cluster=first.cluster)

    def wait_settled(self, plan: ClusterPlan) -> None:
        from pgtune.targets.rds.flow import settled

        t = self.target
        settled(self.client, t.groups, plan, t.dsn, t.instance)


@dataclass
class GroupSession:
    client: Client
    target: RdsParameterGroup
    conn: psycopg.Connection

    def lock(self, wait: float) -> AbstractContextManager[None]:
        from pgtune.targets.lock import apply_lock

        return apply_lock(self.conn, wait)

    def derive(self, inputs: Inputs) -> ClusterPlan:
        from pgtune.targets.rds.flow import derive_group

        t = self.target
        return derive_group(self.client, t.groups, self.conn, t.dsn, inputs, t.instance)

    def gated(self, plan: ClusterPlan) -> list[Plan]:
        return gated(plan)

    def execute(
        self, plan: ClusterPlan, inputs: Inputs, options: ExecOptions, on_outcome: Callable[[Outcome], None] | None
    ) -> dict[str, ApplyReport]:
        """The instance's SQL changes, then the group's parameters, then wait until RDS applied them."""
        return execute_with_store(plan, self.conn, GroupStore(self.client, self.target), inputs, options, on_outcome)

    def restart(self, inputs: Inputs, on_step: Callable[[str], None] | None) -> RestartReport:
        from pgtune.integrations.postgres import connect
        from pgtune.targets.rds.flow import derive_group, reboot

        t = self.target
        with connect(t.dsn) as conn:
            now = derive_group(self.client, t.groups, conn, t.dsn, inputs, t.instance)
        return reboot(self.client, t.groups, now, t.failover, on_step)

    def reread(self, inputs: Inputs) -> ClusterPlan:
        from pgtune.integrations.postgres import connect
        from pgtune.targets.rds.flow import derive_group

        t = self.target
        with connect(t.dsn) as conn:  # the instance may have rebooted: a fresh connection
            return derive_group(self.client, t.groups, conn, t.dsn, inputs, t.instance)


@dataclass(frozen=True)
class RdsParameterGroup:
    groups: Groups
    dsn: str
    region: str | None = None
    instance: str | None = None
    failover: bool = False
    name: str = "RDS parameter group"
    restarts: bool = True
    # what the CLI says when restarts remain
    finish: str = "pgtune apply ... --rds-parameter-group NAME --restart (reboots in this order)."

    @contextmanager
    def open(self) -> Iterator[GroupSession]:
        from pgtune.integrations.postgres import connect
        from pgtune.integrations.rds.api import Client

        client = Client(self.region)
        with connect(self.dsn) as conn:
            yield GroupSession(client, self, conn)
