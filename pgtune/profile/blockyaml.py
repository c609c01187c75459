"""The YAML profiles are written in, read line by line: the fast path of `source.read_document`.

A profile of 10,000 tables is 100,000 YAML nodes, and any event-based reader pays for an object
per event (ruamel's C parser builds Python `Event`s): most of a large plan's load time. Profiles
are written in a small subset of YAML — block mappings and sequences, one-line flow collections,
plain and one-line quoted scalars, comments — and that subset can be read with a few string
operations per line.

This reader accepts only text it is certain to read exactly as `events.Composer` reads it (the
same data: strings as written, YAML's null words as None, no other tag resolution). On anything
else — an anchor, a tag, a block or multi-line scalar, an escape, a tab, a duplicate or merge key,
an unexpected indentation, any syntax error — it returns `UNSUPPORTED` and the full parser reads
the document (and reports its errors, with their positions, as before). It never records
positions: those come from the full parser's second pass, made only when an error needs them.
tests/test_blockyaml.py holds the two readers to the same answer on generated documents.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any, Final

UNSUPPORTED: Final = object()
"""Returned for text this reader does not take: the full parser reads it."""

MAX_KEY = 1000  # YAML's implicit keys end at 1024 characters; longer ones are the full parser's
MAX_FLOW_LINES = 50  # lines one flow collection may span here
MAX_FLOW_TOKENS = 10_000
MAX_DEPTH = 64  # events.MAX_DEPTH: deeper documents go to the full parser, which reports them


class _Unsupported(Exception):
    """Raised deep in the reader, caught once in `load`."""


_NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})

_AVOID_ASCII = re.compile("[^\n\x20-\x7e]")  # `_avoid` for a text all in ASCII (most profiles)


@cache
def _avoid() -> re.Pattern[str]:
    """Characters the fast path will not look at: tabs, carriage returns, YAML's other line breaks,
    a byte-order mark, escapes' territory and whatever the YAML reader calls non-printable.
    (Compiling this class costs ~10 ms: only for a text beyond ASCII.)"""
    return re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")


# A block mapping's key: plain (no indicator first; none of :#,[]{} inside) or quoted, then `:`
# followed by a space or the end of the line.
_PLAIN_KEY = re.compile(r"([^\s\-?:,\[\]{}#&*!|>'\"%@`][^:#,\[\]{}]*?) *:(?: +|$)")
_SINGLE = re.compile(r"'((?:[^'\n]|'')*)'")
_DOUBLE = re.compile(r'"([^"\\\n]*)"')
_QUOTED_KEY_END = re.compile(r" *:(?: +|$)")
# A plain scalar in a block: no indicator first (`-` followed by a non-space is allowed).
_BLOCK_PLAIN_START = re.compile(r"[^\s\-?:,\[\]{}#&*!|>'\"%@`]|-[^\s:?#,\[\]{}]")
# A plain scalar inside a flow collection: none of :?#,[]{} anywhere.
_TRAILER = re.compile(r" *(?: #.*)?$")  # what may follow a value on its line


def load(text: str) -> Any:
    """The document's data, or `UNSUPPORTED`."""
    if (_AVOID_ASCII if text.isascii() else _avoid()).search(text):
        return UNSUPPORTED
    try:
        return _Reader(text).document()
    except (_Unsupported, RecursionError, IndexError):
        return UNSUPPORTED


