"""Partition arithmetic that needs no server: intervals, retention periods and partition names.

Time boundaries themselves are computed by the server (`date_trunc` in the session's time zone,
so daylight-saving days and month ends are PostgreSQL's business); this module only decides how
to ask, and how to name what comes back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

MAX_NAME_BYTES = 63

_UNITS = {"hour": "hour", "day": "day", "week": "week", "month": "month", "year": "year"}
_ALIASES = {
    "hourly": (1, "hour"),
    "daily": (1, "day"),
    "weekly": (1, "week"),
    "monthly": (1, "month"),
    "quarterly": (3, "month"),
    "yearly": (1, "year"),
}
_INTERVAL = re.compile(r"^\s*(\d+)\s*(hour|day|week|month|year)s?\s*$", re.IGNORECASE)
SUPPORTED = "1 hour, 1 day, 1 week, 1 month, 3 months, 1 year, or an integer"


class PartitioningError(ValueError):
    """A partitioning value pgtune cannot use; the message says what is accepted."""


@dataclass(frozen=True)
class TimeStep:
    """A time interval partitions are aligned to: `date_trunc(trunc, ...)` + n * `sql_interval`."""

    trunc: str  # date_trunc field: hour | day | week | month | quarter | year
    sql_interval: str  # e.g. "3 months"

    @property
    def unit(self) -> str:
        return self.trunc


@dataclass(frozen=True)
class IntStep:
    size: int


Step = TimeStep | IntStep


def parse_interval(text: str) -> Step:
    """The partition interval: a supported time interval, or a positive integer for id ranges."""
    raw = text.strip().lower()
    if raw.isdigit():
        if int(raw) <= 0:
            raise PartitioningError("an integer interval must be positive")
        return IntStep(int(raw))
    if raw in _ALIASES:
        count, unit = _ALIASES[raw]
    else:
        match = _INTERVAL.match(raw)
        if not match:
            raise PartitioningError(f"unsupported interval {text!r}: use {SUPPORTED}")
        count, unit = int(match.group(1)), _UNITS[match.group(2).lower()]
    if count == 1:
        return TimeStep(unit, f"1 {unit}")
    if (count, unit) == (3, "month"):
        return TimeStep("quarter", "3 months")
    raise PartitioningError(f"unsupported interval {text!r}: use {SUPPORTED}")


def parse_period(text: str, step: Step) -> str | int:
    """A retention period: `N unit(s)` for time partitions (validated, returned as an interval),
    an integer for id ranges."""
    raw = text.strip().lower()
    if isinstance(step, IntStep):
        if not raw.isdigit():
            raise PartitioningError(f"retention for integer ranges is an integer, not {text!r}")
        return int(raw)
    match = _INTERVAL.match(raw)
    if not match or int(match.group(1)) <= 0:
        raise PartitioningError(f"invalid retention {text!r}: write e.g. '12 months', '90 days', '2 years'")
    return f"{int(match.group(1))} {match.group(2).lower()}s"


DEFAULT_NAMING = {
    "year": "{table}_p{year}",
    "quarter": "{table}_p{year}q{quarter}",
    "month": "{table}_p{year}_{month}",
    "week": "{table}_p{isoyear}w{week}",
    "day": "{table}_p{year}_{month}_{day}",
    "hour": "{table}_p{year}_{month}_{day}_{hour}00",
}
"""pg_partman 4.x names: messages_p2026_11, messages_p2026w47, messages_p2026_11_24_1300."""
INT_NAMING = "{table}_p{lower}"
PLACEHOLDERS = frozenset({"table", "year", "month", "day", "hour", "isoyear", "week", "quarter", "lower"})


def default_naming(step: Step) -> str:
    return INT_NAMING if isinstance(step, IntStep) else DEFAULT_NAMING[step.trunc]


def check_naming(template: str) -> None:
    names = set(re.findall(r"\{([^{}]*)\}", template))
    unknown = sorted(names - PLACEHOLDERS)
    if unknown:
        allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
        raise PartitioningError(f"unknown placeholder {{{unknown[0]}}} in naming; use {allowed}")
    if "{table}" not in template and not names:
        raise PartitioningError("naming must contain placeholders, or every partition would get the same name")


def partition_name(template: str, table: str, lower: datetime | date | int) -> str:
    """The name of the partition starting at `lower`; the table part is trimmed to fit 63 bytes."""
    fields: dict[str, str] = {"lower": str(lower)}
    if isinstance(lower, date):  # datetime is a date too
        iso = lower.isocalendar()
        fields |= {
            "year": f"{lower.year:04d}",
            "month": f"{lower.month:02d}",
            "day": f"{lower.day:02d}",
            "hour": f"{lower.hour:02d}" if isinstance(lower, datetime) else "00",
            "isoyear": f"{iso[0]:04d}",
            "week": f"{iso[1]:02d}",
            "quarter": str((lower.month - 1) // 3 + 1),
        }
    suffix = template.replace("{table}", "\0").format(**fields) if "{table}" in template else template.format(**fields)
    if "\0" not in suffix:
        return suffix
    before, after = suffix.split("\0", 1)
    room = MAX_NAME_BYTES - len((before + after).encode())
    return before + table.encode()[: max(room, 0)].decode(errors="ignore") + after
