"""A behaviour fake of Cloud SQL's Admin API (sqladmin v1), backed by a real PostgreSQL: the
google-api-python-client's own requests — built from its bundled discovery document, so method ids,
paths and parameters are the library's — reach it as httplib2 calls, and a patch lands in the server
as Cloud SQL would put it: the whole `databaseFlags` list replaces the old one (a flag left out
returns to its default), and a flag that requires a restart restarts the instance at once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httplib2

from pgtune.integrations.sandbox import LocalCluster

PROJECT, INSTANCE = "shop-project", "shop-db"
FLAGS = {  # name -> the Flag resource flags.list answers (POSTGRES_15)
    "work_mem": {"type": "INTEGER", "minValue": "64", "maxValue": "2147483647", "requiresRestart": False},
    "max_connections": {"type": "INTEGER", "minValue": "14", "maxValue": "262143", "requiresRestart": True},
    "log_min_duration_statement": {
        "type": "INTEGER",
        "minValue": "-1",
        "maxValue": "2147483647",
        "requiresRestart": False,
    },
    "log_statement": {"type": "STRING", "allowedStringValues": ["none", "ddl", "mod", "all"], "requiresRestart": False},
    "jit": {"type": "BOOLEAN", "requiresRestart": False},
}


@dataclass
class FakeCloudSql:
    cluster: LocalCluster
    flags: dict[str, str] = field(default_factory=dict)  # the instance's databaseFlags, in order
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    operations: int = 0
    restarts: int = 0

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        url = urlsplit(uri)
        data = json.loads(body) if body else None
        self.requests.append((method, url.path, data))
        path = url.path.removeprefix("/v1/").split("/")
        if method == "GET" and path == ["flags"]:
            version = parse_qs(url.query).get("databaseVersion")
            assert version == ["POSTGRES_15"], version
            items = [{"kind": "sql#flag", "name": n, "appliesTo": ["POSTGRES_15"], **f} for n, f in FLAGS.items()]
            return self._json({"kind": "sql#flagsList", "items": items})
        if path[:4] == ["projects", PROJECT, "instances", INSTANCE] and len(path) == 4:
            if method == "GET":
                flags = [{"name": n, "value": v} for n, v in self.flags.items()]
                return self._json(
                    {
                        "kind": "sql#instance",
                        "name": INSTANCE,
                        "databaseVersion": "POSTGRES_15",
                        "state": "RUNNABLE",
                        "settings": {"databaseFlags": flags, "settingsVersion": "7"},
                    }
                )
            if method == "PATCH":
                return self._json(self._patch(data["settings"]["databaseFlags"]))
        if path[:3] == ["projects", PROJECT, "operations"] and method == "GET":
            return self._json({"kind": "sql#operation", "name": path[3], "status": "DONE", "operationType": "UPDATE"})
        return httplib2.Response({"status": "404"}), b'{"error": {"code": 404, "message": "not in the fake"}}'

    def _json(self, data: Any) -> Any:
        return httplib2.Response({"status": "200", "content-type": "application/json"}), json.dumps(data).encode()

    def _patch(self, flags: list[dict[str, Any]]) -> dict[str, Any]:
        new = {f["name"]: str(f.get("value", "")) for f in flags}
        changed = {n for n in set(new) | set(self.flags) if new.get(n) != self.flags.get(n)}
        with self.cluster.connect() as conn:
            for name in changed:
                if name in new:
                    conn.execute(f"ALTER SYSTEM SET {name} = '{new[name].replace(chr(39), chr(39) * 2)}'")
                else:
                    conn.execute(f"ALTER SYSTEM RESET {name}")  # left out of the list: back to the default
            conn.execute("SELECT pg_reload_conf()")
        self.flags = new
        if any(FLAGS[n]["requiresRestart"] for n in changed):  # Cloud SQL restarts at once
            self.cluster.restart()
            self.restarts += 1
        self.operations += 1
        return {
            "kind": "sql#operation",
            "name": f"op-{self.operations}",
            "status": "PENDING",
            "operationType": "UPDATE",
        }