class _Reader:
    def __init__(self, text: str) -> None:
        indents: list[int] = []
        contents: list[str] = []
        for line in text.split("\n"):
            body = line.lstrip(" ")
            if not body or body[0] == "#":
                continue  # blank or comment-only: YAML ignores them wherever they are
            indents.append(len(line) - len(body))
            contents.append(body)
        self.indents = indents
        self.contents = contents
        self.flows: dict[str, tuple[str, int]] = {}  # flow collection text -> its JSON, its depth (see _flow)
        self.n = len(contents)
        self.depth = 0

    def document(self) -> Any:
        contents, indents = self.contents, self.indents
        start = 0
        if self.n and indents[0] == 0 and contents[0].startswith("---"):
            if _TRAILER.fullmatch(contents[0], 3) is None:
                raise _Unsupported  # `--- value` or `---x`
            start = 1
        if start >= self.n:
            raise _Unsupported  # an empty document: rare, and the full parser's to read
        for i in range(start, self.n):
            if indents[i] == 0 and contents[i][:3] in ("---", "..."):
                raise _Unsupported  # another document, or a document end
        if indents[start] != 0 or self._is_item(start):
            raise _Unsupported  # a profile is a mapping at the left margin
        data, end = self.mapping(start, 0)
        if end != self.n:
            raise _Unsupported
        return data

    def _is_item(self, i: int) -> bool:
        body = self.contents[i]
        return body[0] == "-" and (len(body) == 1 or body[1] == " ")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Unsupported

    def mapping(self, i: int, indent: int) -> tuple[dict[str, Any], int]:
        """A block mapping whose keys start at column `indent`, from content line i."""
        self.enter()
        out: dict[str, Any] = {}
        contents, indents, n, flows = self.contents, self.indents, self.n, self.flows
        while i < n and indents[i] == indent:
            body = contents[i]
            if body[0] == "-" and (len(body) == 1 or body[1] == " "):
                raise _Unsupported  # an item where a key belongs
            key, rest = _key(body)
            if key in out or key == "<<":
                raise _Unsupported  # duplicate and merge keys: the full parser's
            i += 1
            # A flow collection read before (`{columns: [created_at]}` on table after table) is decoded
            # here at once: the same as `value` gives, without its two calls on a fleet's every line.
            known = flows.get(rest) if rest[:1] in ("[", "{") else None
            if known is not None and known[1] <= MAX_DEPTH - self.depth:
                value = _FRESH.raw_decode(known[0])[0]
            else:
                value, i = self.value(rest, i, indent)
            if value is _NOTHING:  # `key:` with its value on the lines below, or none
                if i < n and indents[i] > indent:
                    value, i = self.block(i, indents[i])
                elif i < n and indents[i] == indent and self._is_item(i):
                    value, i = self.sequence(i, indent)
                else:
                    value = None
            elif i < n and indents[i] > indent:
                raise _Unsupported  # a multi-line scalar, or an error
            out[key] = value
        if i < n and indents[i] > indent:
            raise _Unsupported
        self.depth -= 1
        return out, i

    def sequence(self, i: int, indent: int) -> tuple[list[Any], int]:
        """A block sequence whose dashes are at column `indent`."""
        self.enter()
        out: list[Any] = []
        contents, indents, n = self.contents, self.indents, self.n
        while i < n and indents[i] == indent and self._is_item(i):
            body = contents[i]
            rest = body[2:]
            inner = rest.lstrip(" ")
            if not inner or inner[0] == "#" or inner[0] == "-":
                raise _Unsupported  # `-` alone, a nested sequence on the dash's line
            column = indent + 2 + len(rest) - len(inner)
            if _PLAIN_KEY.match(inner) or (inner[0] in "'\"" and _quoted_key(inner) is not None):
                # `- key: value`: a mapping whose keys start where this one does
                contents[i], indents[i] = inner, column
                value, i = self.mapping(i, column)
            else:
                value, i = self.value(inner, i + 1, indent)
                if i < n and indents[i] > indent:
                    raise _Unsupported
            out.append(value)
        if i < n and indents[i] > indent:
            raise _Unsupported
        self.depth -= 1
        return out, i

    def value(self, rest: str, i: int, indent: int) -> tuple[Any, int]:
        """The value on a line; a flow collection may go on over the next lines (`i` on), which
        are joined with their line breaks: a break is whitespace between flow tokens, and no
        token regex here matches one, so a scalar broken over lines goes to the full parser."""
        if rest[:1] not in ("[", "{"):
            return _inline(rest), i
        contents, indents = self.contents, self.indents
        for _ in range(MAX_FLOW_LINES):
            try:
                return _flow(rest, self.flows, MAX_DEPTH - self.depth), i
            except _Unclosed:  # not closed on this line
                if i >= self.n or indents[i] <= indent:
                    raise _Unsupported from None
                rest = rest + "\n" + contents[i]
                i += 1
        raise _Unsupported

    def block(self, i: int, indent: int) -> tuple[Any, int]:
        if self._is_item(i):
            return self.sequence(i, indent)
        return self.mapping(i, indent)


_NOTHING = object()  # nothing after `key:` on its line


def _key(body: str) -> tuple[str, str]:
    """A mapping line's key, and what follows `key:`."""
    if body[0] in "'\"":
        found = _quoted_key(body)
        if found is None:
            raise _Unsupported
        return found
    m = _PLAIN_KEY.match(body)
    if m is None:
        raise _Unsupported
    key = m.group(1)
    if key in _NULL_WORDS or len(key) > MAX_KEY:
        raise _Unsupported  # a null key (an error the full parser words), or a key YAML finds too long
    return key, body[m.end() :]


