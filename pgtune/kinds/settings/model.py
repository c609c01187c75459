"""What the settings kind works with: the desired entries, the catalog a plan reads, typed values."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgtune.base.errors import Deferred, Location
from pgtune.base.guc import LIST_SETTINGS, Canonical, GucSpec
from pgtune.plan.model import Address
from pgtune.profile.model import FormulaValue

KIND = "setting"

SESSION_SOURCES = frozenset({"database", "user", "database user", "client", "session", "interactive", "test"})
"""pg_settings sources that describe this session, not the server: the server's value is unknown."""

CONNECTION_DEPENDENT = frozenset(
    {"tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count", "tcp_user_timeout"}
)
"""Settings whose SHOW reads the session's own socket: 0 on a Unix socket, the kernel's effective
value over TCP (7200 for an unset tcp_keepalives_idle) — never what the server is configured with.
They are judged from the configuration files on every connection (a write never reloaded goes
unseen for these four)."""

UNOVERRIDABLE_SOURCES = frozenset({"command line", "override"})
"""Sources that beat postgresql.auto.conf: ALTER SYSTEM cannot change what they set."""

SCOPED_CONTEXTS = frozenset({"user", "superuser", "backend", "superuser-backend"})
"""Contexts whose settings ALTER DATABASE/ROLE ... SET may hold."""

PRELOAD_SETTINGS = frozenset(LIST_SETTINGS - {"search_path", "temp_tablespaces"})


class Unparsable:
    """A value on the server pgtune cannot read (e.g. garbage in postgresql.conf): never equal."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class DesiredSetting:
    scope: str  # system | database | role
    target: str | None  # database or role name
    name: str  # as written in the profile
    raw: str | list[str] | FormulaValue | None  # None = reset; a formula only in a parameter group
    location: Location | Deferred | None
    key_location: Location | Deferred | None
    source: str = "settings"  # settings (declared) | workload (derived from workload:)

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def address(self) -> Address:
        scoped = self.scope != "system"
        return Address(KIND, self.key, scope=self.scope if scoped else None, target=self.target if scoped else None)

    @property
    def object(self) -> str:
        return str(self.address)


@dataclass(frozen=True)
class Running:
    setting: str | None
    source: str
    pending_restart: bool


@dataclass(frozen=True)
class FileRow:
    setting: str
    sourcefile: str
    applied: bool
    error: str | None

    @property
    def auto(self) -> bool:
        return self.sourcefile.endswith("postgresql.auto.conf")


@dataclass(frozen=True)
class ScopedTarget:
    may_alter: bool
    values: dict[str, str]  # lower-cased name -> raw value
    owner: str | None = None  # a database's owner (named in the GRANT that fixes a refusal)


@dataclass
class SettingsCatalog:
    """What the server holds, for every kind of scope, read in a constant number of queries."""

    version_num: int
    current_user: str  # the role whose privileges are judged (--privileges-of, else the connected one)
    superuser: bool
    specs: dict[str, GucSpec]
    running: dict[str, Running]
    files: dict[str, list[FileRow]] | None  # None: the role may not read pg_file_settings
    scoped: dict[tuple[str, str], ScopedTarget] = field(default_factory=dict)
    privileges: dict[str, tuple[bool, bool]] = field(default_factory=dict)  # name -> (alter system, set)
    sees_all: bool = True  # superuser or pg_read_all_settings: superuser-only settings are visible
    can_look_at_files: bool = False  # may pg_stat_file the server's library directory (libraries.check)
    can_reload: bool = True  # may EXECUTE pg_reload_conf()
    reader: str = ""  # the connected role: what pgtune itself reads needs its rights


@dataclass(frozen=True)
class TypedSetting:
    desired: DesiredSetting
    spec: GucSpec
    value: Canonical | None
    placeholder: bool = False
    unverified: tuple[str, ...] = ()  # preload libraries pgtune could not look for (UNVERIFIED_LIBRARY)
