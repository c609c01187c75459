"""Loading profiles: positions in every error, extends, and YAML typing that never changes meaning."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgtune.base.errors import Location, PgtuneError, ProfileError
from pgtune.profile import load_profile
from pgtune.profile.source import PositionIndex


def errors_of(path: Path) -> list[str]:
    with pytest.raises(PgtuneError) as info:
        load_profile(path)
    return info.value.lines()


def test_values_keep_the_text_the_user_wrote(write_profile: Callable[..., Path]) -> None:
    path = write_profile("""
        name: typing
        settings:
          jit: off
          enable_seqscan: yes
          random_page_cost: 1.10
          log_file_mode: 0600
          statement_timeout: null
          lock_timeout: ~
          work_mem: '64MB'
          shared_preload_libraries: [pg_stat_statements, auto_explain]
    """)
    settings = load_profile(path).profile.settings
    assert settings == {
        "jit": "off",
        "enable_seqscan": "yes",
        "random_page_cost": "1.10",
        "log_file_mode": "0600",
        "statement_timeout": None,
        "lock_timeout": None,
        "work_mem": "64MB",
        "shared_preload_libraries": ["pg_stat_statements", "auto_explain"],
    }


def test_yaml_1_1_booleans_stay_text(write_profile: Callable[..., Path]) -> None:
    path = write_profile("%YAML 1.1\n---\nname: old\nsettings:\n  jit: off\n  enable_seqscan: on\n")
    assert load_profile(path).profile.settings == {"jit": "off", "enable_seqscan": "on"}


def test_unknown_keys_point_at_the_key_and_suggest(write_profile: Callable[..., Path]) -> None:
    path = write_profile("""
        name: x
        setings:
          work_mem: 4MB
    """)
    assert errors_of(path) == [f"{path}:2:1: unknown key 'setings' in profile; did you mean 'settings'?"]


def test_all_schema_errors_are_reported_at_once_in_file_order(write_profile: Callable[..., Path]) -> None:
    path = write_profile("""
        name: Not Valid
        settings:
          "work_mem; DROP TABLE x": 1
          maintenance_work_mem: {nested: 1}
        roles:
          app: {settngs: {}}
    """)
    lines = errors_of(path)
    assert [line.split(": ", 1)[0].rsplit(":", 2)[1:] for line in lines] == [
        ["1", "7"],
        ["3", "3"],
        ["4", "25"],
        ["6", "9"],
    ]
    assert "lower-case letters" in lines[0]
    assert "invalid name 'work_mem; DROP TABLE x'" in lines[1]
    assert "a setting value must be a scalar" in lines[2]
    assert "did you mean 'settings'" in lines[3]


def test_invalid_yaml_is_a_positioned_error(write_profile: Callable[..., Path]) -> None:
    path = write_profile("name: x\nsettings:\n  work_mem: [4MB\n")
    [line] = errors_of(path)
    assert line.startswith(f"{path}:4:1: invalid YAML: while parsing a flow sequence")


def test_duplicate_keys_are_errors(write_profile: Callable[..., Path]) -> None:
    path = write_profile("name: x\nsettings:\n  work_mem: 4MB\n  work_mem: 8MB\n")
    [line] = errors_of(path)
    assert ":4:3: invalid YAML" in line and "duplicate key" in line


def test_missing_name_and_non_mapping(write_profile: Callable[..., Path]) -> None:
    assert "missing required key 'name'" in errors_of(write_profile("settings: {}\n"))[0]
    assert "a profile must be a mapping" in errors_of(write_profile("- a\n- b\n"))[0]


def test_extends_deep_merges_later_wins_and_lists_replace(write_profile: Callable[..., Path]) -> None:
    write_profile(
        """
        name: base
        settings:
          shared_buffers: 1GB
          work_mem: 4MB
          shared_preload_libraries: [a, b]
        databases:
          app: {settings: {work_mem: 8MB, statement_timeout: 5s}}
    """,
        "base.yaml",
    )
    write_profile(
        """
        name: mid
        extends: base.yaml
        settings:
          work_mem: 16MB
    """,
        "mid.yaml",
    )
    path = write_profile("""
        name: prod
        extends: [mid.yaml]
        settings:
          shared_preload_libraries: [c]
          statement_timeout: null
        databases:
          app: {settings: {work_mem: 32MB}}
    """)
    loaded = load_profile(path)
    p = loaded.profile
    assert p.name == "prod"
    assert p.settings == {
        "shared_buffers": "1GB",
        "work_mem": "16MB",
        "shared_preload_libraries": ["c"],
        "statement_timeout": None,
    }
    assert p.databases["app"].settings == {"work_mem": "32MB", "statement_timeout": "5s"}
    # Each value remembers the file that set it.
    assert str(loaded.location(("settings", "shared_buffers"))) == f"{path.parent}/base.yaml:3:19"
    assert str(loaded.location(("settings", "work_mem"))) == f"{path.parent}/mid.yaml:4:13"
    assert str(loaded.location(("settings", "shared_preload_libraries"))) == f"{path}:4:29"
    assert (
        str(loaded.location(("databases", "app", "settings", "statement_timeout"))) == f"{path.parent}/base.yaml:7:54"
    )


def test_errors_in_a_base_file_point_into_that_file(write_profile: Callable[..., Path]) -> None:
    write_profile("name: base\nsettings:\n  work_mem: {x: 1}\n", "base.yaml")
    path = write_profile("name: prod\nextends: base.yaml\n")
    [line] = errors_of(path)
    assert "base.yaml:3:13:" in line


def test_extends_cycles_and_missing_files(write_profile: Callable[..., Path]) -> None:
    write_profile("name: a\nextends: b.yaml\n", "a.yaml")
    path = write_profile("name: b\nextends: a.yaml\n", "b.yaml")
    [line] = errors_of(path)
    assert line.endswith("a.yaml:2:10: extends cycle: b.yaml -> a.yaml -> b.yaml")
    [line] = errors_of(write_profile("name: c\nextends: [nope.yaml]\n", "c.yaml"))
    assert "c.yaml:2:11: extends: no such file 'nope.yaml'" in line


def test_a_missing_profile_file() -> None:
    with pytest.raises(ProfileError, match="no such file"):
        load_profile(Path("/nonexistent/profile.yaml"))


def test_index_entries_report_errors_at_the_entry(write_profile: Callable[..., Path]) -> None:
    path = write_profile(
        """
        name: idx
        tables:
          a.b:
            indexes:
              i: {colums: [a]}
              j: absnt
              k: {columns: [a], unique: maybe}
              l: [a]
              m: {columns: []}
        """
    )
    with pytest.raises(PgtuneError) as excinfo:
        load_profile(path)
    lines = [line.split(".yaml:", 1)[1] for line in excinfo.value.lines()]
    assert lines == [
        "5:7: missing required key 'columns'",
        "5:11: unknown key 'colums' in tables.a.b.indexes.i; did you mean 'columns'?",
        "6:10: tables.a.b.indexes.j: an index is a mapping (columns: [...]) or the word absent",
        "7:33: tables.a.b.indexes.k.unique: Input should be a valid boolean, unable to interpret input",
        "8:10: tables.a.b.indexes.l: an index is a mapping (columns: [...], where: ..., include: [...]) "
        "or the word absent",
        "9:20: tables.a.b.indexes.m.columns: List should have at least 1 item after validation, not 0",
    ]


def _reference_overlay(self: PositionIndex, other: PositionIndex, data: object, prefix: tuple = ()) -> None:
    """The straightforward (quadratic) definition the fast overlay must agree with."""
    for key in (prefix, (*prefix, "__value__")) if prefix else ():
        if key in other.entries:
            self.entries[key] = other.entries[key]
    if isinstance(data, dict):
        for key, value in data.items():
            _reference_overlay(self, other, value, (*prefix, key))
    else:
        for p in [p for p in self.entries if len(p) > len(prefix) and p[: len(prefix)] == prefix]:
            del self.entries[p]
        for p, loc in other.entries.items():
            if len(p) > len(prefix) and p[: len(prefix)] == prefix:
                self.entries[p] = loc


_keys = st.sampled_from(["a", "b", "c"])
_trees = st.recursive(
    st.one_of(st.none(), st.text(max_size=2), st.lists(st.text(max_size=1), max_size=2)),
    lambda children: st.dictionaries(_keys, children, max_size=3),
    max_leaves=8,
)


def _index_of(data: object, name: str) -> PositionIndex:
    index = PositionIndex()

    def walk(node: object, path: tuple) -> None:
        if path:
            index.entries[path] = Location(name, len(path), 1)
            index.entries[(*path, "__value__")] = Location(name, len(path), 2)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i in range(len(node)):
                index.entries[(*path, i)] = Location(name, len(path) + 1, 3)

    walk(data, ())
    return index


@given(st.dictionaries(_keys, _trees, max_size=3), st.dictionaries(_keys, _trees, max_size=3))
def test_fast_overlay_agrees_with_the_reference(base: dict, overlay: dict) -> None:
    fast, slow = _index_of(base, "base"), _index_of(base, "base")
    other = _index_of(overlay, "over")
    fast.overlay(other, overlay)
    _reference_overlay(slow, other, overlay)
    assert fast.entries == slow.entries


def test_extends_with_control_characters_is_a_clean_error(write_profile: Callable[..., Path]) -> None:
    """Found by the hostile-profile fuzz test: a NUL in a file name crashed path resolution."""
    path = write_profile('name: x\nextends: "a\\x00b"\n')
    with pytest.raises(ProfileError, match=r"extends: .a\\x00b. is not a file name"):
        load_profile(path)


def test_a_key_spelled_like_a_union_tag_is_reported_not_crashed(write_profile: Callable[..., Path]) -> None:
    """Found by the fuzz test: a top-level key `<index>` vanished with pydantic's union tags."""
    path = write_profile("name: []\n<index>: {}\n")
    with pytest.raises(PgtuneError) as excinfo:
        load_profile(path)
    assert f"{path}:2:1: unknown key '<index>' in profile" in excinfo.value.lines()
