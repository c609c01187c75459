"""Patroni-managed clusters: members and the leader from Patroni's REST API, settings through its
DCS (`PATCH /config`), restarts through `POST /restart` — never ALTER SYSTEM on a member.

Why not ALTER SYSTEM: Patroni passes some parameters on the postmaster's command line
(max_connections, wal_level, max_wal_senders, ... : ALTER SYSTEM of those never takes effect and
keeps raising pending_restart), and the cluster's configuration is the DCS's. Patroni stores any
value it is sent (`work_mem: banana` too) and silently drops what it cannot use, so pgtune types
every value against the server's pg_settings first and sends exactly the keys that change.

The REST API is untrusted input: calls go through `endpoints.HttpClient` (one deadline per call, a
size cap, no redirects) and the parts of `/cluster`, `/config` and `/patroni` pgtune uses are
validated here (pydantic) — a missing or ill-typed field is an error naming the endpoint and the
field. PATCH and POST carry HTTP Basic credentials when given ($PGTUNE_PATRONI_USER /
$PGTUNE_PATRONI_PASSWORD, or user:password@ in the URL, which warns), only to the URL's origin and
the members' `api_url` Patroni itself advertises there; they are never printed.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from pgtune.base.errors import PgtuneError
from pgtune.base.poll import PollTimeout
from pgtune.base.poll import poll as poll_until
from pgtune.base.redact import remember_secret
from pgtune.integrations.endpoints import EndpointError, HttpClient, origin, shown

USER_ENV, PASSWORD_ENV = "PGTUNE_PATRONI_USER", "PGTUNE_PATRONI_PASSWORD"


class PatroniError(EndpointError):
    """Patroni's REST API refused, could not be reached, or answered what pgtune cannot use."""


# --- the answers, as far as pgtune reads them (anything else Patroni sends is ignored) ----------

_HOST = re.compile(r"^[A-Za-z0-9_.:%\-\[\]/]+$")
Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class _Answer(BaseModel):
    # strict: a JSON `true` is not a port, "5432" is not a number — an answer is what it says it is
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class MemberAnswer(_Answer):
    """One entry of GET /cluster's `members`."""

    name: Name
    role: Annotated[str, StringConstraints(max_length=64)]
    state: Annotated[str, StringConstraints(max_length=64)]
    host: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    port: Annotated[int, Field(ge=1, le=65535)]
    api_url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    pending_restart: bool = False
    pending_restart_reason: dict[Annotated[str, StringConstraints(max_length=256)], Any] = Field(default_factory=dict)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not _HOST.match(value):
            raise ValueError("not a host name, an IP address or a socket directory")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        try:
            origin(value)
        except EndpointError:
            raise ValueError("not an http(s) URL") from None
        parts = urllib.parse.urlsplit(value)
        if parts.username is not None or parts.password is not None:
            raise ValueError("carries credentials")
        if not parts.path.rstrip("/").endswith("/patroni") or parts.query or parts.fragment:
            raise ValueError("not a member's .../patroni URL")
        return value


class ClusterAnswer(_Answer):
    """GET /cluster."""

    members: list[MemberAnswer]


class PostgresqlSection(_Answer):
    parameters: dict[Name, str | int | float | bool | None] | None = None


class ConfigAnswer(_Answer):
    """GET /config: the DCS's dynamic configuration (only `postgresql.parameters` is read)."""

    postgresql: PostgresqlSection | None = None


class StatusAnswer(_Answer):
    """GET /patroni of one member."""

    state: Annotated[str, StringConstraints(max_length=64)]
    role: Annotated[str, StringConstraints(max_length=64)] = ""
    pending_restart: bool = False


M = TypeVar("M", bound=_Answer)


def _validated(model: type[M], doc: dict[str, Any], where: str) -> M:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:5]:
            field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in error["loc"]).replace(".[", "[")
            problems.append(f"{shown(field or '(the answer)', 80)}: {error['msg']}")
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise PatroniError(f"{where}: unexpected answer: " + "; ".join(problems) + more) from None


# --- inside pgtune -------------------------------------------------------------------------------


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
        return self.api_url.rstrip("/").rsplit("/patroni", 1)[0]


@dataclass(frozen=True)
class Credentials:
    user: str | None
    password: str | None
    in_url: bool  # the password came from the URL (visible in the process list)


def credentials(url: str) -> Credentials:
    """The REST API's credentials: the environment first, else user:password@ of the URL."""
    parts = urllib.parse.urlsplit(url)
    user = os.environ.get(USER_ENV) or (urllib.parse.unquote(parts.username) if parts.username else None)
    from_env = os.environ.get(PASSWORD_ENV)
    password = from_env or (urllib.parse.unquote(parts.password) if parts.password else None)
    return Credentials(user, password, in_url=parts.password is not None)


class Client:
    def __init__(self, url: str) -> None:
        try:
            given = origin(url)
        except EndpointError:
            raise PatroniError(f"--patroni wants the REST API's URL (http://host:8008), not {shown(url)!r}") from None
        found = credentials(url)
        remember_secret(found.password)
        self.base = given
        pair = (found.user, found.password) if found.user and found.password else None
        self.http = HttpClient("Patroni", credentials=pair, error=PatroniError)
        self.http.trust(given)

    def members(self) -> list[Member]:
        where = f"Patroni GET {self.base}/cluster"
        answer = _validated(ClusterAnswer, self.http.json("GET", self.base + "/cluster"), where)
        if not answer.members:
            raise PatroniError(f"{where}: Patroni reports no members")
        names = [m.name for m in answer.members]
        twice = sorted({shown(n, 80) for n in names if names.count(n) > 1})
        if twice:
            raise PatroniError(f"{where}: unexpected answer: members named twice: {', '.join(twice)}")
        for m in answer.members:
            self.http.trust(m.api_url)  # restarts go to the member's own API, as Patroni advertises it
        return [
            Member(
                m.name, m.role, m.state, m.host, m.port, m.api_url, m.pending_restart, dict(m.pending_restart_reason)
            )
            for m in answer.members
        ]

    def parameters(self) -> dict[str, Any]:
        """The DCS's `postgresql.parameters` (the cluster-wide configuration)."""
        where = f"Patroni GET {self.base}/config"
        answer = _validated(ConfigAnswer, self.http.json("GET", self.base + "/config"), where)
        return dict(answer.postgresql.parameters or {}) if answer.postgresql else {}

    def patch_parameters(self, values: dict[str, str | None]) -> None:
        self.http.call("PATCH", self.base + "/config", {"postgresql": {"parameters": values}}, authenticate=True)

    def restart(self, member: Member) -> None:
        # Patroni answers a restart in plain text ("restarted successfully"): the status is the answer.
        self.http.call("POST", member.api + "/restart", {"restart_pending": True}, authenticate=True)

    def member_status(self, member: Member) -> StatusAnswer:
        where = f"Patroni GET {member.api_url}"
        return _validated(StatusAnswer, self.http.json("GET", member.api_url), where)


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.25) -> None:
    """Poll (never a fixed sleep) until `condition()` holds, for at most `timeout` seconds."""
    try:  # a member restarting does not answer for a moment
        poll_until(condition, timeout, interval=interval, tolerate=(PgtuneError,))
    except PollTimeout as exc:
        last = f" (last: {exc.last})" if exc.last else ""
        raise PatroniError(f"timed out after {timeout:g}s waiting for {what}{last}") from None
