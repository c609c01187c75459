"""The unit grammar, checked against PostgreSQL's documented behaviour and by property tests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgtune.base.units import INT_MAX, MEMORY_UNITS, TIME_UNITS, BaseUnit, UnitError, format_number, parse_number

PAGES = BaseUnit.parse("8kB")
KB = BaseUnit.parse("kB")
MS = BaseUnit.parse("ms")
SECONDS = BaseUnit.parse("s")
MB = BaseUnit.parse("MB")
BASES = [BaseUnit.parse(u) for u in ("B", "kB", "8kB", "MB", "ms", "s", "min")]


@pytest.mark.parametrize(
    ("text", "base", "expected"),
    [
        ("1GB", PAGES, 131072),
        ("1024MB", PAGES, 131072),
        ("131072", PAGES, 131072),
        ("30.1GB", KB, 30822 * 1024),  # fraction rounds to the next smaller unit (MB)
        ("010", KB, 8),  # strtol base 0: octal, as the server reads it
        ("0x10", KB, 16),
        (" 4 GB ", PAGES, 524288),  # whitespace around number and unit
        ("1.5", KB, 2),  # rint, half to even
        ("2.5", KB, 2),
        ("30s", MS, 30000),
        ("1min", MS, 60000),
        ("1d", SECONDS, 86400),
        ("-1", MS, -1),
        ("2GB", MB, 2048),
        ("100us", MS, 0),
    ],
)
def test_integer_values_parse_as_the_server_does(text: str, base: BaseUnit, expected: int) -> None:
    assert parse_number(text, base, integer=True) == expected


@pytest.mark.parametrize(
    ("text", "base", "message"),
    [
        ("1gb", PAGES, 'invalid unit "gb"'),  # units are case-sensitive
        ("1M", PAGES, 'Valid units for this parameter are "B", "kB", "MB", "GB", and "TB"'),
        ("10 s", None, "does not accept a unit"),
        ("abc", KB, "not a number"),
        ("nan", KB, "not a number"),
        ("4294967296", KB, "exceeds integer range"),
        ("1s", PAGES, 'invalid unit "s"'),
        ("5 GB x", KB, "garbage"),
    ],
)
def test_invalid_values_are_rejected_with_the_reason(text: str, base: BaseUnit | None, message: str) -> None:
    with pytest.raises(UnitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_number(text, base, integer=True)


def test_reals_keep_fractions_and_convert_units() -> None:
    assert parse_number("0.5s", MS, integer=False) == 500.0
    assert parse_number("1.1", None, integer=False) == 1.1
    assert parse_number("2e-3", None, integer=False) == 0.002


@pytest.mark.parametrize(
    ("value", "base", "text"),
    [
        (131072, PAGES, "1GB"),
        (16384, PAGES, "128MB"),
        (1, PAGES, "8kB"),
        (60000, MS, "1min"),
        (-1, MS, "-1"),
        (0, MS, "0"),
        (1500, MS, "1500ms"),
        (3, KB, "3kB"),
    ],
)
def test_format_matches_show(value: int, base: BaseUnit, text: str) -> None:
    assert format_number(value, base, integer=True) == text


@given(st.sampled_from(BASES), st.integers(min_value=-1, max_value=INT_MAX))
def test_format_then_parse_round_trips(base: BaseUnit, value: int) -> None:
    text = format_number(value, base, integer=True)
    assert parse_number(text, base, integer=True) == value


@given(st.sampled_from(BASES), st.integers(min_value=0, max_value=2**20), st.data())
def test_every_exact_spelling_means_the_same(base: BaseUnit, count: int, data: st.DataObject) -> None:
    """N units written in any unit that divides exactly parses to the same base value."""
    table = base.table
    unit = data.draw(st.sampled_from([u for u, size in table.items() if size >= base.size]))
    raw = count * table[unit]
    if raw // base.size > INT_MAX:
        return
    assert raw % base.size == 0
    expected = raw // base.size
    for other, size in table.items():
        if raw % size == 0 and size >= 1:
            assert parse_number(f"{raw // size}{other}", base, integer=True) == expected


@given(st.sampled_from(BASES), st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_real_round_trip(base: BaseUnit, value: float) -> None:
    text = format_number(value, base, integer=False)
    assert parse_number(text, base, integer=False) == pytest.approx(value, rel=1e-9, abs=1e-9)


def test_unit_tables_are_largest_first() -> None:
    for table in (MEMORY_UNITS, TIME_UNITS):
        sizes = list(table.values())
        assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("text", ["1e400GB", "inf MB", "-1e309kB"])
def test_infinite_values_with_units_are_refused_not_crashed(text: str) -> None:
    with pytest.raises(UnitError):
        parse_number(text, BaseUnit.parse("kB"), integer=True)
    with pytest.raises(UnitError):
        parse_number(text, BaseUnit.parse("kB"), integer=False)
