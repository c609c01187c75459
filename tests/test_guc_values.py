"""Typed setting values: every spelling the server accepts maps to one canonical value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgtune.base.guc import GucSpec, InvalidValue, parse_bool, parse_list

SHARED_BUFFERS = GucSpec("shared_buffers", "integer", "8kB", "postmaster", "16", "1073741823")
JIT = GucSpec("jit", "bool", context="user")
HUGE_PAGES = GucSpec("huge_pages", "enum", context="postmaster", enumvals=("off", "on", "try"))
RANDOM_PAGE_COST = GucSpec("random_page_cost", "real", None, "user", "0", "1.79769e+308")
SEARCH_PATH = GucSpec("search_path", "string")
PRELOAD = GucSpec("shared_preload_libraries", "string", context="postmaster")


@pytest.mark.parametrize("spelling", ["on", "ON", "true", "t", "yes", "y", "1", "tr"])
def test_true_spellings(spelling: str) -> None:
    assert JIT.canonical(spelling) is True


@pytest.mark.parametrize("spelling", ["off", "of", "false", "f", "no", "n", "0", "OFF"])
def test_false_spellings(spelling: str) -> None:
    assert JIT.canonical(spelling) is False


@pytest.mark.parametrize("spelling", ["o", "maybe", "2", ""])
def test_bad_booleans(spelling: str) -> None:
    with pytest.raises(InvalidValue, match="requires a Boolean value"):
        parse_bool(spelling, "jit")


def test_enums_are_case_insensitive_and_accept_boolean_synonyms() -> None:
    assert HUGE_PAGES.canonical("TRY") == "try"
    assert HUGE_PAGES.canonical("true") == "on"
    assert HUGE_PAGES.canonical("0") == "off"
    with pytest.raises(InvalidValue, match="allowed values: off, on, try"):
        HUGE_PAGES.canonical("sometimes")


@pytest.mark.parametrize("spelling", ["t", "y", "tr", "of", "n"])
def test_on_off_enums_take_no_prefixes(spelling: str) -> None:
    """A bool setting takes `t`; an enum that lists on/off does not (the server refuses it)."""
    with pytest.raises(InvalidValue):
        HUGE_PAGES.canonical(spelling)


def test_hidden_enum_words_the_server_accepts() -> None:
    wal_level = GucSpec("wal_level", "enum", context="postmaster", enumvals=("minimal", "replica", "logical"))
    assert wal_level.canonical("hot_standby") == "replica"
    assert wal_level.canonical("ARCHIVE") == "replica"
    levels = ("debug5", "debug4", "debug3", "debug2", "debug1", "info", "notice", "warning", "error", "log", "fatal")
    assert GucSpec("log_min_messages", "enum", enumvals=levels).canonical("debug") == "debug2"


def test_range_errors_name_the_range_in_units() -> None:
    with pytest.raises(InvalidValue, match=r"outside the valid range 128kB \.\. "):
        SHARED_BUFFERS.canonical("8kB")


def test_reals_compare_at_the_servers_display_precision() -> None:
    assert RANDOM_PAGE_COST.equal(RANDOM_PAGE_COST.canonical("1.1"), RANDOM_PAGE_COST.canonical("1.10000"))
    assert RANDOM_PAGE_COST.equal(0.1234567, 0.123457)  # pg_settings shows %g
    assert not RANDOM_PAGE_COST.equal(1.1, 1.2)


def test_lists_parse_from_yaml_and_from_server_text_alike() -> None:
    assert SEARCH_PATH.canonical('"$user", public') == ("$user", "public")
    assert SEARCH_PATH.canonical(["$user", "public"]) == ("$user", "public")
    assert SEARCH_PATH.canonical("Public, app") == ("public", "app")  # identifiers fold
    assert PRELOAD.canonical("pg_stat_statements,auto_explain") == ("pg_stat_statements", "auto_explain")
    assert parse_list('"a""b", c', identifiers=False) == ('a"b', "c")


def test_a_list_value_for_a_scalar_setting_is_an_error() -> None:
    with pytest.raises(InvalidValue, match="single value"):
        JIT.canonical(["on"])


@given(
    st.lists(
        st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1).filter(
            lambda s: s.strip() == s and s
        ),
        min_size=1,
        max_size=5,
    )
)
def test_list_display_round_trips_through_server_quoting(items: list[str]) -> None:
    """What PostgreSQL writes for a list (each element double-quoted) reads back as the same list."""
    server_text = ", ".join('"' + item.replace('"', '""') + '"' for item in items)
    assert parse_list(server_text, identifiers=False) == tuple(items)


def test_enum_aliases_the_server_stores_differently() -> None:
    """PostgreSQL 15+ stores wal_compression = on as pglz: both spellings must compare equal."""
    pg15 = GucSpec("wal_compression", "enum", enumvals=("pglz", "lz4", "zstd", "on", "off"))
    assert pg15.canonical("on") == pg15.canonical("pglz") == pg15.canonical("true") == "pglz"
    pg14 = GucSpec("wal_compression", "enum", enumvals=("on", "off"))
    assert pg14.canonical("on") == pg14.canonical("yes") == "on"
