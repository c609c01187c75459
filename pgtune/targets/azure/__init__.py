"""An Azure Database for PostgreSQL flexible server (--azure-server RESOURCE_ID): server-wide settings
planned against its configurations and written one at a time (the service refuses parallel writes),
waiting for the server to be Ready before each, bounded; every other kind over SQL on --dsn; restarts
only with apply --restart, after the writes, read replicas first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgtune.base.errors import ApplyRefused
from pgtune.targets import OfflineService, TargetOption, Where, register

if TYPE_CHECKING:
    from pgtune.kinds.offline import ServiceCatalog
    from pgtune.targets.azure.target import AzureServer


def _choose(where: Where) -> AzureServer | None:
    resource = where.options.get("azure_server")
    if not resource:
        return None
    if len(where.dsns) != 1:
        raise ApplyRefused("--azure-server takes one --dsn: the server's (the SQL kinds run there)")
    from pgtune.targets.azure.target import AzureServer

    return AzureServer(resource, where.base_dsn)


OPTIONS = (
    TargetOption(
        "azure_server",
        "--azure-server",
        "Plan server-wide settings against this Azure Database for PostgreSQL flexible server's configurations "
        "(its resource ID), the other kinds over SQL on --dsn. Credentials from azure-identity's default chain; "
        "$PGTUNE_AZURE_ENDPOINT overrides the management endpoint.",
        "RESOURCE_ID",
    ),
)


def _catalog() -> ServiceCatalog:
    from pgtune.targets.azure.names import catalog

    return catalog()


SERVICES = (
    OfflineService(
        "azure", "its PostgreSQL 17 parameter tables (MicrosoftDocs/azure-databases-docs, 2026-12)", _catalog
    ),
)


register(
    _choose,
    options=OPTIONS,
    about=("Azure: azure-mgmt-postgresqlflexibleservers 3.x (api-version 2026-10-01)",),
    services=SERVICES,
)
