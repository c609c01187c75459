"""An RDS parameter group (--rds-parameter-group NAME): server-wide settings planned against the
group and sent with ModifyDBParameterGroup (at most 20 a call) under the apply lock on the
instance --dsn reaches; every other kind over SQL there; reboots through RebootDBInstance,
readers first and the writer last, each waited for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pgtune.base.errors import ApplyRefused
from pgtune.targets import GROUP, RestartReport, TargetOption, Where, register

if TYPE_CHECKING:
    import psycopg

    from pgtune.integrations.rds.api import Client
    from pgtune.plan.cluster import ClusterPlan
    from pgtune.plan.model import Plan
    from pgtune.plan.report import ApplyReport, Outcome
    from pgtune.targets.executor import ExecOptions
    from pgtune.targets.rds.flow import Groups
    from pgtune.targets.workflow import Inputs

OPTION_GROUP, OPTION_CLUSTER_GROUP, OPTION_REGION, OPTION_INSTANCE, OPTION_FAILOVER = (
    "rds_parameter_group",
    "rds_cluster_parameter_group",
    "rds_region",
    "rds_instance",
    "rds_failover",
)


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
        return [*(n.plan for n in plan.plans), *([plan.dcs] if plan.dcs is not None else [])]

    def execute(
        self, plan: ClusterPlan, inputs: Inputs, options: ExecOptions, on_outcome: Callable[[Outcome], None] | None
    ) -> dict[str, ApplyReport]:
        """The instance's SQL changes, then the group's parameters, then wait until RDS applied them."""
        from pgtune.targets.executor import execute
        from pgtune.targets.rds.flow import settled
        from pgtune.targets.workflow import bouncer_for

        node = plan.topology.primary
        reports: dict[str, ApplyReport] = {}
        sql_plan = plan.plans[0].plan
        if not sql_plan.empty:
            with bouncer_for(sql_plan, inputs.loaded) as bouncer:
                reports[node.name] = execute(sql_plan, self.conn, options, on_outcome=on_outcome, bouncer=bouncer)
        if plan.dcs is not None and not plan.dcs.empty and not any(r.failed for r in reports.values()):
            reports[GROUP] = execute(plan.dcs, self.conn, options, on_outcome=on_outcome, rds=self.client)
            if not reports[GROUP].failed:
                settled(self.client, self.target.groups, plan, self.target.dsn, self.target.instance)
        return reports

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


def _choose(where: Where) -> RdsParameterGroup | None:
    from pgtune.targets.rds.flow import Groups

    groups = Groups(where.options.get(OPTION_GROUP), where.options.get(OPTION_CLUSTER_GROUP))
    if groups.instance is None and groups.cluster is None:
        if any(where.options.get(k) not in (None, "no") for k in (OPTION_REGION, OPTION_INSTANCE, OPTION_FAILOVER)):
            raise ApplyRefused(
                "--rds-region, --rds-instance and --rds-failover go with --rds-parameter-group "
                "(or --rds-cluster-parameter-group)"
            )
        return None
    if where.option("patroni") is not None or len(where.dsns) > 1:
        raise ApplyRefused("--rds-parameter-group takes one --dsn (the writer's endpoint) and no --patroni")
    return RdsParameterGroup(
        groups,
        where.base_dsn,
        where.options.get(OPTION_REGION),
        where.options.get(OPTION_INSTANCE),
        where.options.get(OPTION_FAILOVER) == "yes",
    )


OPTIONS = (
    TargetOption(
        OPTION_GROUP,
        "--rds-parameter-group",
        "Plan server-wide settings against this RDS DB parameter group (ModifyDBParameterGroup), the other kinds "
        "over SQL on --dsn (the writer's endpoint). Region and credentials from boto3's chain (AWS_PROFILE, "
        "AWS_REGION, AWS_ENDPOINT_URL).",
        "NAME",
    ),
    TargetOption(
        OPTION_CLUSTER_GROUP,
        "--rds-cluster-parameter-group",
        "Aurora: also plan against this DB cluster parameter group; a key goes there when only it offers the key.",
        "NAME",
    ),
    TargetOption(OPTION_REGION, "--rds-region", "The group's region (else boto3's chain).", "REGION"),
    TargetOption(
        OPTION_INSTANCE,
        "--rds-instance",
        "The RDS instance --dsn reaches, when its endpoint is not the DSN's host (a proxy, a CNAME).",
        "ID",
    ),
    TargetOption(
        OPTION_FAILOVER,
        "--rds-failover",
        "With --restart: reboot a Multi-AZ writer with failover (ForceFailover).",
        apply_only=True,
    ),
)
register(_choose, options=OPTIONS)
