"""Profile composition: ${VAR} interpolation, --set overrides, `pgtune render`, `pgtune schema`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from pgtune.base.errors import ProfileError, ProfileErrors
from pgtune.profile.compose import _expand
from pgtune.profile.loader import load_profile
from tests.conftest import REPO, CliResult

Cli = Callable[..., CliResult]


def test_interpolation_grammar() -> None:
    env = {"A": "x", "EMPTY": ""}
    assert _expand("${A}", env, None) == "x"
    assert _expand("pre-${A}-post", env, None) == "pre-x-post"
    assert _expand("${MISSING:-d}", env, None) == "d"
    assert _expand("${EMPTY:-d}", env, None) == "d"  # :- also replaces empty
    assert _expand("${EMPTY-d}", env, None) == ""  # - only replaces unset
    assert _expand("${MISSING-d}", env, None) == "d"
    assert _expand("$$A costs $5", env, None) == "$A costs $5"
    with pytest.raises(ProfileError, match="environment variable MISSING is not set"):
        _expand("${MISSING}", env, None)
    with pytest.raises(ProfileError, match=r"\$\{MISSING\} is required: set the DSN"):
        _expand("${MISSING:?set the DSN}", env, None)
    with pytest.raises(ProfileError, match="invalid interpolation"):
        _expand("${1BAD}", env, None)


@given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=40))
def test_text_without_dollars_is_untouched(text: str) -> None:
    assert _expand(text, {}, None) == text


def test_interpolation_happens_per_file_before_merging_with_positions(write_profile: Callable[..., Path]) -> None:
    write_profile(
        """
        name: base
        settings:
          work_mem: ${BASE_WORK_MEM:-4MB}
          shared_buffers: ${SHARED_BUFFERS}
        """,
        name="base.yaml",
    )
    prod = write_profile(
        """
        name: prod
        extends: [base.yaml]
        settings:
          random_page_cost: ${RPC:-1.1}
        """,
        name="prod.yaml",
    )
    loaded = load_profile(prod, env={"SHARED_BUFFERS": "4GB"})
    assert loaded.profile.settings == {"work_mem": "4MB", "shared_buffers": "4GB", "random_page_cost": "1.1"}
    with pytest.raises(ProfileError) as excinfo:
        load_profile(prod, env={})
    assert str(excinfo.value) == (
        f"{prod.parent / 'base.yaml'}:4:19: environment variable SHARED_BUFFERS is not set "
        "(write ${SHARED_BUFFERS:-default} for a default)"
    )


def test_set_overrides_beat_every_file_and_match_dotted_keys(write_profile: Callable[..., Path]) -> None:
    path = write_profile(
        """
        name: prod
        settings: {work_mem: 4MB}
        tables:
          letta.messages:
            storage: {fillfactor: 90}
        """
    )
    loaded = load_profile(
        path,
        [
            "settings.work_mem=64MB",
            "settings.shared_preload_libraries=[pg_stat_statements, auto_explain]",
            "tables.letta.messages.storage.fillfactor=80",
            "settings.jit=null",
        ],
    )
    assert loaded.profile.settings == {
        "work_mem": "64MB",
        "shared_preload_libraries": ["pg_stat_statements", "auto_explain"],
        "jit": None,
    }
    assert loaded.profile.tables["letta.messages"].storage == {"fillfactor": "80"}
    with pytest.raises(ProfileError, match=r"^--set\[1\]:1:1: --set 'settings': expected PATH=VALUE"):
        load_profile(path, ["settings"])
    with pytest.raises(ProfileErrors) as excinfo:
        load_profile(path, ["tables.letta.messages.indexes.ix.colums=[a]"])
    assert sorted(excinfo.value.lines()) == [
        "--set[1]:1:1: missing required key 'columns'",
        "--set[1]:1:1: unknown key 'colums' in tables.letta.messages.indexes.ix; did you mean 'columns'?",
    ]
    with pytest.raises(ProfileError, match=r"^--set\[2\]:1:14: settings.jit: a setting value must be"):
        load_profile(path, ["settings.work_mem=1MB", "settings.jit={a: b}"])


def test_render_prints_the_resolved_profile_with_passwords_masked(cli: Cli, write_profile: Callable[..., Path]) -> None:
    write_profile("name: base\nsettings: {work_mem: 4MB, jit: off}\n", name="base.yaml")
    path = write_profile(
        """
        # comments are not part of the resolved profile
        name: prod
        extends: base.yaml
        settings: {random_page_cost: 1.1}
        pool:
          pgbouncer:
            admin_dsn: postgresql://pgbouncer:${PGB_PASSWORD}@127.0.0.1:6432/pgbouncer
        """
    )
    result = cli("render", str(path), "--set", "settings.work_mem=64MB", env={"PGB_PASSWORD": "hunter2-Secr3t"})
    assert result.code == 0, result.stderr
    assert "hunter2-Secr3t" not in result.stdout + result.stderr
    doc = YAML(typ="safe").load(result.stdout)
    assert doc == {
        "name": "prod",
        "settings": {"work_mem": "64MB", "jit": "off", "random_page_cost": "1.1"},
        "pool": {"pgbouncer": {"admin_dsn": "postgresql://pgbouncer:****@127.0.0.1:6432/pgbouncer"}},
    }
    missing = cli("render", str(path))
    assert missing.code == 1 and "environment variable PGB_PASSWORD is not set" in missing.stderr


def test_schema_is_shipped_current_and_validates_every_profile(cli: Cli) -> None:
    printed = cli("schema")
    assert printed.code == 0
    shipped = REPO / "schema" / "pgtune-profile.schema.json"
    assert printed.stdout == shipped.read_text(), "run: pgtune schema > schema/pgtune-profile.schema.json"
    schema = json.loads(printed.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    profiles = sorted((REPO / "profiles").glob("*.yaml"))
    assert profiles
    for path in profiles:
        text = path.read_text()
        assert text.startswith("# yaml-language-server: $schema=../schema/pgtune-profile.schema.json\n"), path
        errors = list(validator.iter_errors(YAML(typ="safe").load(text)))
        assert not errors, (path, [e.message for e in errors])
        assert cli("validate", str(path)).code == 0


def test_schema_rejects_what_pgtune_rejects(cli: Cli) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(cli("schema").stdout))
    assert list(validator.iter_errors({"name": "x", "settingz": {}}))
    assert list(validator.iter_errors({"name": "Bad Name"}))
    assert not list(validator.iter_errors({"name": "x", "settings": {"random_page_cost": 1.1, "jit": False}}))
    assert not list(validator.iter_errors({"name": "x", "pool": {"application": {"pool_timeout": "30s"}}}))
