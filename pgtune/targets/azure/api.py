"""Azure Database for PostgreSQL Flexible Server as pgtune uses it: the SDK's client
(azure-mgmt-postgresqlflexibleservers, azure-identity's default credential chain), every request sent
through pgtune's bounded HTTP client (one deadline, a size cap: `transport.py`), the endpoint
overridable ($PGTUNE_AZURE_ENDPOINT) for private clouds and tests. Configurations are read all at
once and written one at a time — the service refuses parallel writes (ServerBusy)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from pgtune.integrations.endpoints import EndpointError, said
from pgtune.targets.parameters import Stored

ENDPOINT_ENV = "PGTUNE_AZURE_ENDPOINT"
DEFAULT_ENDPOINT = "https://management.azure.com"
_RESOURCE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.DBforPostgreSQL/"
    r"flexibleServers/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)


class AzureError(EndpointError):
    """Azure's API refused, failed, or answered what pgtune cannot accept."""


@dataclass(frozen=True)
class ResourceId:
    subscription: str
    group: str
    server: str

    @classmethod
    def parse(cls, text: str) -> ResourceId:
        found = _RESOURCE.match(text.strip())
        if found is None:
            raise AzureError(
                "--azure-server wants a flexible server's resource ID: /subscriptions/SUB/resourceGroups/RG/providers/"
                "Microsoft.DBforPostgreSQL/flexibleServers/NAME"
            )
        return cls(found["sub"], found["rg"], found["name"])


def endpoint() -> str:
    return (os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).rstrip("/")


@dataclass
class Client:
    resource: ResourceId
    transport: Any = None  # an azure-core HttpTransport: pgtune's bounded one unless a test gives its own
    credential: Any = None  # azure-identity's DefaultAzureCredential unless given
    _sdk: Any = field(default=None, init=False, repr=False)

    def sdk(self) -> Any:
        if self._sdk is None:
            from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient

            from pgtune.targets.azure.transport import BoundedTransport

            credential = self.credential
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            self._sdk = PostgreSQLManagementClient(
                credential,
                self.resource.subscription,
                base_url=endpoint(),
                transport=self.transport or BoundedTransport(AzureError),
                polling_interval=1,
            )
        return self._sdk

    def _call(self, what: str, run: Any) -> Any:
        from azure.core.exceptions import AzureError as SdkError

        try:
            return run()
        except SdkError as exc:
            raise AzureError(f"Azure {what}: {said(exc)}") from None

    def configurations(self) -> dict[str, Stored]:
        """Every configuration of the server, by lower-cased name."""
        r = self.resource
        items = self._call(
            "listing the server's configurations",
            lambda: list(self.sdk().configurations.list_by_server(r.group, r.server)),
        )
        out: dict[str, Stored] = {}
        for item in items:
            p = item.properties
            if p is None or not item.name:
                continue
            out[str(item.name).lower()] = Stored(
                str(item.name),
                p.value,
                p.default_value,
                (p.source or "").lower() == "user-override",
                bool(p.is_dynamic_config),
                bool(p.is_read_only),
                bool(p.is_config_pending_restart),
                p.allowed_values,
                sorted_list=str(getattr(p.data_type, "value", p.data_type) or "").lower() == "set",  # Azure sorts them
            )
        return out

    def update(self, name: str, value: str) -> None:
        """One configuration, waited for (the service takes one write at a time)."""
        from azure.mgmt.postgresqlflexibleservers.models import ConfigurationForUpdate, ConfigurationProperties

        r = self.resource
        body = ConfigurationForUpdate(properties=ConfigurationProperties(value=value, source="user-override"))
        self._call(
            f"setting {name}",
            lambda: self.sdk().configurations.begin_update(r.group, r.server, name, body).result(),
        )

    def state(self, server: str | None = None) -> str:
        r = self.resource
        found = self._call("reading the server", lambda: self.sdk().servers.get(r.group, server or r.server))
        state = getattr(found, "state", None) or getattr(getattr(found, "properties", None), "state", None) or ""
        return str(getattr(state, "value", state))  # the SDK's enum (ServerState.READY) or plain text

    def replicas(self) -> list[str]:
        """The server's read replicas (restarted before it)."""
        r = self.resource
        found = self._call("listing replicas", lambda: list(self.sdk().replicas.list_by_server(r.group, r.server)))
        return sorted(str(s.name) for s in found if s.name and s.name != r.server)

    def restart(self, server: str) -> None:
        r = self.resource
        self._call(f"restarting {server}", lambda: self.sdk().servers.begin_restart(r.group, server).result())
