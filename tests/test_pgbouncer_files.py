"""PgBouncer values and pgbouncer.ini editing: pure functions, unit and property tests."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgtune.integrations.pgbouncer.ini import read_settings, set_values, write_file
from pgtune.integrations.pgbouncer.values import BouncerSetting, InvalidBouncerValue


@pytest.mark.parametrize(
    ("name", "raw", "shown"),
    [
        ("query_wait_timeout", "30", "30"),
        ("query_wait_timeout", "30s", "30"),
        ("query_wait_timeout", "1.5", "1.5"),
        ("query_wait_timeout", "500ms", "0.5"),
        ("server_lifetime", "30min", "1800"),
        ("server_lifetime", "1h", "3600"),
        ("log_stats", "on", "1"),
        ("log_stats", "false", "0"),
        ("log_stats", "1", "1"),
        ("pool_mode", "Transaction", "transaction"),
        ("default_pool_size", " 25 ", "25"),
        ("server_reset_query", "DISCARD ALL", "DISCARD ALL"),
    ],
)
def test_values_render_the_way_show_config_does(name: str, raw: str, shown: str) -> None:
    assert BouncerSetting.of(name).canonical(raw) == shown


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("query_wait_timeout", "30 seconds", "duration"),
        ("query_wait_timeout", "-1", "negative"),
        ("log_stats", "maybe", "on or off"),
        ("pool_mode", "bogus", "session, transaction, statement"),
        ("default_pool_size", "-5", "whole number"),
        ("default_pool_size", "2.5", "whole number"),
        ("max_client_conn", "99999999999", "out of range"),
        ("server_reset_query", "DISCARD ALL\nlisten_port = 1", "line break"),
    ],
)
def test_values_pgbouncer_would_misread_are_refused(name: str, raw: str, message: str) -> None:
    with pytest.raises(InvalidBouncerValue, match=message):
        BouncerSetting.of(name).canonical(raw)


def test_unknown_settings_are_typed_from_their_live_default() -> None:
    assert BouncerSetting.of("max_prepared_statements", "0").kind == "integer"
    assert BouncerSetting.of("some_new_text_setting", "abc").kind == "text"
    assert BouncerSetting.of("query_wait_timeout").same("120", "2min")
    assert not BouncerSetting.of("query_wait_timeout").same("120", "1min")


@given(st.floats(min_value=0, max_value=10**6, allow_nan=False).map(lambda f: round(f, 3)))
def test_durations_are_stable_once_rendered(seconds: float) -> None:
    setting = BouncerSetting.of("server_idle_timeout")
    shown = setting.canonical(repr(seconds))
    assert setting.canonical(shown) == shown
    assert float(shown) == pytest.approx(seconds, abs=0.001)


INI = """;; managed by hand
[databases]
pool_mode = not-a-pgbouncer-setting

[pgbouncer]
listen_port=6432
  ; a comment inside the section
# another comment
POOL_MODE = session
pool_mode = session

[users]
alice = pool_mode=session
"""


def test_edit_changes_only_the_last_line_setting_the_key() -> None:
    out = set_values(INI, {"pool_mode": "transaction"})
    before, after = INI.splitlines(), out.splitlines()
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [9]
    assert after[9] == "pool_mode = transaction"
    assert read_settings(out)["pool_mode"].value == "transaction"


def test_edit_keeps_spelling_and_spacing_and_adds_new_keys_to_the_section() -> None:
    out = set_values(INI, {"listen_port": "7000", "default_pool_size": "25"})
    lines = out.splitlines()
    assert lines[5] == "listen_port=7000"
    assert lines[10] == "default_pool_size = 25"
    assert lines[11] == ""
    assert lines[12] == "[users]"
    assert read_settings(out)["default_pool_size"].line == 11
    assert "[databases]\npool_mode = not-a-pgbouncer-setting" in out  # other sections untouched


def test_edit_adds_the_section_when_missing_and_keeps_crlf() -> None:
    assert set_values("[databases]\nx = host=a", {"pool_mode": "transaction"}) == (
        "[databases]\nx = host=a\n\n[pgbouncer]\npool_mode = transaction\n"
    )
    crlf = set_values("[pgbouncer]\r\npool_mode = session\r\n", {"pool_mode": "transaction", "a": "1"})
    assert crlf == "[pgbouncer]\r\npool_mode = transaction\r\na = 1\r\n"


def test_a_value_cannot_inject_lines() -> None:
    with pytest.raises(ValueError, match="span lines"):
        set_values(INI, {"pool_mode": "session\nlisten_port = 1"})


keys = st.from_regex(r"[a-z][a-z_]{0,20}", fullmatch=True)
values = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\r\n"), max_size=30).map(
    str.strip
)


@given(st.dictionaries(keys, values, max_size=6))
def test_edits_read_back_and_leave_other_lines_alone(edits: dict[str, str]) -> None:
    out = set_values(INI, edits)
    found = read_settings(out)
    for key, value in edits.items():
        assert found[key].value == value
    untouched = [ln for ln in INI.splitlines() if not ln.strip().lower().startswith(tuple(edits) or ("\0",))]
    assert all(ln in out.splitlines() for ln in untouched)
    assert set_values(out, edits) == out  # idempotent


def test_write_file_is_atomic_and_keeps_mode(tmp_path: Path) -> None:
    path = tmp_path / "pgbouncer.ini"
    path.write_text(INI, encoding="utf-8")
    os.chmod(path, 0o640)
    link = tmp_path / "link.ini"
    link.symlink_to(path)
    write_file(link, {"pool_mode": "transaction"})
    assert link.is_symlink()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert read_settings(path.read_text())["pool_mode"].value == "transaction"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".pgtune")] == []
