"""JSON from outside — an endpoint's answer, a saved plan, a CI event — read strictly and boundedly.

Python's json module recurses once per nesting level (100,000 `[` raise RecursionError) and turns
any run of digits into an int (5,000 digits raise ValueError past sys.int_info's limit, or take
quadratic time below it); it also accepts NaN and Infinity, and keeps the last of duplicate keys.
Here: nesting is counted before parsing (strings skipped), integers are held to 20 digits, floats
must be finite, constants other than true/false/null are refused, a key given twice is refused.
Every refusal is one JsonRefused with what was wrong, never an internal error.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64
"""Nesting levels an answer may have: Patroni's and GitHub's answers use fewer than ten."""
MAX_DIGITS = 20
"""Digits an integer may have (a 64-bit value has at most 20)."""


class JsonRefused(ValueError):
    """The text is not JSON pgtune accepts; the message says why, in one line."""


def depth(data: bytes | str) -> int:
    """The deepest nesting of arrays and objects, strings skipped, in one pass without recursion."""
    raw = data.encode() if isinstance(data, str) else data
    deepest = level = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            level += 1
            deepest = max(deepest, level)
        elif byte in (0x5D, 0x7D):  # ] }
            level -= 1
    return deepest


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise JsonRefused(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused(f"a number out of range ({text[:40]})")
    return value


def _constant(text: str) -> Any:
    raise JsonRefused(f"{text} is not JSON")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonRefused(f"the key {key[:80]!r} is given twice")
        out[key] = value
    return out


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text strictly; JsonRefused on anything pgtune does not accept."""
    nesting = depth(data)
    if nesting > max_depth:
        raise JsonRefused(f"nested {nesting} levels deep (at most {max_depth})")
    try:
        return json.loads(data, parse_int=_int, parse_float=_float, parse_constant=_constant, object_pairs_hook=_pairs)
    except JsonRefused:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JsonRefused(f"not JSON: {exc}") from None
    except (RecursionError, ValueError) as exc:
        raise JsonRefused(f"not JSON pgtune reads: {type(exc).__name__}") from None
