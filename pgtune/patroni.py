"""Patroni-managed clusters: members and the leader from Patroni's REST API, settings through its
DCS (`PATCH /config`), restarts through `POST /restart` — never ALTER SYSTEM on a member.

Why not ALTER SYSTEM: Patroni passes some parameters on the postmaster's command line
(max_connections, wal_level, max_wal_senders, ... : ALTER SYSTEM of those never takes effect and
keeps raising pending_restart), and the cluster's configuration is the DCS's. Patroni stores any
value it is sent (`work_mem: banana` too) and silently drops what it cannot use, so pgtune types
every value against the server's pg_settings first and sends exactly the keys that change.

The REST client is the standard library's (urllib): GETs are open, PATCH and POST need HTTP Basic
credentials when Patroni has `restapi.authentication` — from the URL's user:password or
$PGTUNE_PATRONI_USER / $PGTUNE_PATRONI_PASSWORD, never printed.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from pgtune.errors import PgtuneError
from pgtune.secrets import remember_dsn

USER_ENV, PASSWORD_ENV = "PGTUNE_PATRONI_USER", "PGTUNE_PATRONI_PASSWORD"
TIMEOUT = 10.0


class PatroniError(PgtuneError):
    """Patroni's REST API refused or could not be reached."""


@dataclass(frozen=True)
class Member:
    name: str
    role: str  # leader | replica | sync_standby | standby_leader
    state: str  # running | streaming | starting | stopped ...
    host: str
    port: int
    api_url: str  # .../patroni of this member
    pending_restart: bool
    pending_reason: dict[str, Any]

    @property
    def leader(self) -> bool:
        return self.role == "leader"

    @property
    def api(self) -> str:
        return self.api_url.rsplit("/patroni", 1)[0]


class Client:
    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PatroniError(f"--patroni wants the REST API's URL (http://host:8008), not {_shown(url)!r}")
        self.user = os.environ.get(USER_ENV) or (urllib.parse.unquote(parts.username) if parts.username else None)
        self.password = os.environ.get(PASSWORD_ENV) or (
            urllib.parse.unquote(parts.password) if parts.password else None
        )
        if self.password:
            remember_dsn(f"password={self.password}")
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.base = urllib.parse.urlunsplit((parts.scheme, netloc, "", "", ""))

    def _call(self, url: str, method: str = "GET", body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.user and self.password and method != "GET":
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace").strip()[:300]
            hint = " (give the REST API's credentials: user:password@ in the URL or $PGTUNE_PATRONI_USER/PASSWORD)"
            raise PatroniError(
                f"Patroni {method} {url}: HTTP {exc.code} {detail}{hint if exc.code == 401 else ''}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise PatroniError(f"Patroni {method} {url}: {getattr(exc, 'reason', exc)}") from None
        try:
            return json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            return text

    def members(self) -> list[Member]:
        doc = self._call(self.base + "/cluster")
        out = []
        for m in doc.get("members", []) if isinstance(doc, dict) else []:
            out.append(
                Member(
                    str(m["name"]),
                    str(m.get("role", "")),
                    str(m.get("state", "")),
                    str(m.get("host", "")),
                    int(m.get("port", 5432)),
                    str(m.get("api_url", "")),
                    bool(m.get("pending_restart", False)),
                    dict(m.get("pending_restart_reason") or {}),
                )
            )
        if not out:
            raise PatroniError(f"Patroni at {self.base} reports no members")
        return out

    def parameters(self) -> dict[str, Any]:
        """The DCS's `postgresql.parameters` (the cluster-wide configuration)."""
        doc = self._call(self.base + "/config")
        params = (doc.get("postgresql") or {}).get("parameters") if isinstance(doc, dict) else None
        return dict(params or {})

    def patch_parameters(self, values: dict[str, str | None]) -> None:
        self._call(self.base + "/config", "PATCH", {"postgresql": {"parameters": values}})

    def restart(self, member: Member) -> None:
        self._call(member.api + "/restart", "POST", {"restart_pending": True})

    def member_status(self, member: Member) -> dict[str, Any]:
        doc = self._call(member.api + "/patroni")
        return doc if isinstance(doc, dict) else {}


def _shown(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        return url.replace(parts.password, "****")
    return url


def patch_statement_sql(name: str, value: str | None) -> str:
    """The PATCH body a plan shows and the executor sends: one key, exactly the one that changes."""
    return json.dumps({"postgresql": {"parameters": {name: value}}}, sort_keys=True)


def wait_for(condition: Any, timeout: float, what: str, poll: float = 0.25) -> None:
    """Poll (never a fixed sleep) until `condition()` holds, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except PgtuneError:
            pass  # a member restarting does not answer for a moment
        if time.monotonic() >= deadline:
            raise PatroniError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(poll)
