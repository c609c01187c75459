"""PostgreSQL's grammar for numeric setting values with units — the one place units are parsed.

Mirrors `parse_int`/`parse_real`/`convert_to_base_unit` in PostgreSQL's guc.c (12+): numbers as
strtol(base 0)/strtod reads them, an optional case-sensitive unit, fractions with a unit rounded
to the next smaller unit, integers rounded with rint. Emulating the server exactly is what makes
`1GB`, `1024MB` and `131072` (8kB pages) compare equal and never produce a perpetual diff.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MEMORY_UNITS: dict[str, int] = {"TB": 1024**4, "GB": 1024**3, "MB": 1024**2, "kB": 1024, "B": 1}
"""Bytes per memory unit, largest first (the order PostgreSQL's conversion table uses)."""

TIME_UNITS: dict[str, int] = {
    "d": 86_400_000_000,
    "h": 3_600_000_000,
    "min": 60_000_000,
    "s": 1_000_000,
    "ms": 1_000,
    "us": 1,
}
"""Microseconds per time unit, largest first."""

INT_MIN, INT_MAX = -(2**31), 2**31 - 1

_BASE_UNIT = re.compile(r"^(\d*)(B|kB|MB|GB|TB|us|ms|s|min|h|d)$")
_STRTOL = re.compile(r"\s*[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_STRTOD = re.compile(r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE)


class UnitError(ValueError):
    """A value PostgreSQL would reject; the message is fit to show a user."""


@dataclass(frozen=True)
class BaseUnit:
    """A setting's implicit unit from `pg_settings.unit`, e.g. `8kB`, `kB`, `ms`, `min`."""

    family: str  # "memory" | "time"
    size: int  # bytes or microseconds per base unit
    text: str

    @property
    def table(self) -> dict[str, int]:
        return MEMORY_UNITS if self.family == "memory" else TIME_UNITS

    @classmethod
    def parse(cls, unit: str | None) -> BaseUnit | None:
        if not unit:
            return None
        m = _BASE_UNIT.match(unit)
        if not m:
            return None  # a unit pgtune does not know: treat the setting as unit-less
        count = int(m.group(1) or 1)
        name = m.group(2)
        if name in MEMORY_UNITS:
            return cls("memory", count * MEMORY_UNITS[name], unit)
        return cls("time", count * TIME_UNITS[name], unit)

    def valid_units_hint(self) -> str:
        names = [f'"{u}"' for u in reversed(self.table)]
        return f"Valid units for this parameter are {', '.join(names[:-1])}, and {names[-1]}."


MAX_DIGITS = 64


def _split_number(text: str, integer: bool) -> tuple[float, str]:
    """Read the leading number the way strtol(base 0) / strtod do; return it and the rest."""
    if integer:
        m = _STRTOL.match(text)
        rest = text[m.end() :] if m else ""
        if m and rest[:1] not in (".", "e", "E"):
            digits = m.group(0).strip()
            sign = -1 if digits.startswith("-") else 1
            digits = digits.lstrip("+-")
            if len(digits) > MAX_DIGITS:  # far beyond any integer setting; int() would refuse it
                raise UnitError(f'invalid value "{text[:40]}...": value exceeds integer range')
            if digits[:2].lower() == "0x":
                value = int(digits[2:], 16)
            elif len(digits) > 1 and digits.startswith("0"):
                value = int(digits, 8)
            else:
                value = int(digits)
            return float(sign * value), rest
    m = _STRTOD.match(text)
    if not m or m.group(0).strip() in ("", "+", "-"):
        raise UnitError(f'invalid value "{text}": not a number')
    real = float(m.group(0))
    if math.isnan(real):
        raise UnitError(f'invalid value "{text}": not a number')
    return real, text[m.end() :]


def _to_base(value: float, unit_text: str, base: BaseUnit) -> float:
    """convert_to_base_unit: scale, rounding a fraction to the next smaller unit."""
    table = base.table
    if unit_text not in table:
        raise UnitError(f'invalid unit "{unit_text}". {base.valid_units_hint()}')
    names = list(table)
    multiplier = table[unit_text] / base.size
    converted = value * multiplier
    if not math.isfinite(converted):
        raise UnitError(f'invalid value "{value:g}{unit_text}": out of range')
    i = names.index(unit_text)
    if i + 1 < len(names):
        smaller = table[names[i + 1]] / base.size
        converted = round(converted / smaller) * smaller
    return converted


def parse_number(text: str, base: BaseUnit | None, *, integer: bool) -> float:
    """Parse a numeric setting value into the setting's base unit (int-valued for integers)."""
    value, rest = _split_number(text, integer)
    rest = rest.strip()
    if rest:
        if base is None:
            raise UnitError(f'invalid value "{text}": this parameter does not accept a unit')
        if len(rest.split()) != 1:
            raise UnitError(f'invalid value "{text}": garbage after the unit')
        value = _to_base(value, rest, base)
    if integer:
        if math.isinf(value):
            raise UnitError(f'invalid value "{text}": value exceeds integer range')
        value = float(round(value))
        if not INT_MIN <= value <= INT_MAX:
            raise UnitError(f'invalid value "{text}": value exceeds integer range')
    return value


def format_number(value: float, base: BaseUnit | None, *, integer: bool) -> str:
    """Render a base-unit value as SHOW does: the largest unit that divides it exactly."""
    if integer:
        whole = int(value)
        if base is None or whole <= 0:
            return str(whole)
        raw = whole * base.size
        for name, size in base.table.items():
            if raw % size == 0 and size >= 1:
                return f"{raw // size}{name}"
        return f"{whole}"
    if base is None or value == 0:
        return _format_real(value)
    real = value * base.size
    for name, size in base.table.items():
        scaled = real / size
        if size <= real and float(scaled).is_integer():
            return f"{int(scaled)}{name}"
    return _format_real(value)  # unit-less = base unit: a fraction with a unit would be rounded


def _format_real(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


_SECONDS = BaseUnit("time", TIME_UNITS["s"], "s")


def parse_seconds(text: str) -> float:
    """A duration in seconds: `30`, `30s`, `1.5`, `500ms`, `30min`, `1h` (a bare number is seconds).

    For durations outside PostgreSQL's settings (SQLAlchemy pools, PgBouncer), which count in seconds."""
    value = parse_number(text, _SECONDS, integer=False)
    if not math.isfinite(value):
        raise UnitError(f'invalid value "{text}": not a finite duration')
    return value


def format_seconds(seconds: float) -> str:
    """Seconds the way PgBouncer shows them: `30`, `1.5`."""
    return _format_real(seconds)


_BYTES = BaseUnit("memory", 1, "B")


def parse_bytes(text: str) -> int:
    """A memory size in bytes: `16GB`, `512MB`, `1TB` (PostgreSQL's units; a bare number is bytes)."""
    value = parse_number(text, _BYTES, integer=False)
    if not math.isfinite(value) or abs(value) > 2**63:
        raise UnitError(f'invalid value "{text}": out of range')
    return int(value)
