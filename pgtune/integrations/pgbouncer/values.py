"""PgBouncer setting values: every spelling a profile may use, parsed into the one PgBouncer shows.

PgBouncer (1.18, verified against the real binary in tests) reads times as plain, possibly
fractional, seconds (`30`, `1.5`; no units), switches as integers (`0`/`1`; not `on`), pool_mode
and the TLS/auth modes as lower-case words, and everything else as integers or free text. `SET`
accepts a negative integer and an out-of-range value silently (`tcp_keepidle = -1` breaks new
connections), so pgtune checks values itself before anything runs. Profiles may write durations
with units (`30s`, `5min`), switches as booleans, and modes in any case; all are rendered back
into PgBouncer's own form, which is what SHOW CONFIG returns, so nothing diffs forever.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pgtune.base.units import UnitError, format_seconds, parse_seconds

TIME_SETTINGS = frozenset(
    {
        "autodb_idle_timeout",
        "cancel_wait_timeout",
        "client_idle_timeout",
        "client_login_timeout",
        "dns_max_ttl",
        "dns_nxdomain_ttl",
        "dns_zone_check_period",
        "idle_transaction_timeout",
        "query_timeout",
        "query_wait_timeout",
        "reserve_pool_timeout",
        "server_check_delay",
        "server_connect_timeout",
        "server_idle_timeout",
        "server_lifetime",
        "server_login_retry",
        "suspend_timeout",
    }
)
"""Durations, in seconds (fractions allowed)."""

SWITCH_SETTINGS = frozenset(
    {
        "application_name_add_host",
        "disable_pqexec",
        "log_connections",
        "log_disconnections",
        "log_pooler_errors",
        "log_stats",
        "server_fast_close",
        "server_reset_query_always",
        "server_round_robin",
        "so_reuseport",
        "syslog",
        "tcp_defer_accept",
        "tcp_keepalive",
    }
)
"""On/off settings PgBouncer stores as 0/1."""

ENUM_SETTINGS: dict[str, tuple[str, ...]] = {
    "pool_mode": ("session", "transaction", "statement"),
    "auth_type": ("any", "trust", "plain", "md5", "scram-sha-256", "cert", "hba", "pam", "ldap"),
    "client_tls_sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "server_tls_sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
}

TRUE_WORDS = frozenset({"1", "on", "true", "yes"})
FALSE_WORDS = frozenset({"0", "off", "false", "no"})
_INTEGER = re.compile(r"^\d+$")
_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")

PGBOUNCER_DEFAULTS = {
    "pool_mode": "session",
    "max_client_conn": "100",
    "default_pool_size": "20",
    "min_pool_size": "0",
    "reserve_pool_size": "0",
    "max_db_connections": "0",
    "max_user_connections": "0",
    "server_lifetime": "3600",
    "server_idle_timeout": "600",
    "query_wait_timeout": "120",
    "max_prepared_statements": "0",
}
"""PgBouncer's compiled-in defaults (src/main.c) for what the capacity check reads, when neither the
profile nor a live console says otherwise."""


class InvalidBouncerValue(ValueError):
    """A value PgBouncer would reject or misread; the message says what is allowed."""


@dataclass(frozen=True)
class BouncerSetting:
    """One PgBouncer setting's type, from pgtune's tables or, failing those, its live default."""

    name: str
    kind: str  # time | switch | enum | integer | text

    @classmethod
    def of(cls, name: str, default: str | None = None) -> BouncerSetting:
        if name in TIME_SETTINGS:
            return cls(name, "time")
        if name in SWITCH_SETTINGS:
            return cls(name, "switch")
        if name in ENUM_SETTINGS:
            return cls(name, "enum")
        if (default is not None and _INTEGER.match(default)) or name in PGBOUNCER_DEFAULTS:
            return cls(name, "integer")
        return cls(name, "text")

    def canonical(self, raw: str) -> str:
        """The value as PgBouncer shows it (SHOW CONFIG), or InvalidBouncerValue."""
        text = raw.strip()
        if self.kind == "time":
            try:
                seconds = parse_seconds(text)
            except UnitError as exc:
                raise InvalidBouncerValue(f"{self.name}: {exc} (a duration: 30, 30s, 5min, 1.5)") from None
            if seconds < 0:
                raise InvalidBouncerValue(f"{self.name}: a duration cannot be negative ({raw!r})")
            return format_seconds(seconds)
        if self.kind == "switch":
            word = text.lower()
            if word in TRUE_WORDS:
                return "1"
            if word in FALSE_WORDS:
                return "0"
            raise InvalidBouncerValue(f"{self.name}: expected on or off (true/false, 1/0), got {raw!r}")
        if self.kind == "enum":
            word = text.lower()
            allowed = ENUM_SETTINGS[self.name]
            if word not in allowed:
                raise InvalidBouncerValue(f"{self.name}: {raw!r} is not one of {', '.join(allowed)}")
            return word
        if self.kind == "integer":
            if not _INTEGER.match(text):
                raise InvalidBouncerValue(f"{self.name}: expected a whole number ≥ 0, got {raw!r}")
            if int(text) > 2**31 - 1:
                raise InvalidBouncerValue(f"{self.name}: {raw!r} is out of range")
            return str(int(text))
        if any(ord(c) < 32 for c in raw):
            raise InvalidBouncerValue(f"{self.name}: a value cannot contain a line break or control character")
        return raw.strip()

    def same(self, a: str | None, b: str | None) -> bool:
        """Equal once both are in PgBouncer's form (live values may be unparsable: then compare text)."""
        if a is None or b is None:
            return (a or "") == (b or "")
        try:
            return self.canonical(a) == self.canonical(b)
        except InvalidBouncerValue:
            return a == b


def valid_key(name: str) -> bool:
    return bool(_KEY.match(name))


def number(value: str | None) -> float:
    """A numeric PgBouncer value for arithmetic (0 when unset)."""
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0