def _quoted_key(body: str) -> tuple[str, str] | None:
    value, end = _quoted(body, 0)
    m = _QUOTED_KEY_END.match(body, end)
    if m is None:
        return None
    return value, body[m.end() :]


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """A one-line quoted scalar at `pos` (no escapes in double quotes)."""
    if text[pos] == "'":
        m = _SINGLE.match(text, pos)
        if m is None:
            raise _Unsupported
        return m.group(1).replace("''", "'"), m.end()
    m = _DOUBLE.match(text, pos)
    if m is None:
        raise _Unsupported
    return m.group(1), m.end()


def _inline(rest: str) -> Any:
    """The value on a key's or an item's line (`_NOTHING` when there is none)."""
    if not rest or rest[0] == "#":
        return _NOTHING
    first = rest[0]
    if first == "'" or first == '"':
        value, end = _quoted(rest, 0)
        if _TRAILER.match(rest, end) is None:
            raise _Unsupported
        return value
    if not _BLOCK_PLAIN_START.match(rest):
        raise _Unsupported
    cut = rest.find(" #")
    text = (rest if cut < 0 else rest[:cut]).rstrip(" ")
    if ": " in text or text.endswith(":"):
        raise _Unsupported  # a mapping where a scalar belongs: an error
    return None if text in _NULL_WORDS else text


# One token of a flow collection, after optional whitespace: an indicator, `: `, a quoted
# scalar, a plain scalar (none of :?#,[]{} in it). Capturing: indicator, colon, single, double, plain.
_PLAIN_FLOW = r"""(?:[^\s\-?:,\[\]{}#&*!|>'"%@`]|-[^\s:?#,\[\]{}])[^:?#,\[\]{}\n]*"""
_FLOW_TOKEN = re.compile(
    r"""[ \n]*(?:([\[\]{},])|(:)(?=[ \n])|'((?:[^'\n]|'')*)'|"([^"\\\n]*)"|(""" + _PLAIN_FLOW + "))"
)
# The same tokens, atomic and possessively repeated, then a comment may end the text: it
# matches only if the tokens findall() yields from the start cover it, so the two never
# tokenize it differently. (Without capturing groups: 3.11's re fails on those in there.)
_FLOW_TEXT = re.compile(
    r"""((?>[ \n]*(?:[\[\]{},]|:(?=[ \n])|'(?:[^'\n]|'')*'|"[^"\\\n]*"|""" + _PLAIN_FLOW + r"""))*+)"""
    r"[ \n]*+(?:(?<=[ \n])#[^\n]*)?"
)


class _Unclosed(Exception):
    """A flow collection that goes on past the text so far."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs) or "<<" in out:
        raise _Unsupported  # duplicate and merge keys: the full parser's
    return out


_CHECKED = json.JSONDecoder(object_pairs_hook=_pairs)  # first reading: duplicate keys refused
_FRESH = json.JSONDecoder()  # a repeat of a text read before


def _json_scalar(text: str) -> str:
    if '"' in text or "\\" in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text + '"'


def _flow(text: str, seen: dict[str, tuple[str, int]], room: int) -> Any:
    """A flow collection (and what may follow it on its last line), read as the JSON it is
    once its scalars are quoted: the tokens are checked here, the structure by json.

    Profiles repeat their flow collections (`{columns: [created_at]}` on table after table):
    `seen` keeps the JSON of each text already read, and a repeat is decoded from it — fresh
    objects each time (an override may change one), at json's C speed. `room`: the levels of
    nesting left under MAX_DEPTH (brackets are counted: never fewer than the levels)."""
    known = seen.get(text)
    if known is not None:
        if known[1] > room:
            raise _Unsupported
        return _FRESH.raw_decode(known[0])[0]
    whole = _FLOW_TEXT.fullmatch(text)
    if whole is None:
        raise _Unsupported
    parts = []
    for sep, colon, single, double, plain in _FLOW_TOKEN.findall(whole.group(1)):
        if sep:
            parts.append(sep)
        elif colon:
            parts.append(":")
        elif plain:
            plain = plain.rstrip(" ")
            parts.append("null" if plain in _NULL_WORDS else _json_scalar(plain))
        else:  # a quoted scalar (possibly empty)
            parts.append(_json_scalar(single.replace("''", "'") if single else double))
    opens = parts.count("[") + parts.count("{")
    if len(parts) > MAX_FLOW_TOKENS or opens > room:
        raise _Unsupported
    source = "".join(parts)
    try:
        value, end = _CHECKED.raw_decode(source)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(source):
            raise _Unclosed from None
        raise _Unsupported from None
    if end != len(source):
        raise _Unsupported  # something after the collection
    seen[text] = (source, opens)
    return value
