"""Cloud SQL for PostgreSQL as pgtune uses it: google-api-python-client with its bundled sqladmin v1
discovery document (no discovery call), google-auth's default credentials, every request sent by
pgtune's bounded HTTP client (one deadline, a size cap), the endpoint overridable
($PGTUNE_CLOUDSQL_ENDPOINT). `instances.patch` replaces the whole `databaseFlags` list: pgtune always
sends every flag the instance keeps."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from pgtune.integrations.endpoints import EndpointError, said, shown
from pgtune.targets.parameters import Stored

ENDPOINT_ENV = "PGTUNE_CLOUDSQL_ENDPOINT"
_INSTANCE = re.compile(r"^(?P<project>[a-z][a-z0-9:.\-]{4,61}[a-z0-9]):(?P<instance>[a-z][a-z0-9\-]{0,97})$")


class CloudSqlError(EndpointError):
    """Cloud SQL's API refused, failed, or answered what pgtune cannot accept."""


@dataclass(frozen=True)
class InstanceId:
    project: str
    instance: str

    @classmethod
    def parse(cls, text: str) -> InstanceId:
        found = _INSTANCE.match(text.strip())
        if found is None:
            raise CloudSqlError(
                "--cloudsql-instance wants PROJECT:INSTANCE (the instance's connection name, no region)"
            )
        return cls(found["project"], found["instance"])


@dataclass(frozen=True)
class Instance:
    version: str  # POSTGRES_15
    state: str
    flags: dict[str, str | None]  # name -> value, as the instance holds them (in its order)
    settings_version: str | None = None


class BoundedHttp:
    """httplib2's `request` interface, made of pgtune's bounded HTTP client."""

    def __init__(self) -> None:
        from pgtune.integrations.endpoints import HttpClient

        self._client = HttpClient("Cloud SQL", error=CloudSqlError, proxies_from_environment=True)

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        import httplib2

        from pgtune.integrations.endpoints import deadline_from_environment

        content = body.encode() if isinstance(body, str) else body
        from pgtune.integrations.endpoints import remember_bearer

        remember_bearer(dict(headers or {}))
        answer = self._client.exchange(method, uri, dict(headers or {}), content, deadline=deadline_from_environment())
        info = httplib2.Response({"status": str(answer.status), **{k.lower(): v for k, v in answer.headers}})
        return info, answer.body


@dataclass
class Client:
    instance: InstanceId
    http: Any = None  # an httplib2-like object: the fake's in tests; else authorized, bounded HTTP
    _service: Any = field(default=None, init=False, repr=False)

    def service(self) -> Any:
        if self._service is None:
            from googleapiclient import discovery

            http = self.http
            if http is None:
                import google.auth
                from google_auth_httplib2 import AuthorizedHttp

                credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/sqlservice.admin"])
                http = AuthorizedHttp(credentials, http=BoundedHttp())
            options = {"api_endpoint": os.environ[ENDPOINT_ENV]} if os.environ.get(ENDPOINT_ENV) else None
            self._service = discovery.build(
                "sqladmin", "v1", http=http, static_discovery=True, client_options=options, cache_discovery=False
            )
        return self._service

    def _run(self, what: str, request: Any) -> Any:
        from googleapiclient.errors import Error as SdkError

        try:
            return request.execute(num_retries=0)
        except SdkError as exc:
            raise CloudSqlError(f"Cloud SQL {what}: {said(exc)}") from None

    def get(self) -> Instance:
        i = self.instance
        data = self._run("reading the instance", self.service().instances().get(project=i.project, instance=i.instance))
        if not isinstance(data, dict):
            raise CloudSqlError("Cloud SQL answered an instance that is not an object")
        settings = data.get("settings") or {}
        flags = {
            str(f.get("name")): (None if f.get("value") is None else str(f["value"]))
            for f in settings.get("databaseFlags") or []
            if isinstance(f, dict) and f.get("name")
        }
        return Instance(
            str(data.get("databaseVersion") or ""), str(data.get("state") or ""), flags, settings.get("settingsVersion")
        )

    def flags(self, version: str) -> dict[str, dict[str, Any]]:
        """What the service lets users set for this database version, by lower-cased name."""
        data = self._run("listing flags", self.service().flags().list(databaseVersion=version))
        items = data.get("items") if isinstance(data, dict) else None
        return {str(f["name"]).lower(): f for f in items or [] if isinstance(f, dict) and f.get("name")}

    def patch(self, flags: dict[str, str | None]) -> str:
        """One patch carrying the whole flag list (Cloud SQL replaces it); the operation's name."""
        i = self.instance
        body = {
            "settings": {
                "databaseFlags": [{"name": n, **({"value": v} if v is not None else {})} for n, v in flags.items()]
            }
        }
        op = self._run(
            "patching the flags", self.service().instances().patch(project=i.project, instance=i.instance, body=body)
        )
        return str(op.get("name") or "") if isinstance(op, dict) else ""

    def operation_done(self, name: str) -> bool:
        i = self.instance
        op = self._run("reading the operation", self.service().operations().get(project=i.project, operation=name))
        if not isinstance(op, dict):
            return False
        errors = (op.get("error") or {}).get("errors") or []
        if errors:
            raise CloudSqlError(f"Cloud SQL operation {name} failed: {shown(str(errors[0]))}")
        return op.get("status") == "DONE"


def stored(instance: Instance, flags: dict[str, dict[str, Any]], running: dict[str, str | None]) -> dict[str, Stored]:
    """Each settable flag as the loop compares it: the instance's value when set, else what the server runs."""
    out: dict[str, Stored] = {}
    held = {k.lower(): (k, v) for k, v in instance.flags.items()}
    for key, flag in flags.items():
        name, value = held.get(key, (str(flag["name"]), None))
        allowed = flag.get("allowedStringValues")
        lo, hi = flag.get("minValue"), flag.get("maxValue")
        text = ",".join(allowed) if allowed else (f"{lo}-{hi}" if lo is not None and hi is not None else None)
        user_set = key in held
        out[key] = Stored(
            name,
            value if user_set else running.get(key),
            None,
            user_set,
            not bool(flag.get("requiresRestart")),
            allowed=text,
        )
    return out
