"""Typed setting values: turn any spelling PostgreSQL accepts into one canonical value per GUC.

A `GucSpec` is one row of `pg_settings` (vartype, unit, bounds, enum values, context). `canonical`
parses a raw text value — from a profile, `pg_settings.setting`, `pg_file_settings` or
`pg_db_role_setting` alike — into a comparable Python value; `display` renders it the way SHOW
would. Both sides of every comparison go through the same function, so spelling never diffs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from pgtune.base.units import BaseUnit, UnitError, format_number, parse_number

Canonical = bool | int | float | str | tuple[str, ...]

LIST_SETTINGS = frozenset(
    {
        "shared_preload_libraries",
        "local_preload_libraries",
        "session_preload_libraries",
        "search_path",
        "temp_tablespaces",
    }
)
"""Settings whose value is a list (GUC_LIST_INPUT | GUC_LIST_QUOTE): written as `'a', 'b'`."""

_IDENTIFIER_LISTS = frozenset({"search_path", "temp_tablespaces"})
"""List settings whose unquoted elements are identifiers (folded to lower case by the server)."""


ENUM_ALIASES = {("wal_compression", "on"): "pglz"}
"""Enum words the server stores as another value (PostgreSQL 15+ keeps `wal_compression = on` as
`pglz`); applied only when the target value exists on the server, so older versions keep `on`."""


HIDDEN_ENUM_WORDS: dict[str, dict[str, str]] = {
    "wal_level": {"archive": "replica", "hot_standby": "replica"},
    "client_min_messages": {"debug": "debug2"},
    "log_min_messages": {"debug": "debug2"},
    "log_min_error_statement": {"debug": "debug2"},
    "icu_validation_level": {"debug": "debug2"},
    "trace_recovery_messages": {"debug": "debug2"},  # until PostgreSQL 16
}
"""Words the server accepts for an enum but hides from pg_settings.enumvals (guc_tables.c entries
marked hidden), with the value each stands for."""

CLAMPS = {"autovacuum_work_mem": lambda v: v if v == -1 else max(v, 1024)}
"""Values a setting's check hook changes without a word (autovacuum_work_mem: 0..1023 kB run as
1MB): canonicalised the same way, so the written value and the running one compare equal."""

ON_OFF_WORDS = {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}
"""The hidden words of every enum that lists on and off (huge_pages, synchronous_commit,
constraint_exclusion, archive_mode ...): exactly these, no prefixes — unlike a bool setting,
`huge_pages = t` is refused by the server, so by pgtune too."""


def newline_problem(name: str, raw: str | list[str]) -> str | None:
    """ALTER SYSTEM refuses a value with a line break (postgresql.auto.conf is line-based)."""
    texts = raw if isinstance(raw, list) else [raw]
    if any("\n" in str(t) or "\r" in str(t) for t in texts):
        return f"{name}: ALTER SYSTEM refuses a value containing a newline"
    return None


class InvalidValue(ValueError):
    """A value the server would reject for this setting; the message names what is allowed."""


@dataclass(frozen=True)
class GucSpec:
    name: str
    vartype: str  # bool | enum | integer | real | string
    unit: str | None = None
    context: str = "user"
    min_val: str | None = None
    max_val: str | None = None
    enumvals: tuple[str, ...] = ()
    boot_val: str | None = None

    def __hash__(self) -> int:
        """By name (equal specs have equal names): every typed value is cached by its spec, and
        hashing all eight fields was most of a cache hit."""
        return hash(self.name)

    @property
    def base(self) -> BaseUnit | None:
        return BaseUnit.parse(self.unit)

    @property
    def is_list(self) -> bool:
        return self.name in LIST_SETTINGS

    @property
    def restart_required(self) -> bool:
        return self.context == "postmaster"

    def bounds_text(self) -> str:
        lo, hi = self.canonical(self.min_val or "0"), self.canonical(self.max_val or "0")
        return f"{self.display(lo)} .. {self.display(hi)}"

    # -- parsing ---------------------------------------------------------------------------
    def canonical(self, raw: str | list[str], *, check_range: bool = True) -> Canonical:
        """Parse a raw value into its canonical form, or raise InvalidValue.

        Memoised: a fleet profile sets the same few values on thousands of tables, and the
        catalog stores them alike (~15 µs a parse)."""
        return _canonical(self, tuple(raw) if isinstance(raw, list) else raw, check_range)

    def _parse(self, raw: str | list[str], check_range: bool) -> Canonical:
        if self.is_list:
            return parse_list(raw, identifiers=self.name in _IDENTIFIER_LISTS)
        if isinstance(raw, list):
            raise InvalidValue(f"{self.name} takes a single value, not a list")
        text = raw.strip()
        if self.vartype == "bool":
            return parse_bool(text, self.name)
        if self.vartype == "enum":
            return self._parse_enum(text)
        if self.vartype in ("integer", "real"):
            return self._parse_number(text, check_range)
        return raw  # string: compared exactly, as the server stores it

    def _parse_number(self, text: str, check_range: bool) -> int | float:
        integer = self.vartype == "integer"
        try:
            value = parse_number(text, self.base, integer=integer)
        except UnitError as exc:
            raise InvalidValue(f"{self.name}: {exc}") from None
        if check_range and self.min_val is not None and self.max_val is not None:
            lo, hi = float(self.min_val), float(self.max_val)
            if not lo <= value <= hi:
                raise InvalidValue(f"{self.name} = {text!r} is outside the valid range {self.bounds_text()}")
        clamp = CLAMPS.get(self.name)
        if clamp is not None:
            value = clamp(value)
        return int(value) if integer else value

    def _alias(self, word: str, allowed: list[str]) -> str:
        target = ENUM_ALIASES.get((self.name, word))
        return target if target in allowed else word

    def _parse_enum(self, text: str) -> str:
        word = text.lower()
        allowed = [v.lower() for v in self.enumvals]
        if word in allowed:
            return self._alias(word, allowed)
        hidden = HIDDEN_ENUM_WORDS.get(self.name, {}).get(word)
        if hidden is None and "on" in allowed and "off" in allowed:
            hidden = ON_OFF_WORDS.get(word)
        if hidden is not None and hidden in allowed:
            return self._alias(hidden, allowed)
        raise InvalidValue(f"invalid value {text!r} for {self.name}; allowed values: {', '.join(self.enumvals)}")

    # -- rendering -------------------------------------------------------------------------
    def display(self, value: Canonical | None) -> str:
        """Human-readable, SHOW-like rendering (also the text written by ALTER ... SET)."""
        if value is None:
            return "(default)"
        if isinstance(value, tuple):
            return ", ".join(value) if value else "''"
        if isinstance(value, bool):
            return "on" if value else "off"
        if self.vartype in ("integer", "real") and isinstance(value, int | float):
            return format_number(value, self.base, integer=self.vartype == "integer")
        return str(value)

    def sql_values(self, value: Canonical) -> list[str]:
        """The literal(s) for `SET name = ...`: one per list element, else one."""
        if isinstance(value, tuple):
            return list(value)
        return [self.display(value)]

    def equal(self, a: Canonical | None, b: Canonical | None) -> bool:
        if a is None or b is None:
            return a is b
        if self.vartype == "real" and isinstance(a, float | int) and isinstance(b, float | int):
            # pg_settings renders reals with %g (6 significant digits): equal there is equal.
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12) or f"{a:g}" == f"{b:g}"
        return a == b


_BOOL_PREFIXES = (
    ("true", True, 1),
    ("false", False, 1),
    ("yes", True, 1),
    ("no", False, 1),
    ("on", True, 2),
    ("off", False, 2),
)
"""parse_bool's table: any prefix of these words of at least the given length (`o` is ambiguous)."""


