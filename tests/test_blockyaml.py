"""The fast profile reader (`profile.blockyaml`) against the full one (`source._load`, ruamel's
C parser): whatever text the fast one accepts, it must read exactly as the full one does, or an
edited pull request could mean one thing to a reviewer's tools and another to pgtune. The texts
are generated to sit on YAML's edges (indicators, quotes, comments, indentation, null words,
flow collections over lines) and then mutated a character at a time."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pgtune.base.errors import ProfileError
from pgtune.profile import blockyaml
from pgtune.profile.source import _load, read_document
from tests.conftest import budget

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import plan_scale  # noqa: E402


def full(text: str) -> Any:
    return _load(text, "p.yaml", None)


def exact(data: Any) -> str:
    """Data with its types and key order: `==` would take 1 for True and ignore order."""
    return json.dumps(data, separators=(",", ":"))


def agrees(text: str) -> bool:
    """True if the fast reader took the text (and then it read it as the full one does)."""
    fast = blockyaml.load(text)
    if fast is blockyaml.UNSUPPORTED:
        return False
    try:
        expected = full(text)
    except ProfileError as exc:
        raise AssertionError(f"the fast reader took text the full one refuses ({exc}):\n{text}") from None
    assert exact(fast) == exact(expected), text
    return True


# -- generated documents ------------------------------------------------------------------------

EDGY = [*list("ab c:#-'\"[]{},&*!|>%@`~?\\.\t1é\n"), "\u2028", "\x85", "\ufeff", ": ", " #", "''", "-- ", "\r"]
WORDS = ["null", "~", "Null", "NULL", "", "<<", "yes", "on", "010", "1e3", "-1", "a b", "x: y", "a #b", "a#b", "it's"]

TAME = [*list("abc 1._()>=/'"), "it's", "x-y", "-1", "0.5", "null", "~", "'q'", "a #b", "a#b"]
scalar_text = st.one_of(st.sampled_from(WORDS), st.lists(st.sampled_from(EDGY), max_size=6).map("".join))
tame_text = st.lists(st.sampled_from(TAME), min_size=1, max_size=4).map("".join)


@st.composite
def scalar(draw: st.DrawFn, tame: bool) -> str:
    text = draw(tame_text if tame else scalar_text)
    style = draw(st.sampled_from(["plain", "plain", "single", "double"]))
    if style == "single":
        return "'" + text.replace("'", "''") + "'"
    if style == "double":
        return '"' + text + '"'
    return text


def flow_node(draw: st.DrawFn, depth: int, tame: bool) -> str:
    kind = draw(st.sampled_from(["scalar", "scalar", "list", "map"] if depth < 3 else ["scalar"]))
    if kind == "scalar":
        return draw(scalar(tame))
    sep = draw(st.sampled_from([", ", ",", " , ", ",\n      ", ", "]))
    count = draw(st.integers(0, 3))
    if kind == "list":
        return "[" + sep.join(flow_node(draw, depth + 1, tame) for _ in range(count)) + "]"
    colon = draw(st.sampled_from([": ", ":", " : ", ":\n  "]))
    items = [draw(scalar(tame)) + colon + flow_node(draw, depth + 1, tame) for _ in range(count)]
    return "{" + sep.join(items) + "}"


@st.composite
def document(draw: st.DrawFn, tame: bool = False) -> str:
    """YAML-like text; `tame` keeps to what profiles are written in (most of it is then taken
    by the fast reader, so its accepted paths are the ones compared)."""
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["---", "--- # c", "# comment", ""] if tame else ["%YAML 1.1\n---", "..."])))

    def block(indent: int, depth: int, entries: int) -> None:
        for _ in range(entries):
            pad = " " * indent
            item = depth > 0 and draw(st.integers(0, 4)) == 0
            lead = pad + ("- " if item else "")
            key = draw(scalar(tame))
            value_kind = draw(st.sampled_from(["scalar", "scalar", "flow", "nested", "nested", "empty", "comment"]))
            trailer = draw(st.sampled_from(["", "", " # note", "  #x", "   "] + ([] if tame else ["#y"])))
            if value_kind == "nested" and depth < 3:
                lines.append(f"{lead}{key}:{trailer}")
                step = draw(st.sampled_from([2, 2, 4, 1] + ([] if tame else [0])))
                if draw(st.booleans()):
                    for _ in range(draw(st.integers(1, 3))):
                        extra = draw(st.sampled_from(["", "", " # c", "\n" + pad + "  # c"]))
                        lines.append(f"{pad}{' ' * step}- {flow_node(draw, 2, tame)}{extra}")
                else:
                    block(indent + step + (2 if item else 0), depth + 1, draw(st.integers(1, 3)))
            elif value_kind == "flow":
                lines.append(f"{lead}{key}: {flow_node(draw, 0, tame)}{trailer}")
            elif value_kind == "empty":
                lines.append(f"{lead}{key}:{trailer}")
            elif value_kind == "comment":
                lines.append(f"{pad}# {draw(scalar_text)}")
            else:
                lines.append(f"{lead}{key}: {draw(scalar(tame))}{trailer}")
            if not tame and draw(st.integers(0, 9)) == 0:
                lines.append(draw(st.sampled_from(["", "   ", "...", "---", "\t", pad + "  more words"])))

    block(0, 0, draw(st.integers(1, 5)))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(document(tame=draw(st.booleans())))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        change = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(EDGY))
        if change == "insert":
            text = text[:at] + char + text[at:]
        elif change == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + char + text[at + 1 :]
    return text


SETTINGS = settings(
    max_examples=int(os.environ.get("PGTUNE_YAML_EXAMPLES", str(budget(800)))),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@SETTINGS
@given(document())
@example("a: [x,\n  y]\n")
@example("a: {k: v,\n   k2: [1, 2]}  # c\n")
@example("a:\n- x\n- y\nb: c\n")
@example("a:\n  - k: v\n    k2: w\n  - z\n")
@example("a: 'it''s'\nb: \"q\"\nc: ''\nd: ~\ne:\n")
def test_generated_documents_read_alike(text: str) -> None:
    agrees(text)


@SETTINGS
@given(document(tame=True))
def test_tame_documents_read_alike(text: str) -> None:
    agrees(text)


@SETTINGS
@given(mutated())
def test_mutated_documents_read_alike(text: str) -> None:
    agrees(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: b\na: c\n",  # duplicate key
        "a: &x b\nc: *x\n",  # anchors and aliases
        "<<: {a: b}\n",  # merge key
        "a: |\n  text\n",  # block scalar
        "a: one\n  two\n",  # multi-line plain scalar
        "a: 'one\n  two'\n",  # multi-line quoted scalar
        'a: "tab\\t"\n',  # escapes
        "a: !!str 1\n",  # tags
        "a:\tb\n",  # tabs
        "a: [x, y\n",  # unclosed flow
        "a: {x: 1, x: 2}\n",  # duplicate key in a flow mapping
        "a: b: c\n",  # an error
        "- a\n",  # not a mapping
        "~: a\n",  # a null key
        "a: b\n---\nc: d\n",  # two documents
        "",  # empty
    ],
)
def test_what_the_fast_reader_leaves_to_the_full_one(text: str) -> None:
    assert blockyaml.load(text) is blockyaml.UNSUPPORTED


def corpus() -> list[Path]:
    files = [*sorted((ROOT / "profiles").glob("*.yaml")), *sorted((ROOT / "examples").rglob("*.yaml"))]
    return [f for f in files if "monitoring" not in f.parts and ".github" not in f.parts]


@pytest.mark.parametrize("path", corpus(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_profiles_take_the_fast_path(path: Path) -> None:
    """The fast reader is used for the profiles people write (else its speed is never seen)."""
    assert agrees(path.read_text()), f"{path}: read by the full parser"


@pytest.mark.parametrize("shapes", ["shared", "distinct"])
def test_the_benchmark_profiles_take_the_fast_path(shapes: str) -> None:
    assert agrees(plan_scale.profile_text(300, shapes))


def test_flow_repeats_are_separate_objects(tmp_path: Path) -> None:
    """A repeated flow collection is decoded afresh: changing one (an override) changes only it."""
    path = tmp_path / "p.yaml"
    path.write_text("a: {columns: [x]}\nb: {columns: [x]}\n")
    data = read_document(path, "p.yaml").data
    data["a"]["columns"].append("y")
    assert data["b"] == {"columns": ["x"]}


def test_positions_still_come_from_the_full_parser(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\ntables:\n  t:\n    indexes:\n      ix: {columns: [a]}\n")
    doc = read_document(path, "p.yaml")
    assert doc.data == {"name": "x", "tables": {"t": {"indexes": {"ix": {"columns": ["a"]}}}}}
    assert str(doc.index.find(("tables", "t", "indexes", "ix"))) == "p.yaml:5:7"


def test_deep_documents_are_the_full_parsers() -> None:
    """MAX_DEPTH counts block and flow levels alike, as the full parser does."""
    deep = "".join(f"{' ' * 2 * i}k{i}:\n" for i in range(60)) + " " * 120 + "x: [[[[[[[1]]]]]]]\n"
    assert blockyaml.load(deep) is blockyaml.UNSUPPORTED
    with pytest.raises(ProfileError, match="nested deeper"):
        full(deep)
