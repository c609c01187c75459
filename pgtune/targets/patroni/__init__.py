"""A Patroni cluster (--patroni URL): members and leader from Patroni's REST API; the SQL kinds run
on the leader; server-wide settings go to the DCS through PATCH /config (never ALTER SYSTEM on a
member) and apply waits until every member has them; restarts go through POST /restart in the safe
order, each waited for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgtune.targets import TargetOption, Where, register

if TYPE_CHECKING:
    from pgtune.targets.patroni.target import PatroniCluster


def _choose(where: Where) -> PatroniCluster | None:
    url = where.option("patroni")
    if url is None:
        return None
    from pgtune.targets.patroni.target import PatroniCluster

    return PatroniCluster(url, where.base_dsn)


OPTIONS = (
    TargetOption(
        "patroni",
        "--patroni",
        "A Patroni cluster's REST API, http://host:8008 (its credentials in $PGTUNE_PATRONI_USER and "
        "$PGTUNE_PATRONI_PASSWORD: a password in the URL is visible to other local users and warns): members and "
        "leader from Patroni, settings through its DCS. --dsn then gives the SQL credentials for the members (host "
        "and port from Patroni).",
        "URL",
    ),
)
register(_choose, options=OPTIONS)
