"""Catalog content made safe to print: no name, value or message can forge a line of a plan.

A table may be called "t\\n  + setting fsync: on -> off" or "x | `y` <!--": printed raw, such a name
would add a line a reviewer takes for pgtune's, break a Markdown table, or hide the rest of a
pull-request comment. The renderers pass every line they compose through `line` (text) and every
name or message through `md_code` / `md_text` (Markdown). JSON is never escaped: it stays exact.

Escapes are visible and unambiguous enough for a reader: `\\x0a` for a newline, `\\u202e` for a
bidirectional override (the "Trojan Source" characters), each standing for one character.
"""

from __future__ import annotations

import re

_INVISIBLE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029"  # control characters but the tab, line and paragraph separators
    # format characters (category Cf): soft hyphen, bidirectional controls, zero-width characters, tags
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)
"""Every character that breaks a line or makes text read otherwise than it is (categories Cc, Cf,
Zl, Zp, but the tab, which libpq's messages use; tests/test_escape.py holds the list to the running
Python's Unicode database)."""


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def line(text: str) -> str:
    """One printed line: every character that would break it or hide part of it, escaped."""
    return _INVISIBLE.sub(_visible, text)


def lines(items: list[str]) -> str:
    """Lines composed by a renderer (each one logical line), joined: a line break only where pgtune puts one."""
    return "\n".join(line(item) for item in items) + "\n"


_MD_META = re.compile(r"([\\`<>\[\]|])")
"""What lets text leave its place: code spans (`), HTML and comments (< >), links ([ ]), table cells
(|), and the escape itself. Emphasis (* _) cannot, and names are full of underscores."""


def md_text(text: str) -> str:
    """Free text (a message naming objects) in Markdown: control characters escaped, Markdown and
    HTML metacharacters backslash-escaped, so a name can open no link, comment, code span or cell."""
    return _MD_META.sub(r"\\\1", line(text))


def md_code(text: str) -> str:
    """A name or value as an inline code span that holds whatever it contains: a fence longer than
    any run of backticks inside it, `|` escaped for tables (GitHub reads `\\|` inside spans too)."""
    if not text:
        return "` `"
    text = line(text).replace("|", "\\|")
    fence = "`" * (_longest_backticks(text) + 1)
    edges = text[:1] in ("`", " ") or text[-1:] in ("`", " ")
    pad = " " if edges and text.strip(" ") else ""  # one space each side is stripped, unless all are spaces
    return f"{fence}{pad}{text}{pad}{fence}"


def md_fence(block: list[str]) -> str:
    """A code fence no line of the block can close: longer than any run of backticks in it."""
    return "`" * max(3, _longest_backticks(*block) + 1)


def _longest_backticks(*texts: str) -> int:
    return max((len(run) for text in texts for run in re.findall(r"`+", text)), default=0)
