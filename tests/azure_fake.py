"""A behaviour fake of Azure Database for PostgreSQL flexible server's management API, backed by a
real PostgreSQL: the Azure SDK's own requests (its client, its models, its LRO poller) reach it
through a custom azure-core transport — the SDK's request shapes are what is asserted — and a write
to a configuration lands in the server as the service would put it: ALTER SYSTEM and a reload for a
dynamic one (the value runs), pending until a restart for a static one (isConfigPendingRestart),
list values answered sorted (as Azure answers them), a reset back to the default."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpTransport

from pgtune.integrations.endpoints import Answer
from pgtune.integrations.sandbox import LocalCluster
from pgtune.targets.azure.transport import response

SUBSCRIPTION, GROUP, SERVER = "00000000-0000-0000-0000-000000000001", "shop-rg", "shop-db"
RESOURCE_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{SERVER}"
)
OPERATIONS = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.DBforPostgreSQL/locations/westeurope/operations/"
CONFIGURABLE = {  # name -> (dataType, allowedValues) as Azure lists them
    "work_mem": ("Integer", "64-2097151"),
    "shared_buffers": ("Integer", "16-1073741823"),
    "max_connections": ("Integer", "25-5000"),
    "random_page_cost": ("Numeric", "0-1.79769e+308"),
    "log_min_duration_statement": ("Integer", "-1-2147483647"),
    "jit": ("Boolean", "on,off"),
    "shared_preload_libraries": ("Set", "auto_explain,pg_cron,pg_stat_statements,pgaudit"),
}


class FakeCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("fake-token", 4102444800)


@dataclass
class FakeAzure:
    cluster: LocalCluster
    requests: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)  # method, path, body
    set_by_user: set[str] = field(default_factory=set)
    written: dict[str, str] = field(default_factory=dict)  # static values waiting for the restart
    operations: int = 0

    def transport(self) -> HttpTransport[Any, Any]:
        fake = self

        class Transport(HttpTransport):  # type: ignore[type-arg]
            def send(self, request: Any, **kwargs: Any) -> Any:
                return response(request, fake.handle(request))

            def open(self) -> None: ...

            def close(self) -> None: ...

            def __enter__(self) -> Any:
                return self

            def __exit__(self, *args: Any) -> None: ...

        return Transport()

    # -- the API -------------------------------------------------------------------------------
    def handle(self, request: Any) -> Answer:
        url = urlsplit(request.url)
        raw = request.content if isinstance(getattr(request, "content", None), bytes | str) else None
        body = json.loads(raw) if raw else None
        self.requests.append((request.method, url.path, body))
        assert parse_qs(url.query).get("api-version"), "every ARM request names its api-version"
        assert request.headers.get("Authorization") == "Bearer fake-token"
        if url.path.startswith(OPERATIONS):  # an LRO's status: done at once
            return self._json({"name": url.path.rsplit("/", 1)[1], "status": "Succeeded"})
        base = (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers/"
        )
        assert url.path.startswith(base), url.path
        parts = url.path[len(base) :].split("/")
        if request.method == "GET" and len(parts) == 1:
            return self._json({"name": parts[0], "properties": {"state": "Ready"}})
        if request.method == "GET" and parts[1:] == ["replicas"]:
            return self._json({"value": []})
        if request.method == "POST" and parts[1:] == ["restart"]:
            self.cluster.restart()
            self.written.clear()
            return self._accepted()
        if parts[1:2] == ["configurations"]:
            if request.method == "GET" and len(parts) == 2:
                return self._json({"value": [self._configuration(n) for n in CONFIGURABLE]})
            if request.method == "GET" and len(parts) == 3:
                return self._json(self._configuration(parts[2]))
            if request.method == "PATCH" and len(parts) == 3:
                self._update(parts[2], body["properties"]["value"])
                return self._accepted()  # Azure answers 202 and an operation to poll, as for every write
        return Answer(
            404,
            b'{"error": {"code": "NotFound", "message": "no such route in the fake"}}',
            (("content-type", "application/json"),),
        )

    def _accepted(self) -> Answer:
        self.operations += 1
        where = f"https://management.azure.com{OPERATIONS}op-{self.operations}?api-version=2026-10-01"
        return Answer(202, b"", (("azure-asyncoperation", where), ("location", where), ("retry-after", "0")))

    def _json(self, data: Any) -> Answer:
        return Answer(200, json.dumps(data).encode(), (("content-type", "application/json"),))

    def _row(self, name: str) -> tuple[str, str, str, bool]:
        with self.cluster.connect() as conn:
            row = conn.execute(
                "SELECT setting, boot_val, context, pending_restart FROM pg_settings WHERE name = %s", (name,)
            ).fetchone()
        assert row is not None
        return str(row[0]), str(row[1]), str(row[2]), bool(row[3])

    def _configuration(self, name: str) -> dict[str, Any]:
        setting, default, context, pending = self._row(name)
        data_type, allowed = CONFIGURABLE[name]
        value = self.written.get(name, setting)
        if data_type == "Set":
            value = ",".join(sorted(v.strip() for v in value.split(",") if v.strip()))
        return {
            "id": f"{RESOURCE_ID}/configurations/{name}",
            "name": name,
            "type": "Microsoft.DBforPostgreSQL/flexibleServers/configurations",
            "properties": {
                "value": value,
                "defaultValue": default,
                "dataType": data_type,
                "allowedValues": allowed,
                "source": "user-override" if name in self.set_by_user else "system-default",
                "isDynamicConfig": context != "postmaster",
                "isReadOnly": False,
                "isConfigPendingRestart": pending or name in self.written,
                "unit": None,
            },
        }

    def _update(self, name: str, value: str) -> dict[str, Any]:
        _, default, context, _ = self._row(name)
        with self.cluster.connect() as conn:
            if value == default:
                conn.execute(f"ALTER SYSTEM RESET {name}")
                self.set_by_user.discard(name)
            else:
                items = value.split(",") if CONFIGURABLE[name][0] == "Set" else [value]  # a Set is a list
                quoted = ", ".join("'" + item.strip().replace("'", "''") + "'" for item in items)
                conn.execute(f"ALTER SYSTEM SET {name} = {quoted}")
                self.set_by_user.add(name)
            conn.execute("SELECT pg_reload_conf()")
        if context == "postmaster":
            self.written[name] = value if value != default else default
        return self._configuration(name)
