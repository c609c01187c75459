"""Printed names cannot forge lines: properties of the escapes every text and Markdown renderer uses,
checked with a real CommonMark + GFM-table parser (markdown-it-py) rather than by eye."""

from __future__ import annotations

import sys
import unicodedata

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from pgtune.base.escape import _INVISIBLE, line, md_code, md_fence, md_text

HOSTILE = ["t\n  + setting fsync: on -> off", "x`y", "``", "a | b", "<!-- hide", "\u202eevil", "\r\x1b[2J", " pad "]
MD = MarkdownIt("commonmark").enable("table")


def _cell(text: str) -> list:
    tokens = MD.parse(f"| h | k |\n|---|---|\n| 1 | {text} |\n")
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == 2, text  # the header and exactly one body row
    inline = [t for t in tokens if t.type == "inline"]
    assert len(inline) == 4, text  # two cells a row: nothing split a cell
    return inline[-1].children or []


@given(st.text())
def test_an_escaped_line_is_one_line(text: str) -> None:
    shown = line(text)
    assert len(shown.splitlines()) <= 1
    assert not [c for c in shown if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c != "\t"]
    assert line(shown) == shown  # idempotent: renderers may escape twice


@given(st.text(min_size=1))
def test_a_code_span_holds_anything_in_a_table_cell(text: str) -> None:
    children = _cell(md_code(text))
    assert [c.type for c in children] == ["code_inline"]
    assert children[0].content == line(text)


@given(st.text())
def test_free_text_opens_no_html_link_or_code(text: str) -> None:
    children = _cell(md_text(text) or "x")
    emphasis = {"em_open", "em_close", "strong_open", "strong_close"}  # harmless: it moves nothing
    assert {c.type for c in children} <= {"text", "softbreak", *emphasis}, [c.type for c in children]


def test_the_hostile_names_read_as_themselves() -> None:
    for name in HOSTILE:
        assert _cell(md_code(name))[0].content == line(name)
    assert line("a\nb") == "a\\x0ab" and line("\u202e") == "\\u202e"


def test_no_line_of_a_block_closes_its_fence() -> None:
    block = ['CREATE INDEX "```" ON t (a);', "x"]
    fence = md_fence(block)
    tokens = MD.parse("\n".join([f"{fence}sql", *block, fence, "after"]))
    assert tokens[0].type == "fence" and tokens[0].content == "\n".join(block) + "\n"


def test_the_escaped_characters_are_every_control_and_format_character() -> None:
    wanted = {
        chr(code) for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) in ("Cc", "Cf", "Zl", "Zp")
    } - {"\t"}
    assert {c for c in wanted if not _INVISIBLE.match(c)} == set()
