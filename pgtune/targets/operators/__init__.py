"""Clusters a Kubernetes operator runs (--cnpg-cluster, --pgo-cluster, --zalando-cluster FILE): the
profile's server-wide settings are planned against the manifest's parameters and written into that
file (every other byte kept) — the operator renders them, reloads, and restarts in its own order;
pgtune never restarts a pod. Everything else in the profile runs over SQL on --dsn (the cluster's
-rw service); without --dsn only the manifest is planned, typed by the bundled description of its
PostgreSQL version."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pgtune.base.errors import ApplyRefused
from pgtune.targets import TargetOption, Where, register

if TYPE_CHECKING:
    from pgtune.targets.operators.target import OperatorCluster

OPTIONS_BY_OPERATOR = {"cnpg": "cnpg_cluster", "pgo": "pgo_cluster", "zalando": "zalando_cluster"}


def _choose(where: Where) -> OperatorCluster | None:
    given = [(op, where.options[key]) for op, key in OPTIONS_BY_OPERATOR.items() if where.options.get(key)]
    if not given:
        return None
    if len(given) > 1:
        raise ApplyRefused("give one of --cnpg-cluster, --pgo-cluster and --zalando-cluster")
    if where.option("patroni") is not None or where.options.get("rds_parameter_group") or len(where.dsns) > 1:
        raise ApplyRefused(
            "an operator's manifest takes at most one --dsn (the cluster's -rw service) and no "
            "--patroni or --rds-parameter-group: the operator owns Patroni's configuration"
        )
    operator, path = given[0]
    from pgtune.targets.operators.target import OperatorCluster

    return OperatorCluster(Path(path), operator, where.base_dsn)


def _option(key: str, flag: str, who: str) -> TargetOption:
    return TargetOption(
        key,
        flag,
        f"Plan server-wide settings against this {who} manifest (a file in Git: apply edits it in place, every other "
        "byte kept; the operator rolls it out); the other kinds over SQL on --dsn (the cluster's -rw service). "
        "Without --dsn only the manifest is planned.",
        "FILE",
    )


OPTIONS = (
    _option("cnpg_cluster", "--cnpg-cluster", "CloudNativePG Cluster"),
    _option("pgo_cluster", "--pgo-cluster", "Crunchy PGO PostgresCluster"),
    _option("zalando_cluster", "--zalando-cluster", "Zalando postgresql"),
)


def _about() -> tuple[str, ...]:
    import pgtune.targets.operators.rules as rules

    return tuple(f"operator rules: {line}" for line in rules.versions())


register(_choose, options=OPTIONS, about=_about)
