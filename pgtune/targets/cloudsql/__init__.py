"""A Cloud SQL for PostgreSQL instance (--cloudsql-instance PROJECT:INSTANCE): server-wide settings
planned against its database flags and sent in one `instances.patch` carrying the whole list (Cloud
SQL replaces it: what the profile does not manage is sent as the instance has it); a flag that
requires a restart makes Cloud SQL restart the instance at once, so the plan says so and apply needs
--allow-hazards RESTARTS_NOW; the operation is polled to its end, bounded. Every other kind over SQL
on --dsn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgtune.base.errors import ApplyRefused
from pgtune.targets import OfflineService, TargetOption, Where, register

if TYPE_CHECKING:
    from pgtune.kinds.offline import ServiceCatalog
    from pgtune.targets.cloudsql.target import CloudSqlInstance


def _choose(where: Where) -> CloudSqlInstance | None:
    instance = where.options.get("cloudsql_instance")
    if not instance:
        return None
    if len(where.dsns) != 1:
        raise ApplyRefused("--cloudsql-instance takes one --dsn: the instance's (the SQL kinds run there)")
    from pgtune.targets.cloudsql.target import CloudSqlInstance

    return CloudSqlInstance(instance, where.base_dsn)


OPTIONS = (
    TargetOption(
        "cloudsql_instance",
        "--cloudsql-instance",
        "Plan server-wide settings against this Cloud SQL instance's database flags (PROJECT:INSTANCE), the other "
        "kinds over SQL on --dsn. Credentials from google-auth's default chain; $PGTUNE_CLOUDSQL_ENDPOINT overrides "
        "the API's endpoint.",
        "PROJECT:INSTANCE",
    ),
)


def _catalog() -> ServiceCatalog:
    from pgtune.targets.cloudsql.names import catalog

    return catalog()


SERVICES = (
    OfflineService("cloudsql", "its cloudsql.* flags and the parameters it keeps (Cloud SQL docs, 2026-12)", _catalog),
)


register(
    _choose,
    options=OPTIONS,
    about=("Cloud SQL: google-api-python-client's bundled sqladmin v1 document",),
    services=SERVICES,
)
