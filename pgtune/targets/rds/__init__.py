"""An RDS parameter group (--rds-parameter-group NAME): server-wide settings planned against the
group and sent with ModifyDBParameterGroup (at most 20 a call) under the apply lock on the
instance --dsn reaches; every other kind over SQL there; reboots through RebootDBInstance,
readers first and the writer last, each waited for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgtune.base.errors import ApplyRefused
from pgtune.targets import TargetOption, Where, register

if TYPE_CHECKING:
    from pgtune.targets.rds.target import RdsParameterGroup

OPTION_GROUP, OPTION_CLUSTER_GROUP, OPTION_REGION, OPTION_INSTANCE, OPTION_FAILOVER = (
    "rds_parameter_group",
    "rds_cluster_parameter_group",
    "rds_region",
    "rds_instance",
    "rds_failover",
)


def _choose(where: Where) -> RdsParameterGroup | None:
    if not where.options.get(OPTION_GROUP) and not where.options.get(OPTION_CLUSTER_GROUP):
        if any(where.options.get(k) not in (None, "no") for k in (OPTION_REGION, OPTION_INSTANCE, OPTION_FAILOVER)):
            raise ApplyRefused(
                "--rds-region, --rds-instance and --rds-failover go with --rds-parameter-group "
                "(or --rds-cluster-parameter-group)"
            )
        return None
    if where.option("patroni") is not None or len(where.dsns) > 1:
        raise ApplyRefused("--rds-parameter-group takes one --dsn (the writer's endpoint) and no --patroni")
    from pgtune.targets.rds.flow import Groups
    from pgtune.targets.rds.target import RdsParameterGroup

    groups = Groups(where.options.get(OPTION_GROUP), where.options.get(OPTION_CLUSTER_GROUP))
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