def parse_bool(text: str, name: str = "value") -> bool:
    """PostgreSQL's parse_bool: on/off/true/false/yes/no/1/0 and unambiguous prefixes."""
    word = text.strip().lower()
    if word in ("1", "0"):
        return word == "1"
    for full, value, minimum in _BOOL_PREFIXES:
        if len(word) >= minimum and full.startswith(word):
            return value
    raise InvalidValue(f"{name} requires a Boolean value (on/off, true/false, yes/no, 1/0), got {text!r}")


def parse_list(raw: str | list[str], *, identifiers: bool) -> tuple[str, ...]:
    """A list setting's elements, from a YAML list or the server's `a, "b c"` text."""
    if isinstance(raw, list):
        return tuple(str(item).strip() for item in raw)
    items: list[str] = []
    text = raw.strip()
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] == '"':
            j, buf = i + 1, []
            while j < n:
                if text[j] == '"':
                    if j + 1 < n and text[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            items.append("".join(buf))
            i = j + 1
            while i < n and text[i] != ",":
                i += 1
        else:
            j = text.find(",", i)
            j = n if j < 0 else j
            word = text[i:j].strip()
            items.append(word.lower() if identifiers else word)
            i = j
        i += 1  # skip the comma
    return tuple(item for item in items if item != "" or len(items) > 1)


@lru_cache(maxsize=65536)
def _canonical(spec: GucSpec, raw: str | tuple[str, ...], check_range: bool) -> Canonical:
    return spec._parse(list(raw) if isinstance(raw, tuple) else raw, check_range)
